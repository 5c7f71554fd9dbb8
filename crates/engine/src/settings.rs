//! What every command needs to know about where to work: both connections, the mapping file,
//! parallelism and the state schema. Built by the CLI from arguments and environment.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cutover_core::transform::pseudonym::PseudonymKey;
use cutover_postgres::ConnInfo;

use crate::error::{EngineError, Result};

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
    /// `migrate full --pseudonymise`: load keyed pseudonyms instead of the values of
    /// `pii = true` columns (see `cutover_core::transform::pseudonym`).
    pub pseudonymise: Option<Arc<PseudonymKey>>,
}

/// The variable holding the pseudonymisation key when no key file is given.
pub const PSEUDONYMISE_KEY_VAR: &str = "CUTOVER_PSEUDONYMISE_KEY";

/// Reads the pseudonymisation key: the contents of `file` (one trailing newline ignored), else
/// [`PSEUDONYMISE_KEY_VAR`]. Errors never show the key.
pub fn pseudonymise_key(file: Option<&Path>) -> Result<Arc<PseudonymKey>> {
    let material = match file {
        Some(path) => {
            let mut bytes = std::fs::read(path).map_err(|e| {
                EngineError::config(format!(
                    "cannot read --pseudonymise-key-file {}: {e}",
                    path.display()
                ))
            })?;
            for end in [b'\n', b'\r'] {
                if bytes.last() == Some(&end) {
                    bytes.pop();
                }
            }
            bytes
        }
        None => std::env::var(PSEUDONYMISE_KEY_VAR)
            .map(String::into_bytes)
            .map_err(|_| {
                EngineError::config(format!(
                    "--pseudonymise needs a key: --pseudonymise-key-file FILE or \
                     {PSEUDONYMISE_KEY_VAR}"
                ))
            })?,
    };
    PseudonymKey::derive(&material)
        .map(Arc::new)
        .map_err(EngineError::config)
}
