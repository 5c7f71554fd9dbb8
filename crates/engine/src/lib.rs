//! The pipelines of `cutover`: plan, migrate full (and the rollback/finalize of its swap),
//! reconcile, delta-sync, validate. The engine decides policy — what to load, in which order,
//! what to do with a bad row — and reports progress through an [`observer::Observer`]; it never
//! formats terminal output.
pub mod attributes;
pub mod checkpoint;
pub mod cleanup;
pub mod delta;
pub mod dependents;
mod drill;
pub mod error;
pub mod extract;
pub mod finalize;
pub mod load;
pub mod manifest;
pub mod migrate;
pub mod observer;
pub mod plan;
pub mod reconcile;
pub mod resolve;
pub mod rollback;
pub mod run_record;
pub mod settings;
pub mod stage;
pub mod swap;
pub mod validate;

pub use error::{EngineError, ErrorKind};
pub use observer::{Event, Observer};
pub use settings::Settings;
