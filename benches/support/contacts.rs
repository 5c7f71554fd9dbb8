//! The `contacts` table of `contacts.sql`, row for row: the same 11 columns, types and value
//! formulas (row `g` of `generate_series(1, rows)`), encoded the way PostgreSQL's binary send
//! functions encode them. A batch built here is what the engine's decoder hands the transforms
//! when it reads that table.
use std::sync::Arc;

use arrow_array::builder::BinaryBuilder;
use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, RecordBatch};
use bytes::BytesMut;
use cutover_core::batch::binary_schema;
use cutover_core::catalog::{ColumnInfo, TableInfo};
use cutover_core::pgtype::PgType;
use cutover_core::value::{self, Value};
use cutover_postgres::copy_encode;

/// Rows per batch, as the engine's decoder cuts them (`cutover_engine::load::BATCH_ROWS`).
pub const BATCH_ROWS: usize = 8192;

/// Seconds from 2000-01-01 (PostgreSQL's epoch) to 2020-01-01 and to 2024-01-01.
const EPOCH_2020: i64 = 7305 * 86_400;
const EPOCH_2024: i64 = 8766 * 86_400;

fn col(name: &str, ty: PgType, type_sql: &str, not_null: bool) -> ColumnInfo {
    ColumnInfo {
        name: name.into(),
        ty,
        type_sql: type_sql.into(),
        not_null,
        has_default: false,
        generated: false,
        oid_shape: Default::default(),
    }
}

/// The catalog of `public.contacts` as `contacts.sql` creates it.
pub fn table() -> TableInfo {
    let numeric = PgType::Numeric {
        precision: Some(12),
        scale: Some(2),
    };
    let tstz = PgType::Timestamptz { precision: None };
    TableInfo {
        schema: "public".into(),
        name: "contacts".into(),
        columns: vec![
            col("id", PgType::Int8, "bigint", true),
            col("account_id", PgType::Int8, "bigint", true),
            col("first_name", PgType::Text, "text", true),
            col("last_name", PgType::Text, "text", true),
            col("email", PgType::Text, "text", false),
            col("phone", PgType::Text, "text", false),
            col("status", PgType::Int2, "smallint", true),
            col("score", numeric, "numeric(12,2)", false),
            col("notes", PgType::Text, "text", false),
            col("created_at", tstz.clone(), "timestamp with time zone", true),
            col("updated_at", tstz, "timestamp with time zone", true),
        ],
        primary_key: vec!["id".into()],
        estimated_rows: -1,
        pages: 0,
        tablespace: None,
        unlogged: false,
    }
}

/// `((g % 100000) / 7.0)::numeric(12,2)`: half away from zero, as PostgreSQL rounds.
fn score(g: i64) -> String {
    let cents = ((g % 100_000) * 100 * 2 + 7) / 14;
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// The values of row `g`, in column order (`None` = NULL).
pub fn row(g: i64) -> [Option<Value>; 11] {
    let text = |s: String| Some(Value::Text(s));
    let us = |s: i64| s * 1_000_000;
    [
        Some(Value::Int(g)),
        Some(Value::Int(g % 50_000 + 1)),
        text(format!("First{}", g % 9973)),
        text(format!("Last{}", g % 7919)),
        text(format!("user{g}@Example.COM")),
        text(format!("(555) {:03}-{:04}", g % 1000, g % 10_000)),
        Some(Value::Int(g % 5)),
        Some(Value::Numeric(score(g))),
        (g % 3 != 0).then(|| Value::Text("note ".repeat((g % 20) as usize))),
        Some(Value::TimestampTz(us(EPOCH_2020 + g))),
        Some(Value::TimestampTz(us(EPOCH_2024 + g * 7 % 31_536_000))),
    ]
}

/// Rows `first ..= first + rows - 1` as one batch of raw binary values.
pub fn batch(first: i64, rows: usize) -> RecordBatch {
    let table = table();
    let mut builders: Vec<BinaryBuilder> =
        table.columns.iter().map(|_| BinaryBuilder::new()).collect();
    let mut buf = Vec::new();
    for g in first..first + rows as i64 {
        for ((v, b), c) in row(g).iter().zip(&mut builders).zip(&table.columns) {
            match v {
                None => b.append_null(),
                Some(v) => {
                    buf.clear();
                    value::encode(&c.ty, v, &mut buf).expect("contacts values encode");
                    b.append_value(&buf);
                }
            }
        }
    }
    let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    let arrays: Vec<ArrayRef> = builders
        .iter_mut()
        .map(|b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    RecordBatch::try_new(binary_schema(&names), arrays).expect("contacts batch")
}

/// `rows` rows from row 1, in batches of [`BATCH_ROWS`].
pub fn batches(rows: usize) -> Vec<RecordBatch> {
    (0..rows)
        .step_by(BATCH_ROWS)
        .map(|start| batch(start as i64 + 1, BATCH_ROWS.min(rows - start)))
        .collect()
}

/// The whole binary COPY stream of `batches` (what `COPY contacts TO STDOUT (FORMAT binary)`
/// sends), header and trailer included.
pub fn copy_stream(batches: &[RecordBatch]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    copy_encode::write_header(&mut buf);
    for b in batches {
        copy_encode::encode_batch(b, &mut buf);
    }
    copy_encode::write_trailer(&mut buf);
    buf.to_vec()
}

/// A valid phone in the 9 spellings of the CRM fixture (`fixtures/crm/README.md`, "Phones"):
/// `contacts.sql`'s `(555) …` numbers are all invalid, so they only time the rejecting path.
pub fn valid_phone(g: i64) -> String {
    let area = [212, 415, 617, 312, 206, 303, 646, 713][(g % 8) as usize];
    // Exchanges 200–999 except N11 (service codes, never valid).
    let ex = match 200 + g % 800 {
        e if e % 100 == 11 => e + 1,
        e => e,
    };
    let line = g % 10_000;
    match g % 9 {
        0 => format!("({area}) {ex}-{line:04}"),
        1 => format!("{area}.{ex}.{line:04}"),
        2 => format!("{area}-{ex}-{line:04}"),
        3 => format!("{area}{ex}{line:04}"),
        4 => format!("+1 {area} {ex} {line:04}"),
        5 => format!("1-{area}-{ex}-{line:04}"),
        6 => format!("+44 20 7946 0{:03}", g % 1000),
        7 => format!("({area}) {ex}-{line:04} ext. 42"),
        _ => format!("  {area} {ex} {line:04}  "),
    }
}

/// `batch` with its `phone` column replaced by [`valid_phone`] of each row's id.
pub fn with_valid_phones(batch: &RecordBatch) -> RecordBatch {
    let ids = batch.column(0).as_binary::<i32>();
    let mut b = BinaryBuilder::new();
    for r in 0..batch.num_rows() {
        let g = i64::from_be_bytes(ids.value(r).try_into().expect("int8 id"));
        b.append_value(valid_phone(g));
    }
    let mut columns = batch.columns().to_vec();
    columns[5] = Arc::new(b.finish());
    RecordBatch::try_new(batch.schema(), columns).expect("same schema")
}

/// Column names in table order.
pub fn names() -> Vec<String> {
    table().columns.iter().map(|c| c.name.clone()).collect()
}
