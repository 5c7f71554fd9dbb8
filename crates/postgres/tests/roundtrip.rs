//! Binary COPY out of PostgreSQL → Arrow (decoder fed in small random chunks) → binary COPY
//! back in, for a table holding every type of DESIGN.md's lossless list; both tables must then
//! agree value by value, and read back byte for byte.
mod common;

use arrow_array::RecordBatch;
use bytes::{Bytes, BytesMut};
use common::{copy_in, copy_out, TestDb};
use cutover_postgres::copy_decode::CopyDecoder;
use cutover_postgres::copy_encode::{encode_batch, write_header, write_trailer};
use rand::{Rng, SeedableRng};

const SCHEMA: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
CREATE TABLE a (
    id int4 PRIMARY KEY,
    i2 int2, i4 int4, i8 int8,
    n numeric, n102 numeric(10,2),
    f4 float4, f8 float8,
    t text, vc varchar(10), c char(5), nm name,
    b bytea, bo bool,
    d date, ts timestamp, tstz timestamptz, ts3 timestamp(3),
    tm time, tmtz timetz, iv interval,
    u uuid, j json, jb jsonb,
    ip inet, cidr cidr, mac macaddr, m money,
    a_int int4[], a_text text[], a_num numeric[], a_tstz timestamptz[], a_2d int4[][],
    a_jb jsonb[], a_uuid uuid[],
    e mood, a_e mood[], dm posint
);
CREATE TABLE b (LIKE a INCLUDING ALL);
"#;

/// Edge values of every type, then a row of NULLs, then generated rows so batches get cut.
const ROWS: &str = r#"
INSERT INTO a VALUES
(1, -32768, -2147483648, -9223372036854775808,
 'NaN', -99999999.99, 'NaN', 'NaN',
 '', '', '', '',
 '\x', false,
 '-infinity', '-infinity', '-infinity', '-infinity',
 '00:00', '00:00+15:59', '-178000000 years',
 '00000000-0000-0000-0000-000000000000', '1e400', '1e400',
 '0.0.0.0/0', '10.0.0.0/8', '00:00:00:00:00:00', '-92233720368547758.08',
 '{}', '{}', '{}', '{}', '{}', '{}', '{}',
 'sad', '{}', 1),
(2, 32767, 2147483647, 9223372036854775807,
 'Infinity', 99999999.99, 'Infinity', '-0',
 'héllo 🌍 "quoted" \ back', 'abcdefghij', 'ab', 'pg_class',
 '\x00ff10', true,
 'infinity', 'infinity', 'infinity', 'infinity',
 '24:00:00', '23:59:59.999999-15:59', '1 year 2 months 3 days 04:05:06.789',
 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
 '{"big": 12345678901234567890.123456789, "x": [1, 2e400], "b": 1, "b": 2}',
 '{"big": 12345678901234567890.123456789, "x": [1, 2e400], "b": 1, "b": 2}',
 '192.168.1.5/24', '2001:db8::/32', '08:00:2b:01:02:03', '92233720368547758.07',
 '{1,NULL,3}', '{"a b",NULL,"","\"q\""}', '{1.5,NaN,Infinity,NULL}',
 '{infinity,"2000-01-01 00:00:00+00",NULL}', '{{1,2},{3,NULL}}',
 ARRAY['{"k": 1e400}'::jsonb, NULL], '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
 'happy', '{happy,NULL,sad}', 42),
(3, 0, 0, 0,
 '-Infinity', 0.00, '-Infinity', 'Infinity',
 E'tab\there\nnewline', 'x', 'abcde', '',
 '\xdeadbeef', true,
 '4714-11-24 BC', '4714-11-24 00:00:00 BC', '0044-03-15 12:00:00+00 BC', '2024-02-29 12:34:56.789',
 '12:34:56.789012', '12:00+05:30', '-1 days -00:00:00.000001',
 'ffffffff-ffff-ffff-ffff-ffffffffffff', '[]', '{}',
 '::1', '::/0', 'ff:ff:ff:ff:ff:ff', '0',
 '{-2147483648}', '{""}', '{-0.000}', '{-infinity}', '{{5}}', '{"[]"}', '{NULL}',
 'ok', '{ok}', 2147483647),
