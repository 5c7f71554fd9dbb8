//! The `cutover` command line: parse arguments, set up logging, call the engine, print the
//! summary, map the outcome to an exit code. No migration logic lives here.
mod args;
mod commands;
mod delta;
mod printer;
mod validate;

use std::time::Duration;

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
    // The async side only moves bytes between sockets and channels; decoding, transforms and
    // digests run on blocking threads, and the servers want the cores. One thread for all of
    // it, the command's own future included: on a multi-threaded runtime the command (on this
    // thread) and the connections' tasks (on a worker) wake each other across threads for
    // every batch of messages. Measured on 2 cores, 5M rows: reconcile 240,000 context
    // switches → 7,000–10,000 and 12.3 s → 10.3–11.1 s; migrate 16.0–16.6 s → 13.0–15.4 s.
    // TOKIO_WORKER_THREADS=N asks for a multi-threaded runtime with N workers instead.
    let mut builder = match std::env::var_os("TOKIO_WORKER_THREADS") {
        Some(_) => tokio::runtime::Builder::new_multi_thread(),
        None => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::ERROR;
        }
    };
    // The command runs as a task on the async threads, not on this one: the database
    // connections' tasks live there, and a command reading a COPY stream on the main thread
    // would be woken across threads for every batch of messages (a futex wake and a context
    // switch each: ~25 % of reconcile's client CPU at 5M rows).
    runtime.block_on(async {
        let code = commands::run(cli).await;
        // Every client is dropped with the command: end the sessions properly (busy ones
        // cancelled), so the servers' logs show nothing alarming. After Ctrl-C, briefly: the
        // user asked to stop.
        let limit = match code {
            exit::INTERRUPTED => Duration::from_secs(1),
            _ => Duration::from_secs(3),
        };
        let open = cutover_postgres::close_connections(limit).await;
        if open > 0 {
            tracing::debug!(open, "connections still open at exit");
        }
        code
    })
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
