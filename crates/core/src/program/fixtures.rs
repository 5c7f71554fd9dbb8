//! Hand-built catalogs, mappings and batches for the program tests.
use std::sync::Arc;

use arrow_array::builder::BinaryBuilder;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};

use super::{Finding, TableProgram, Transformed};
use crate::batch::binary_schema;
use crate::catalog::{ColumnInfo, TableInfo};
use crate::mapping::{parse, Mapping};
use crate::pgtype::PgType;
use crate::value::{self, Value};

pub const NS: &str = "6f0d5b4e-8a53-4c1e-9d2b-3c4a5e6f7a8b";

/// Lines 1–4 of every test mapping; the table body starts on line 5.
pub const HEAD: &str =
    "version = 1\nuuid_namespace = \"6f0d5b4e-8a53-4c1e-9d2b-3c4a5e6f7a8b\"\ndefault_region = \"US\"\n\n";

pub fn col(name: &str, ty: PgType) -> ColumnInfo {
    let type_sql = match &ty {
        PgType::Int2 => "smallint".to_string(),
        PgType::Int4 => "integer".to_string(),
        PgType::Int8 => "bigint".to_string(),
        PgType::Text => "text".to_string(),
        PgType::Bool => "boolean".to_string(),
        PgType::Uuid => "uuid".to_string(),
        PgType::Bytea => "bytea".to_string(),
        PgType::Varchar { len: Some(n) } => format!("character varying({n})"),
        PgType::Bpchar { len: Some(n) } => format!("character({n})"),
        PgType::Numeric {
            precision: Some(p),
            scale: Some(s),
        } => format!("numeric({p},{s})"),
        PgType::Timestamp { .. } => "timestamp without time zone".to_string(),
        PgType::Timestamptz { .. } => "timestamp with time zone".to_string(),
        other => format!("{other:?}").to_lowercase(),
    };
    ColumnInfo {
        name: name.into(),
        ty,
        type_sql,
        not_null: false,
        has_default: false,
        generated: false,
        oid_shape: Default::default(),
    }
}

pub fn not_null(mut c: ColumnInfo) -> ColumnInfo {
    c.not_null = true;
    c
}

pub fn with_default(mut c: ColumnInfo) -> ColumnInfo {
    c.has_default = true;
    c
}

pub fn generated(mut c: ColumnInfo) -> ColumnInfo {
    c.generated = true;
    c.has_default = true;
    c
}

pub fn table(schema: &str, name: &str, columns: Vec<ColumnInfo>, pk: &[&str]) -> TableInfo {
    TableInfo {
        schema: schema.into(),
        name: name.into(),
        columns,
        primary_key: pk.iter().map(|s| s.to_string()).collect(),
        estimated_rows: -1,
        pages: 0,
        tablespace: None,
        unlogged: false,
    }
}

pub fn varchar(n: u32) -> PgType {
    PgType::Varchar { len: Some(n) }
}

pub fn numeric(p: u16, s: u16) -> PgType {
    PgType::Numeric {
        precision: Some(p),
        scale: Some(s),
    }
}

pub fn ts() -> PgType {
    PgType::Timestamp { precision: None }
}

pub fn tstz() -> PgType {
    PgType::Timestamptz { precision: None }
}

/// The legacy `contacts` table.
pub fn source_contacts() -> TableInfo {
    table(
        "legacy",
        "contacts",
        vec![
            not_null(col("id", PgType::Int4)),
            col("email_addr", PgType::Text),
            col("phone", PgType::Text),
            col("status_cd", PgType::Bpchar { len: Some(1) }),
            col("amount", numeric(12, 4)),
            col("created_on", ts()),
            col("first_name", PgType::Text),
            col("last_name", PgType::Text),
            col("owner_user_id", PgType::Int4),
            col("blob", PgType::Bytea),
            col("modified_on", tstz()),
            col("age", PgType::Int4),
        ],
        &["id"],
    )
}

/// The new `contacts` table.
pub fn target_contacts() -> TableInfo {
    table(
        "crm",
        "contacts",
        vec![
            not_null(col("id", PgType::Uuid)),
            col("email", varchar(100)),
            col("phone", PgType::Text),
            with_default(not_null(col("status", PgType::Text))),
            col("amount", numeric(10, 2)),
            col("created_at", tstz()),
            col("full_name", PgType::Text),
            col("owner_id", PgType::Uuid),
            with_default(not_null(col("currency", PgType::Bpchar { len: Some(3) }))),
            generated(col(
                "search",
                PgType::Other {
                    name: "tsvector".into(),
                },
            )),
        ],
        &["id"],
    )
}

/// A mapping of [`HEAD`] and `body` (which starts on line 5).
pub fn mapping(body: &str) -> Mapping {
    let text = format!("{HEAD}{body}");
    parse("mapping.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Compiles the first table of `m`.
pub fn compile(
    m: &Mapping,
    source: &TableInfo,
    target: &TableInfo,
) -> (Option<TableProgram>, Vec<Finding>) {
    TableProgram::compile(m, &m.tables[0], "mapping.toml", source, target)
}

/// Compiles the first table of `m`, which must have no BLOCKER.
pub fn program(m: &Mapping, source: &TableInfo, target: &TableInfo) -> TableProgram {
    match compile(m, source, target) {
        (Some(p), _) => p,
        (None, findings) => panic!("blockers: {findings:#?}"),
    }
}

/// A Binary column of the values encoded as `ty`.
pub fn encoded(ty: &PgType, values: &[Option<Value>]) -> ArrayRef {
    let mut b = BinaryBuilder::new();
    let mut buf = Vec::new();
    for v in values {
        match v {
            None => b.append_null(),
            Some(v) => {
                buf.clear();
                value::encode(ty, v, &mut buf)
                    .unwrap_or_else(|e| panic!("encode {v:?} as {ty:?}: {e}"));
                b.append_value(&buf);
            }
        }
    }
    Arc::new(b.finish())
}

/// An input batch for `p`: `columns` by source column name, in any order; every source column
/// the program reads must be given.
pub fn input(p: &TableProgram, columns: &[(&str, Vec<Option<Value>>)]) -> RecordBatch {
    let arrays = p
        .source_columns
        .iter()
        .map(|name| {
            let (_, values) = columns
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("test input lacks source column `{name}`"));
            encoded(&p.source.column(name).unwrap().ty, values)
        })
        .collect();
    RecordBatch::try_new(binary_schema(&p.source_columns), arrays).unwrap()
}

/// The decoded values of output column `name`.
pub fn output(p: &TableProgram, t: &Transformed, name: &str) -> Vec<Option<Value>> {
    let i = p
        .target_columns
        .iter()
        .position(|c| c.name == name)
        .unwrap();
    let ty = &p.target_columns[i].ty;
    let col = t.batch.column(i).as_binary::<i32>();
    (0..col.len())
        .map(|r| (!col.is_null(r)).then(|| value::decode(ty, col.value(r)).unwrap()))
        .collect()
}

pub fn text(s: &str) -> Option<Value> {
    Some(Value::Text(s.into()))
}

pub fn int(i: i64) -> Option<Value> {
    Some(Value::Int(i))
}
