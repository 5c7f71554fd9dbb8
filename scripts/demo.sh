#!/usr/bin/env bash
# The main job of cutover end to end on generated data: a legacy CRM (fixtures/crm) is planned,
# migrated through mappings/crm.toml into the new schema, and summarised.
#   scripts/demo.sh            # scale 1 (~96k rows)
#   SCALE=10 scripts/demo.sh   # ~960k rows
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${SCALE:-1}
export PGOPTIONS="-c client_min_messages=warning"
SERVER=$(scripts/pg-up.sh | tail -n 1)
base=${SERVER%/*}
SRC_DB=cutover_demo_legacy
DST_DB=cutover_demo_crm
SRC="$base/$SRC_DB"
DST="$base/$DST_DB"

echo "== building cutover (release)" >&2
cargo build --release --quiet --bin cutover
BIN=${CARGO_TARGET_DIR:-target}/release/cutover

echo "== creating $SRC_DB (legacy CRM, scale $SCALE) and $DST_DB (new CRM schema)" >&2
for db in $SRC_DB $DST_DB; do
  psql "$SERVER" -X -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
done
psql "$SRC" -X -q -v ON_ERROR_STOP=1 -f fixtures/crm/source.sql
psql "$SRC" -X -q -v ON_ERROR_STOP=1 -v scale="$SCALE" -f fixtures/crm/generate.sql
psql "$DST" -X -q -v ON_ERROR_STOP=1 -f fixtures/crm/target.sql

echo "== cutover plan (dry run: every row through the mapping, nothing written)" >&2
$BIN plan --source "$SRC" --target "$DST" --mapping mappings/crm.toml --output /tmp/cutover-demo-plan.json

echo "== cutover migrate full" >&2
$BIN migrate full --source "$SRC" --target "$DST" --mapping mappings/crm.toml --manifest /tmp/cutover-demo-run.json

echo "== the legacy system keeps working: some rows change, some arrive, some go" >&2
psql "$SRC" -X -q -c "UPDATE legacy.contacts SET last_nm = last_nm || '-Smith', modified_on = localtimestamp WHERE contact_id % 50 = 1" \
  -c "INSERT INTO legacy.contacts (acct_id, first_nm, last_nm, email, phone, do_not_call)
      SELECT g, 'Demo', 'Contact' || g, 'Demo' || g || '@Example.com', '(617) 253-' || lpad(g::text, 4, '0'), 'N'
      FROM generate_series(1, 20) g" \
  -c "DELETE FROM legacy.tasks WHERE task_id % 400 = 0"

echo "== cutover migrate delta-sync (from the recorded watermark, deletes propagated)" >&2
$BIN migrate delta-sync --source "$SRC" --target "$DST" --mapping mappings/crm.toml --deletes propagate \
  --manifest /tmp/cutover-demo-run.json

echo "== cutover reconcile (the proof: counts, Merkle roots, every differing row)" >&2
$BIN reconcile --source "$SRC" --target "$DST" --mapping mappings/crm.toml \
  --output /tmp/cutover-demo-report.csv --diff /tmp/cutover-demo-diff.csv

echo "== cutover validate (fit to go live)" >&2
$BIN validate --target "$DST" --mapping mappings/crm.toml --output /tmp/cutover-demo-validate.json

echo "== a few rows of the new CRM" >&2
psql "$DST" -X -c "SELECT id, full_name, email, phone FROM crm.contacts ORDER BY legacy_id LIMIT 5"
psql "$DST" -X -c "SELECT table_name, phase, count(*) AS rows, min(reason) AS example FROM _cutover.rejects GROUP BY 1, 2 ORDER BY 1, 2"
echo "== files: plan /tmp/cutover-demo-plan.json, manifest /tmp/cutover-demo-run.json," \
     "report /tmp/cutover-demo-report.csv, validate /tmp/cutover-demo-validate.json" >&2
