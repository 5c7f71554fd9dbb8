#!/usr/bin/env bash
# Regenerates the committed seed corpora in fuzz/seeds/ from a real PostgreSQL (the bytes are
# what its send functions write). Usage: fuzz/make_seeds.sh [URL] (default: scripts/pg-up.sh).
# Not needed to fuzz: scripts/fuzz.sh uses the committed seeds.
set -euo pipefail
cd "$(dirname "$0")"
url="${1:-$(../scripts/pg-up.sh | tail -n1)}"
db="cutover_fuzz_seeds_$$"
base="${url%%\?*}"
db_url="${base%/*}/$db"
psql -X -q "$url" -c "CREATE DATABASE $db"
trap 'psql -X -q "$url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
q() { psql -X -q -v ON_ERROR_STOP=1 "$db_url" "$@"; }
copy() { q -c "COPY ($1) TO STDOUT (FORMAT binary)"; }

# copy_decode: [columns, batch_rows, batch_bytes / 4, split_seed] ++ a binary COPY stream.
mkdir -p seeds/copy_decode seeds/value_decode seeds/mapping_parse
q -c "CREATE TABLE small (id int PRIMARY KEY, name text, amount numeric(12,4), active bool,
        created timestamptz, tag uuid, doc jsonb, blob bytea);
      INSERT INTO small VALUES
        (1, 'Ada', 12.5, true, '2024-01-02 03:04:05+00', '6f0d5b4e-8a53-4c1e-9d2b-3c4a5e6f7a8b',
         '{\"a\": [1, 2.5]}', '\\x00ff'),
        (2, NULL, 'NaN', false, 'infinity', NULL, 'null', ''),
        (3, 'Ünïcode ✓', -0.0001, NULL, '0044-03-15 12:00:00+00 BC',
         '00000000-0000-0000-0000-000000000000', '[]', NULL);"
{ printf '\x08\x02\x10\x2a'; copy "SELECT * FROM small ORDER BY id"; } >seeds/copy_decode/small_table.bin
{ printf '\x03\x40\xff\x07'; copy "SELECT id, name, blob FROM small WHERE false"; } >seeds/copy_decode/empty_table.bin
{ printf '\x01\x01\x00\x99'; copy "SELECT g FROM generate_series(1, 20) g"; } >seeds/copy_decode/one_column_20_rows.bin

# value_decode: [index into the type list of fuzz_targets/value_decode.rs] ++ one value's bytes.
q -c "CREATE TYPE mood AS ENUM ('happy', 'sad')"
i=0
while IFS= read -r expr; do
    n=0
    while IFS= read -r e; do
        # Strip the 19-byte header, the field count (2), the length (4) and the trailer (2).
        { printf "\\x$(printf %02x "$i")"; copy "SELECT $e" | tail -c +26 | head -c -2; } \
            >"seeds/value_decode/$(printf %02d "$i")_$n.bin"
        n=$((n + 1))
    done < <(tr '|' '\n' <<<"$expr")
    i=$((i + 1))
done <<'TYPES'
true|false
(-32768)::int2|7::int2
2147483647::int4|(-1)::int4
(-9223372036854775808)::int8|42::int8
'NaN'::float4|'-0'::float4|1.5::float4
'-Infinity'::float8|0.1::float8|'1e308'::float8
'NaN'::numeric|123456789012345678901234567890123456789.000000001::numeric|'-Infinity'::numeric|0::numeric
12.5::numeric(10,2)|(-99999999.99)::numeric(10,2)
999::numeric(3,0)
12.34::money
'text ✓'::text|''::text
'varchar'::varchar
'abcde'::varchar(5)
'ab'::char(3)
'pg_class'::name
'\x00ff10'::bytea
'6f0d5b4e-8a53-4c1e-9d2b-3c4a5e6f7a8b'::uuid
'2024-02-29'::date|'infinity'::date|'4713-01-01 BC'::date
'23:59:59.999999'::time
'12:34:56.78'::time(2)
'12:00+05:30'::timetz
'2000-01-01 00:00:00'::timestamp|'-infinity'::timestamp|'294276-12-31 23:59:59'::timestamp
'2024-01-01 12:00:01'::timestamp(0)
'2024-01-01 12:00:00.5+02'::timestamptz
'1999-12-31 23:59:59.999+00'::timestamptz(3)
'1 year 2 mons 3 days 04:05:06'::interval
'{"b": 1, "a": [1.50, "x"]}'::json
'{"b": 1, "a": [1.50, "x\u00e9"], "c": null}'::jsonb
'192.168.0.1/24'::inet|'::1'::inet
'10.0.0.0/8'::cidr
'08:00:2b:01:02:03'::macaddr
'happy'::mood
'{1,NULL,3}'::int4[]
'a fat cat'::tsvector
TYPES

# mapping_parse: the CRM mapping (the small mappings beside it are written by hand).
cp ../mappings/crm.toml seeds/mapping_parse/crm.toml
