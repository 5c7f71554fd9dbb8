//! Command-line arguments (clap). No logic here: `lib.rs` turns these into engine settings.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The data half of a PostgreSQL cutover: load a legacy database into a new schema through a
/// mapping, keep it in step, and prove it complete.
#[derive(Parser, Debug)]
#[command(name = "cutover", version, long_about = None)]
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
    /// Password for connections whose URL has none (its first line); wins over PGPASSWORD and
    /// ~/.pgpass (PGPASSFILE).
    #[arg(long, value_name = "FILE", global = true)]
    pub password_file: Option<PathBuf>,
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

/// One run of one target (`rollback`, `finalize`).
#[derive(Args, Debug, Clone)]
pub struct RunTarget {
    /// Target database URL.
    #[arg(long, env = "CUTOVER_TARGET_URL", hide_env_values = true)]
    pub target: String,
    /// The run id, as printed by `cutover migrate full` and recorded in its manifest.
    #[arg(long, value_name = "RUN_ID")]
    pub run: String,
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
    /// Prove the target complete: per-table counts and Merkle roots of both sides, every
    /// differing row named. Exit 0 when every table passes, 1 when one differs beyond its gate.
    Reconcile {
        #[command(flatten)]
        conn: Connections,
        /// Per-table report (CSV).
        #[arg(long)]
        output: PathBuf,
        /// The same as JSON, with the run's parameters.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Differing rows (CSV: table, key, kind, changed_columns).
        #[arg(long)]
        diff: Option<PathBuf>,
        /// At most N differing rows named per table (all are counted).
        #[arg(long, value_name = "N")]
        diff_limit: Option<usize>,
        /// Reuse the source side recorded in this `migrate full` manifest; read only the target.
        #[arg(long, value_name = "RUN_JSON")]
        against_manifest: Option<PathBuf>,
        /// A table passes when (missing + extra + changed) / expected rows is at most R.
        #[arg(long, default_value_t = 0.0, value_name = "R")]
        max_missing_ratio: f64,
        /// Tables with zero tolerance whatever --max-missing-ratio (comma-separated).
        #[arg(long, value_delimiter = ',', value_name = "TABLE,...")]
        critical: Vec<String>,
    },
    /// Integrity scan of the target before go-live: keys unique, references intact, NOT NULL,
    /// CHECK, domain and enum constraints (also NOT VALID ones), sequences ahead of their
    /// columns, and the mapping's column rules. Exit 0 without BLOCKER, 1 with any.
    Validate(ValidateArgs),
    /// Load data into the target.
    Migrate {
        #[command(subcommand)]
        mode: MigrateMode,
    },
    /// Put the target back as it was before a `migrate full` run: its tables are swapped back
    /// from `_cutover_prev_<run>` in one transaction of renames (seconds, whatever the size).
    Rollback {
        #[command(flatten)]
        run: RunTarget,
    },
    /// Drop what `cutover rollback` of a run would need (`_cutover_prev_<run>`, and the tables
    /// of a rolled-back run); the run can no longer be rolled back.
    Finalize {
        #[command(flatten)]
        run: RunTarget,
    },
}

