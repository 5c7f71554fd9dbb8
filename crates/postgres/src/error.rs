//! The postgres crate's one error type: what failed, on which side, and whether retrying can help.
use std::fmt;

/// Whether an error is worth retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgErrorKind {
    /// Connection lost, server shutting down, serialization failure, deadlock: retry may help
    /// (SQLSTATE classes 08, 57P, 40001, 40P01).
    Retryable,
    /// Bad configuration (URL, TLS, authentication, missing database): fix and re-run.
    Config,
    /// Anything else: the statement itself failed.
    Fatal,
}

/// An error from PostgreSQL or from talking to it, with context saying what was being done.
#[derive(Debug)]
pub struct PgError {
    pub kind: PgErrorKind,
    pub context: String,
    pub source: Option<tokio_postgres::Error>,
    pub detail: Option<String>,
}

impl PgError {
    /// Wraps a driver error with context; the kind is read off its SQLSTATE.
    pub fn db(context: impl Into<String>, err: tokio_postgres::Error) -> Self {
        let kind = classify(&err);
        PgError {
            kind,
            context: context.into(),
            source: Some(err),
            detail: None,
        }
    }

    /// A configuration error with no driver error behind it.
    pub fn config(context: impl Into<String>) -> Self {
        PgError {
            kind: PgErrorKind::Config,
            context: context.into(),
            source: None,
            detail: None,
        }
    }

    /// A fatal error with no driver error behind it.
    pub fn fatal(context: impl Into<String>) -> Self {
        PgError {
            kind: PgErrorKind::Fatal,
            context: context.into(),
            source: None,
            detail: None,
        }
    }

    /// The SQLSTATE code, when the server sent one.
    pub fn sqlstate(&self) -> Option<&str> {
        self.source
            .as_ref()
            .and_then(|e| e.code())
            .map(|c| c.code())
    }
}

/// Classifies a driver error by SQLSTATE: connection and shutdown classes and serialization
/// failures are retryable; authentication and missing objects are configuration errors.
pub fn classify(err: &tokio_postgres::Error) -> PgErrorKind {
    match err.code().map(|c| c.code()) {
        Some(code) if code.starts_with("08") || code.starts_with("57P") => PgErrorKind::Retryable,
        Some("40001") | Some("40P01") => PgErrorKind::Retryable,
        Some(code) if code.starts_with("28") || code == "3D000" => PgErrorKind::Config,
        Some(_) => PgErrorKind::Fatal,
        None if err.is_closed() => PgErrorKind::Retryable,
        None => PgErrorKind::Retryable,
    }
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.context)?;
        if let Some(src) = &self.source {
            match src.as_db_error() {
                Some(db) => {
                    write!(f, ": {} (SQLSTATE {})", db.message(), db.code().code())?;
                    if let Some(d) = db.detail() {
                        write!(f, "; {d}")?;
                    }
                }
                None => {
                    write!(f, ": {src}")?;
                    let mut cause = std::error::Error::source(src);
                    while let Some(c) = cause {
                        write!(f, ": {c}")?;
                        cause = c.source();
                    }
                }
            }
        }
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

impl std::error::Error for PgError {}

/// Result alias of the postgres crate.
pub type Result<T> = std::result::Result<T, PgError>;