(4, 1, 1, 1,
 '12345678901234567890123456789012345678901234567890.000000000000000000001', -0.01, '1e-45',
 '5e-324',
 'x', 'y', 'z    ', 'z',
 '\x00', false,
 '5874897-12-31', '294276-12-31 23:59:59.999999', '294276-12-31 23:59:59.999999+00', '1999-12-31 23:59:59.999',
 '23:59:59.999999', '00:00:00.000001-00:00:01', '1 mon -1 days',
 '12345678-1234-1234-1234-123456789abc', '  {"a" :  1.50 } ', '{"aa": 1, "b": 2, "a": {"z": []}}',
 '255.255.255.255/32', '192.168.0.0/16', '01:02:03:04:05:06', '0.01',
 '{0}', '{NULL}', '{12345678901234567890123456789012345678901234567890}', '{}', '{}', '{}', '{}',
 'sad', '{}', 7),
(5, -1, -1, -1,
 '-0.0000000000000000000000000000000000000001234', 0.005, '3.4028235e38', '1.7976931348623157e308',
 repeat('long text ', 1000), 'trail    ', ' ', repeat('n', 63),
 decode(repeat('ab', 5000), 'hex'), true,
 '0001-01-01 BC', '0001-12-31 23:59:59.999999 BC', '1970-01-01 00:00:00+00', '0001-01-01 00:00:00',
 '00:00:00.000001', '24:00:00-15:59', '178000000 years',
 '00000000-0000-0000-0000-000000000001', '"\u00e9\n"', '"\u00e9\n"',
 '10.1.2.3/8', '10.0.0.0/32', '00:00:00:00:00:01', '-0.01',
 '{1,2,3,4,5,6,7,8,9,10}', '{a,b,c}', '{1e-30}', '{"1999-12-31 23:59:59.5+00"}', '{{1},{2}}', '{null}',
 '{}', 'happy', '{sad,sad}', 3),
(6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO a (id, i2, i4, i8, n, n102, f4, f8, t, vc, c, b, bo, d, ts, tstz, ts3, tm, iv, u, jb,
               a_int, e, dm)
SELECT g, (g % 32000)::int2, g * 7919, g::int8 * 1000003 * 1000003,
       (g::numeric / 7)::numeric(40,20), g / 100.0, g / 3.0, g * pi(),
       md5(g::text), left(md5(g::text), 10), left(md5(g::text), 3),
       decode(md5(g::text), 'hex'), g % 2 = 0,
       date '2000-01-01' + g, timestamp '2000-01-01' + g * interval '1.5 seconds',
       timestamptz '1900-01-01 00:00:00+00' - g * interval '1 day 1 microsecond',
       timestamp '2000-01-01' + g * interval '1 millisecond',
       time '00:00' + g * interval '1 second', g * interval '1 hour 1 microsecond',
       md5(g::text)::uuid, jsonb_build_object('g', g, 'n', g / 3.0),
       ARRAY[g, NULL, -g], (ARRAY['sad','ok','happy'])[1 + g % 3]::mood,
       CASE WHEN g % 5 = 0 THEN NULL ELSE g END
FROM generate_series(7, 3006) AS g;
"#;

/// The columns of `a`, in order.
async fn columns(db: &TestDb) -> Vec<String> {
    db.client
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = 'a'::regclass AND attnum > 0 \
             AND NOT attisdropped ORDER BY attnum",
            &[],
        )
        .await
        .expect("list columns")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Decodes COPY chunks, re-split at random sizes (1..=97 bytes) so that the header, length
/// words and values are cut everywhere.
fn decode_in_random_chunks(names: &[String], chunks: &[Bytes], seed: u64) -> Vec<RecordBatch> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut decoder = CopyDecoder::new(names, 64, 64 * 1024);
    let mut batches = Vec::new();
    for chunk in chunks {
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let n = rng.gen_range(1..=97).min(rest.len());
            decoder
                .feed(&rest[..n], &mut batches)
                .expect("decode COPY data");
            rest = &rest[n..];
        }
    }
    batches.extend(decoder.finish().expect("COPY stream ends with its trailer"));
    batches
}

