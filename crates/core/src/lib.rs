//! Pure logic of `cutover`: no network, no terminal.
//!
//! - [`pgtype`] and [`value`]: PostgreSQL types as the catalog describes them, and the exact
//!   binary (`typsend`) encoding of their values, with casts to a target type and typmod.
//! - [`mapping`]: the TOML mapping spec, parsed strictly, and its compilation against both
//!   catalogs into a [`program::TableProgram`] that transforms Arrow batches.
//! - [`digest`] and [`merkle`]: hash_version 1 row digests, additive bucket leaves, Merkle roots.
//! - [`catalog`]: the catalog model both sides are described with.
//! - [`rules`] and [`validation`]: column rules declared in the mapping (one definition, checked
//!   in SQL by `validate` and in Rust by `plan`), and the reports of `cutover validate`.
pub mod batch;
pub mod catalog;
pub mod digest;
pub mod mapping;
pub mod merkle;
pub mod pgtype;
pub mod program;
pub mod report;
pub mod rules;
pub mod transform;
pub mod validation;
pub mod value;