/// Arguments of `cutover validate`.
#[derive(Args, Debug, Clone)]
pub struct ValidateArgs {
    /// Target database URL. Only read.
    #[arg(long, env = "CUTOVER_TARGET_URL", hide_env_values = true)]
    pub target: String,
    /// Mapping file (TOML): its target tables are checked, with its declared column rules.
    /// Without it every table of --schema is checked against its catalog.
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// Schema checked without --mapping.
    #[arg(long, default_value = "public")]
    pub schema: String,
    /// Per table and rule: rows checked, violations, severity, status (JSON).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Broken rows (CSV: table, rule, severity, key, column, value, status, constraint); values
    /// of `pii = true` columns are masked.
    #[arg(long)]
    pub findings: Option<PathBuf>,
    /// At most N broken rows named per table and rule (all are counted).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub findings_limit: usize,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeletesArg {
    Ignore,
    Detect,
    Propagate,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictArg {
    SourceWins,
    TargetWins,
    Fail,
}

/// Options of `migrate delta-sync`.
#[derive(Args, Debug, Clone)]
pub struct DeltaArgs {
    #[command(flatten)]
    pub conn: Connections,
    /// Start of the window: RFC 3339 or a date. Default: each table's watermark recorded by
    /// the last successful full load or delta-sync.
    #[arg(long, value_name = "TS")]
    pub since: Option<String>,
    /// End of the window (exclusive): RFC 3339 or a date.
    #[arg(long, value_name = "TS")]
    pub until: Option<String>,
    /// How far before the watermark to read again (covers clock skew and late commits).
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub lookback: String,
    /// Rows deleted in the source: ignore them, report them, or delete them in the target.
    #[arg(long, value_enum, default_value_t = DeletesArg::Ignore)]
    pub deletes: DeletesArg,
    /// A target row changed by someone else since cutover wrote it.
    #[arg(long, value_enum, default_value_t = ConflictArg::SourceWins)]
    pub on_conflict: ConflictArg,
    /// Cursor column for tables the mapping gives none (identity mapping).
    #[arg(long, value_name = "COLUMN")]
    pub cursor: Option<String>,
    /// Keep running, one cycle per --interval, until Ctrl-C (which finishes the cycle).
    #[arg(long)]
    pub follow: bool,
    /// Time between cycles with --follow (e.g. 30s, 5m).
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub interval: String,
    /// Per-table summary (CSV).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// The full load's manifest: rewritten with the updated bucket leaves and roots.
    #[arg(long, value_name = "RUN_JSON")]
    pub manifest: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum MigrateMode {
    /// Carry every source change since the watermark (or --since) into the target through the
    /// mapping, in one transaction; repeat as often as needed, the last time after the freeze.
    DeltaSync(DeltaArgs),
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
        /// Continue a run that was killed (its staging schema and chunk checkpoints are in the
        /// target): the latest one, or RUN_ID. Finished chunks are kept; the rest are read in a
        /// new snapshot, so follow with a delta-sync if the source kept changing.
        #[arg(long, value_name = "RUN_ID", num_args = 0..=1, default_missing_value = "")]
        resume: Option<String>,
        /// Create target tables missing from the target from the source catalog (columns,
        /// types, defaults, primary key, unique, indexes, checks, foreign keys); identity
        /// mapping only.
        #[arg(long)]
        create_tables: bool,
        /// Replace target tables that hold rows no earlier cutover run loaded (without it such
        /// a run is refused and nothing is written). Their contents are kept aside for
        /// `cutover rollback` until `cutover finalize`, as always.
        #[arg(long)]
        overwrite: bool,
        /// Pages (8 kB) per chunk: larger tables are split between workers.
        #[arg(long, default_value_t = 16_384, hide = true)]
        chunk_pages: i64,
        #[command(flatten)]
        pii: PseudonymiseArgs,
    },
}

/// `migrate full --pseudonymise`: copies for test environments.
#[derive(Args, Debug, Clone)]
pub struct PseudonymiseArgs {
    /// Load keyed pseudonyms instead of the values of `pii = true` columns (the same key and
    /// value always give the same pseudonym, so joins still match); the key comes from
    /// --pseudonymise-key-file or CUTOVER_PSEUDONYMISE_KEY.
    #[arg(long)]
    pub pseudonymise: bool,
    /// File holding the pseudonymisation key (at least 16 bytes; a final newline is ignored).
    #[arg(long, value_name = "FILE", requires = "pseudonymise")]
    pub pseudonymise_key_file: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_definition_is_consistent_and_help_describes_the_tool_not_the_crate() {
        Cli::command().debug_assert();
        let help = Cli::command().render_help().to_string();
        assert!(
            help.starts_with("The data half of a PostgreSQL cutover"),
            "{help}"
        );
        for sub in [
            "plan",
            "migrate",
            "reconcile",
            "validate",
            "rollback",
            "finalize",
        ] {
            assert!(
                help.contains(&format!("  {sub} ")),
                "{sub} missing from:\n{help}"
            );
        }
    }
}
