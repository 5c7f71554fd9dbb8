//! Command-line arguments (clap). No logic here: `lib.rs` turns these into engine settings.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The data half of a PostgreSQL cutover: load a legacy database into a new schema through a
/// mapping, keep it in step, and prove it complete.
#[derive(Parser, Debug)]
#[command(name = "cutover", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 success; 1 the run worked and found a problem (differences, \
BLOCKER findings, a failed gate); 2 usage, configuration, connection or runtime error; 130 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

/// Options every command takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Parallel workers (connections per side); default: the number of cores.
    #[arg(long, global = true)]
    pub jobs: Option<usize>,
    /// No progress bars, no summary: only errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Schema holding cutover's own state in the target.
    #[arg(long, default_value = "_cutover", global = true)]
    pub state_schema: String,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where to read and write.
#[derive(Args, Debug, Clone)]
pub struct Connections {
    /// Source (legacy) database URL, e.g. postgres://user@host:5432/legacy. Only ever read.
    #[arg(long, env = "CUTOVER_SOURCE_URL", hide_env_values = true)]
    pub source: String,
    /// Target (new) database URL.
    #[arg(long, env = "CUTOVER_TARGET_URL", hide_env_values = true)]
    pub target: String,
    /// Mapping file (TOML). Without it every table of --schema maps to itself.
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// Schema mapped by the identity mapping (no --mapping).
    #[arg(long, default_value = "public")]
    pub schema: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Dry run: check the mapping against both databases and stream every source row through
    /// it without writing; BLOCKER findings exit 1.
    Plan {
        #[command(flatten)]
        conn: Connections,
        /// Write the plan as JSON.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Load data into the target.
    Migrate {
        #[command(subcommand)]
        mode: MigrateMode,
    },
}

#[derive(Subcommand, Debug)]
pub enum MigrateMode {
    /// Load every mapped table from one consistent snapshot of the source, atomically: the
    /// previous target contents are kept aside for `cutover rollback` until `cutover finalize`.
    Full {
        #[command(flatten)]
        conn: Connections,
        /// Write the run manifest (counts, rejects, Merkle roots) as JSON.
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Rollback drill: fail on purpose after this target table is loaded; the target must
        /// be left unchanged.
        #[arg(long, value_name = "TABLE")]
        drill_fail_after: Option<String>,
        /// Create target tables missing from the target from the source catalog (columns,
        /// types, defaults, primary key, unique, indexes, checks, foreign keys); identity
        /// mapping only.
        #[arg(long)]
        create_tables: bool,
        /// Pages (8 kB) per chunk: larger tables are split between workers.
        #[arg(long, default_value_t = 16_384, hide = true)]
        chunk_pages: i64,
    },
}
