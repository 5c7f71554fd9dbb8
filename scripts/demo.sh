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
BIN=target/release/cutover

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

echo "== a few rows of the new CRM" >&2
psql "$DST" -X -c "SELECT id, full_name, email, phone FROM crm.contacts ORDER BY legacy_id LIMIT 5"
psql "$DST" -X -c "SELECT table_name, count(*) AS rejected, min(reason) AS example FROM _cutover.rejects GROUP BY 1 ORDER BY 1"
echo "== manifest: /tmp/cutover-demo-run.json, plan: /tmp/cutover-demo-plan.json" >&2
