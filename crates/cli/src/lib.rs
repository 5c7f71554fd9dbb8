//! The `cutover` command line: parse arguments, set up logging, call the engine, print the
//! summary, map the outcome to an exit code. No migration logic lives here.
mod args;
mod commands;
mod delta;
mod printer;
mod validate;

use clap::Parser;

pub use args::Cli;

/// Exit codes (documented in the README and `--help`).
pub mod exit {
    pub const OK: i32 = 0;
    pub const FOUND_PROBLEMS: i32 = 1;
    pub const ERROR: i32 = 2;
    pub const INTERRUPTED: i32 = 130;
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::ERROR
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    init_logging(&cli.global);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // The async threads only move bytes between sockets and channels; decoding, transforms
    // and digests run on blocking threads, and the servers want cores too. Half the cores
    // for them measured faster on 2 cores than one each (reconcile 9.1 s against 9.8 s at 5M
    // rows, migrate 10.7 s against 11.1 s). TOKIO_WORKER_THREADS still overrides.
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        builder.worker_threads((cores / 2).max(1));
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::ERROR;
        }
    };
    runtime.block_on(commands::run(cli))
}

fn init_logging(global: &args::Global) {
    use tracing_subscriber::EnvFilter;
    let default = if global.quiet { "error" } else { "warn" };
    let filter = match EnvFilter::try_from_env("CUTOVER_LOG") {
        // The driver logs query parameters (row values) at debug level: never let it, whatever
        // CUTOVER_LOG asks for.
        Ok(f) => match "tokio_postgres=info".parse() {
            Ok(d) => f.add_directive(d),
            Err(_) => f,
        },
        Err(_) => EnvFilter::new(default),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match global.log_format {
        args::LogFormat::Json => builder.json().try_init(),
        args::LogFormat::Text => builder.try_init(),
    };
}
