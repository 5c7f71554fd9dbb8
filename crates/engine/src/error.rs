//! The engine's error type. Its kind decides the exit code in the CLI.
use cutover_postgres::{PgError, PgErrorKind};

/// What kind of failure ended a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad arguments, mapping file or configuration: fix the input and re-run.
    Config,
    /// The database refused or lost the connection.
    Connection,
    /// A statement or a stage failed during the run.
    Runtime,
    /// The server said retrying may help: shutdown, terminated backend, serialization failure
    /// or deadlock (SQLSTATE classes 57P, 08, 40001, 40P01).
    Transient,
    /// The source's exported snapshot is gone (its exporting session ended: a server restart,
    /// a terminated backend): a reader can no longer join it.
    SnapshotLost,
    /// A unique index or constraint refused a key it would hold twice (SQLSTATE 23505).
    UniqueViolation,
    /// Stopped by Ctrl-C / SIGTERM.
    Interrupted,
    /// The run worked and stopped on a problem it was told to stop on (e.g. a delta-sync
    /// conflict under `--on-conflict fail`); nothing was changed.
    Found,
}

/// An engine failure with a message that says what failed and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct EngineError {
    pub kind: ErrorKind,
    pub message: String,
}

impl EngineError {
    /// True when retrying the failed unit of work may succeed (connection lost, backend
    /// terminated, server restarting, serialization failure, deadlock).
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, ErrorKind::Connection | ErrorKind::Transient)
    }

    pub fn config(message: impl Into<String>) -> Self {
        EngineError {
            kind: ErrorKind::Config,
            message: message.into(),
        }
    }

    pub fn runtime(message: impl Into<String>) -> Self {
        EngineError {
            kind: ErrorKind::Runtime,
            message: message.into(),
        }
    }

    pub fn found(message: impl Into<String>) -> Self {
        EngineError {
            kind: ErrorKind::Found,
            message: message.into(),
        }
    }

    pub fn interrupted() -> Self {
        EngineError {
            kind: ErrorKind::Interrupted,
            message: "interrupted".into(),
        }
    }

    /// Prefixes the message with more context.
    pub fn context(mut self, ctx: impl std::fmt::Display) -> Self {
        self.message = format!("{ctx}: {}", self.message);
        self
    }
}

impl From<PgError> for EngineError {
    fn from(e: PgError) -> Self {
        let kind = match e.kind {
            PgErrorKind::Config => ErrorKind::Config,
            PgErrorKind::Retryable
                if e.source.as_ref().is_some_and(|s| s.as_db_error().is_none()) =>
            {
                ErrorKind::Connection
            }
            PgErrorKind::Retryable => ErrorKind::Transient,
            _ if e.sqlstate() == Some("23505") => ErrorKind::UniqueViolation,
            _ => ErrorKind::Runtime,
        };
        EngineError {
            kind,
            message: e.to_string(),
        }
    }
}

/// Result alias of the engine.
pub type Result<T> = std::result::Result<T, EngineError>;
