//! The catalog model: what `cutover` knows of a table on either side. Filled by the postgres
//! crate from `pg_catalog`; used by the mapping compiler, the planner and the engine.
use serde::{Deserialize, Serialize};

use crate::pgtype::PgType;

/// One column of a table, in attribute order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// Column name, unquoted.
    pub name: String,
    /// Decoded type (with typmod) used by codecs and casts.
    pub ty: PgType,
    /// `format_type(atttypid, atttypmod)`, for messages and DDL.
    pub type_sql: String,
    /// Declared NOT NULL, or of a domain that is (COPY refuses a NULL either way).
    pub not_null: bool,
    /// Has a default or is an identity / generated column.
    pub has_default: bool,
    /// A generated (stored) column: never written.
    pub generated: bool,
    /// Where the column's binary values name types by OID, as the catalog read it (arrays,
    /// composites and arrays of them); [`Shape::Plain`] when not read, for a column built by
    /// hand, whose array shape [`ColumnInfo::shape`] derives from `ty`.
    #[serde(default, skip)]
    pub oid_shape: Shape,
}

impl ColumnInfo {
    /// Where the column's binary values name types by OID (see [`Shape`]).
    pub fn shape(&self) -> Shape {
        match (&self.oid_shape, &self.ty) {
            (Shape::Plain, PgType::Array(_)) => Shape::Array(Box::new(Shape::Plain)),
            (shape, _) => shape.clone(),
        }
    }
}

/// Where a binary value (as a type's send function writes it) holds type OIDs: an array's
/// element type, a composite value's field types. Those OIDs name types of one database (an
/// enum's, a domain's, a composite's differ between the source and the target), so digests
/// count them as 0 (`crate::digest::put_value_as`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Shape {
    /// No OID inside.
    #[default]
    Plain,
    /// An array: its element type's OID, then elements of this shape.
    Array(Box<Shape>),
    /// A composite value: per field (non-dropped attributes, in order), its type's OID, then
    /// a value of that field's shape.
    Record(Vec<Shape>),
}

/// A table on one side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableInfo {
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub name: String,
    /// Columns in attribute order (dropped columns excluded).
    pub columns: Vec<ColumnInfo>,
    /// Primary key columns, in key order; empty when the table has none.
    pub primary_key: Vec<String>,
    /// `pg_class.reltuples` (may be -1 when never analysed): an estimate for progress only.
    pub estimated_rows: i64,
    /// `pg_class.relpages`: used to split the table into ctid ranges.
    pub pages: i64,
    /// The table's tablespace when it is not the database's default.
    #[serde(default)]
    pub tablespace: Option<String>,
    /// `UNLOGGED` (`relpersistence = 'u'`): not WAL-logged, not replicated, emptied by a crash.
    #[serde(default)]
    pub unlogged: bool,
}

impl TableInfo {
    /// The column with this name.
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// `schema.name`, unquoted: how manifests and reports name the table.
    pub fn dotted(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// `"schema"."name"`, quoted for SQL.
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// Quotes an identifier for SQL, always (a name like `x"; drop table y; --` stays a name).
pub fn quote_ident(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 2);
    s.push('"');
    for ch in name.chars() {
        if ch == '"' {
            s.push('"');
        }
        s.push(ch);
    }
    s.push('"');
    s
}

/// Quotes a string literal for SQL (standard_conforming_strings on).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}
