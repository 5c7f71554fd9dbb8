#!/usr/bin/env bash
# Side-by-side end-to-end benchmarks of cutover against the raw binary COPY pipe, pgcopydb,
# pgloader and reladiff (protocol: ../shared/BENCHMARKS.md), in one command:
#
#   benches/e2e/run.sh [--rows N] [--repeat R] [--only name,name] [--delta-rows N] [--keep]
#
#   --rows N      rows of the contacts table (default 5000000); the CRM fixture is generated at
#                 scale round(N / 96000), at least 1, so both migrations move about N rows
#   --repeat R    timed runs of each job, interleaved A B C … A B C … (default 3)
#   --only LIST   jobs to run (comma-separated); names: raw pgcopydb pgloader migrate-identity
#                 migrate-crm migrate-crm-identity reladiff-same reconcile-same reconcile-manifest reladiff-diff reconcile-diff
#                 delta-sync raw-merge validate. delta-sync and validate are skipped (and said
#                 so) when the built binary lacks the command. raw-merge is delta-sync's floor:
#                 the changed rows piped into a temporary table and one UPDATE … FROM it.
#   --delta-rows N  rows the delta-sync (and raw-merge) job's setup changes, exactly N spread evenly over the
#                 table (default: 1 % of the rows, `id % 100 = 42`); the results file then gets
#                 the suffix -deltaN (runs at different --rows with the same N sit side by side)
#   --keep        leave the databases and benches/e2e/work/ for inspection
#
# It starts PostgreSQL (scripts/pg-up.sh), builds `cargo build --release`, installs missing
# competitors (apt: pgcopydb pgloader time; pip: reladiff in benches/e2e/.venv), creates its own
# uniquely named databases and drops them at the end, even on Ctrl-C. It prints a Markdown table of
# medians, ratios and targets and writes it to benches/results/YYYY-MM-DD-<rows>[-delta<N>].md
# (with -partial before .md when --only leaves jobs out).
# Logs of every run: benches/e2e/work/<run id>/logs/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
fi
exec python3 "$here/harness.py" "$@"
