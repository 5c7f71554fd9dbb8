//! What every session's bytes go through on their way to tokio-postgres, TLS or not: the socket
//! read in large pieces ([`ReadAhead`]) and the COPY rows' messages merged ([`MergeCopyData`]).
mod merge;
mod plain;
mod read_ahead;

pub use merge::MergeCopyData;
pub use plain::{connect_plain, ALREADY_TIMED_OUT};
pub use read_ahead::ReadAhead;
