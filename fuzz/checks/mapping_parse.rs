//! The mapping parser on arbitrary text: never a panic or a hang. A mapping that parses is
//! compiled against a fixed catalog (the CRM fixture's `legacy` and `crm` schemas, read from a
//! real PostgreSQL into `fuzz/catalog/crm.json`), and a program that compiles runs on a small
//! batch (a row of sample values and a row of NULLs).
//!
//! The catalog is `serde_json` of `cutover_postgres::catalog::tables` for schemas `legacy` and
//! `crm` of a database made from fixtures/crm/source.sql and target.sql; remake it the same way
//! when those change. Seeds: `fuzz/seeds/mapping_parse` (mappings/crm.toml, smaller mappings).
//!
//! Shared by the cargo-fuzz target `fuzz/fuzz_targets/mapping_parse.rs` and the short mutation run
//! of the test suite (`tests/fuzz_smoke.rs`).

use std::sync::{Arc, OnceLock};

use arrow_array::builder::BinaryBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use cutover_core::batch::binary_schema;
use cutover_core::catalog::TableInfo;
use cutover_core::mapping::parse;
use cutover_core::pgtype::PgType;
use cutover_core::program::TableProgram;
use cutover_core::value::{encode, Value};

fn catalog() -> &'static [TableInfo] {
    static CATALOG: OnceLock<Vec<TableInfo>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        serde_json::from_str(include_str!("../catalog/crm.json")).expect("fuzz/catalog/crm.json")
    })
}

/// The named table, else the first table of the schema's side (so that mappings naming
/// unknown tables still reach the column checks).
fn find<'a>(schema: &str, name: &str, side: &str) -> &'a TableInfo {
    let cat = catalog();
    cat.iter()
        .find(|t| t.schema == schema && t.name == name)
        .or_else(|| cat.iter().find(|t| t.name == name))
        .or_else(|| cat.iter().find(|t| t.schema == side))
        .expect("catalog has both schemas")
}

/// A plausible value of the type, for the sample row.
fn sample(ty: &PgType) -> Value {
    match ty {
        PgType::Bool => Value::Bool(true),
        PgType::Int2 | PgType::Int4 | PgType::Int8 => Value::Int(7),
        PgType::Float4 | PgType::Float8 => Value::Float(1.5),
        PgType::Numeric { .. } => Value::Numeric("12.345".into()),
        PgType::Bytea => Value::Bytes(vec![0, 1, 2]),
        PgType::Uuid => Value::Uuid([7; 16]),
        PgType::Date => Value::Date(9000),
        PgType::Time { .. } => Value::Time(3_600_000_000),
        PgType::Timestamp { .. } => Value::Timestamp(777_000_000_000_000),
        PgType::Timestamptz { .. } => Value::TimestampTz(777_000_000_000_000),
        PgType::Json | PgType::Jsonb => Value::Text("{\"a\": [1, 2.50]}".into()),
        _ => Value::Text(" A b@Example.COM (212) 555-0100 ".into()),
    }
}

fn input(p: &TableProgram) -> RecordBatch {
    let arrays: Vec<ArrayRef> = p
        .source_columns
        .iter()
        .map(|name| {
            let mut b = BinaryBuilder::new();
            let mut buf = Vec::new();
            match p.source.column(name) {
                Some(c) if encode(&c.ty, &sample(&c.ty), &mut buf).is_ok() => b.append_value(&buf),
                _ => b.append_null(),
            }
            b.append_null();
            Arc::new(b.finish()) as ArrayRef
        })
        .collect();
    RecordBatch::try_new(binary_schema(&p.source_columns), arrays).expect("input batch")
}

/// The target: one input, no panic, no hang.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mapping) = parse("fuzz.toml", text) else {
        return;
    };
    for spec in &mapping.tables {
        let source = find(&mapping.source_schema, &spec.source, "legacy");
        let target = find(&mapping.target_schema, spec.target_name(), "crm");
        let (program, findings) =
            TableProgram::compile(&mapping, spec, "fuzz.toml", source, target);
        for f in &findings {
            let _ = f.to_string();
        }
        if let Some(p) = program {
            let out = p.run(&input(&p));
            assert_eq!(out.batch.num_rows() + out.rejects.len(), 2, "rows lost");
        }
    }
}
