//! Everything in `cutover` that speaks PostgreSQL: connections (with redacted URLs), catalog
//! queries, binary COPY decode into Arrow and encode from it, exported snapshots, and the state
//! schema kept in the target. Policy (what to load, when to fail) lives in the engine.
pub mod catalog;
pub mod conn;
mod conn_params;
pub mod copy_decode;
pub mod copy_encode;
pub mod copy_rows;
pub mod error;
pub mod integrity;
mod login;
pub mod password;
pub mod state;
pub mod tls;
mod wire;

pub use conn::{ConnInfo, Role};
pub use error::{PgError, PgErrorKind};
pub use login::close_all as close_connections;
