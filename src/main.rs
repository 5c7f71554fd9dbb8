//! The `cutover` binary: everything lives in the `cutover-cli` crate.
fn main() {
    std::process::exit(cutover_cli::main());
}
