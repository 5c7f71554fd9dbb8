//! What every command needs to know about where to work: both connections, the mapping file,
//! parallelism and the state schema. Built by the CLI from arguments and environment.
use std::path::PathBuf;

use cutover_postgres::ConnInfo;

/// Settings shared by the commands.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The legacy database; only ever read, in read-only transactions.
    pub source: ConnInfo,
    /// The new database.
    pub target: ConnInfo,
    /// The mapping file; `None` maps every table of `schema` to itself.
    pub mapping: Option<PathBuf>,
    /// Schema mapped by the identity mapping (default `public`).
    pub schema: String,
    /// Parallel workers (connections per side).
    pub jobs: usize,
    /// Schema of the engine's state in the target (default `_cutover`).
    pub state_schema: String,
    /// Create target tables missing from the target, from the source catalog (identity
    /// mapping only).
    pub create_tables: bool,
}
