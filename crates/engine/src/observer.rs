//! Progress reporting. The engine emits [`Event`]s; the CLI turns them into progress bars and
//! logs. Observers are called from several workers at once and must be cheap: the engine calls
//! them per batch, never per row.
use std::sync::Arc;

/// Something the engine reports while it works.
#[derive(Clone, Debug)]
pub enum Event {
    /// A new phase of the run begins (e.g. "building indexes").
    Phase(String),
    /// A table starts streaming; `estimated_rows` comes from the catalog (progress only).
    TableStarted { table: String, estimated_rows: u64 },
    /// More rows of a table went through (a delta since the last event).
    Rows { table: String, rows: u64 },
    /// A table finished streaming.
    TableFinished {
        table: String,
        rows: u64,
        rejected: u64,
    },
    /// Something the user should know that does not stop the run.
    Warning(String),
}

/// Receives progress events. Implementations must be thread-safe and non-blocking.
pub trait Observer: Send + Sync {
    fn event(&self, event: Event);
}

/// An observer that drops every event (for tests and `--quiet`).
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _event: Event) {}
}

/// Shared handle to an observer.
pub type SharedObserver = Arc<dyn Observer>;