fn encode(batches: &[RecordBatch]) -> Bytes {
    let mut buf = BytesMut::new();
    write_header(&mut buf);
    for batch in batches {
        encode_batch(batch, &mut buf);
    }
    write_trailer(&mut buf);
    buf.freeze()
}

#[tokio::test]
async fn every_lossless_type_survives_copy_out_arrow_copy_in() {
    let db = TestDb::create("ct_rt").await;
    db.client.batch_execute(SCHEMA).await.expect("schema");
    db.client.batch_execute(ROWS).await.expect("rows");
    let names = columns(&db).await;

    let out = copy_out(&db.client, "COPY a TO STDOUT (FORMAT binary)").await;
    let batches = decode_in_random_chunks(&names, &out, 42);
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 3006);
    assert!(
        batches.len() > 40,
        "batches are cut at 64 rows: {}",
        batches.len()
    );
    assert!(batches.iter().all(|b| b.num_rows() <= 64));
    let copied = copy_in(
        &db.client,
        "COPY b FROM STDIN (FORMAT binary)",
        encode(&batches),
    )
    .await;
    assert_eq!(copied, 3006);

    // Every column, every row: same text (stricter than `=`: -0 vs 0, numeric scale, NaN).
    let missing: i64 = db
        .client
        .query_one(
            "SELECT count(*) FROM a FULL JOIN b USING (id) WHERE a.id IS NULL OR b.id IS NULL",
            &[],
        )
        .await
        .expect("compare keys")
        .get(0);
    assert_eq!(missing, 0, "rows missing on one side");
    for col in &names {
        let sql = format!(
            "SELECT count(*) FROM a JOIN b USING (id) WHERE a.{col}::text IS DISTINCT FROM b.{col}::text"
        );
        let differing: i64 = db.client.query_one(&sql, &[]).await.expect(&sql).get(0);
        assert_eq!(differing, 0, "column {col} differs between a and b");
    }

    // And both tables read back as the very same binary stream.
    let ordered =
        |t: &str| format!("COPY (SELECT * FROM {t} ORDER BY id) TO STDOUT (FORMAT binary)");
    let a_bytes: Vec<u8> = copy_out(&db.client, &ordered("a")).await.concat();
    let b_bytes: Vec<u8> = copy_out(&db.client, &ordered("b")).await.concat();
    assert!(a_bytes == b_bytes, "binary COPY of a and b differ");
}

#[tokio::test]
async fn decoder_rejects_a_text_format_copy() {
    // Regression guard: a COPY run without FORMAT binary must fail loudly, not decode garbage.
    let db = TestDb::create("ct_rt").await;
    db.client.batch_execute(SCHEMA).await.expect("schema");
    db.client
        .batch_execute("INSERT INTO a (id) VALUES (1)")
        .await
        .expect("row");
    let names = columns(&db).await;
    let out = copy_out(&db.client, "COPY a TO STDOUT").await;
    let mut decoder = CopyDecoder::new(&names, 64, 1 << 20);
    let err = decoder
        .feed(&out.concat(), &mut Vec::new())
        .expect_err("text COPY is not binary COPY");
    assert!(
        err.to_string().contains("signature mismatch at byte 0"),
        "{err}"
    );
}

#[tokio::test]
async fn decoder_reports_a_column_count_mismatch() {
    let db = TestDb::create("ct_rt").await;
    db.client.batch_execute(SCHEMA).await.expect("schema");
    db.client
        .batch_execute("INSERT INTO a (id) VALUES (1)")
        .await
        .expect("row");
    let out = copy_out(&db.client, "COPY a (id, i2) TO STDOUT (FORMAT binary)").await;
    let names = vec!["id".to_string()];
    let mut decoder = CopyDecoder::new(&names, 64, 1 << 20);
    let err = decoder
        .feed(&out.concat(), &mut Vec::new())
        .expect_err("two fields for one column");
    assert_eq!(
        err.to_string(),
        "binary COPY row 1 at byte 19: 2 fields, expected 1"
    );
}
