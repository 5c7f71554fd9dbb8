//! Pure logic of `cutover`: no network, no terminal.
//!
//! - [`pgtype`] and [`value`]: PostgreSQL types as the catalog describes them, and the exact
//!   binary (`typsend`) encoding of their values, with casts to a target type and typmod.
//! - [`mapping`]: the TOML mapping spec, parsed strictly, and its compilation against both
//!   catalogs into a [`program::TableProgram`] that transforms Arrow batches.
//! - [`digest`] and [`merkle`]: hash_version 1 row digests, additive bucket leaves, Merkle roots.
//! - [`catalog`]: the catalog model both sides are described with.
pub mod batch;
pub mod catalog;
pub mod digest;
pub mod mapping;
pub mod merkle;
pub mod pgtype;
pub mod program;
pub mod report;
pub mod transform;
pub mod value;
