//! A table's mapping compiled against both catalogs: which source columns to read, and how each
//! target column is computed from a source batch.
//!
//! [`TableProgram::compile`] checks a [`TableSpec`] against the source and target
//! [`TableInfo`] and reports every problem as a [`Finding`] (BLOCKERs stop the table);
//! [`TableProgram::run`] turns one source batch into one target batch plus the rows it rejects.
//! `run` is pure and deterministic: the same batch always gives the same output, rejects in row
//! order, so it can run on any thread and be retried.
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use serde::Serialize;

use crate::catalog::{ColumnInfo, TableInfo};
use crate::mapping::{Mapping, OnError, TableSpec};
use crate::pgtype::PgType;

mod compile;
mod expr;
#[cfg(test)]
mod fixtures;
mod pii;
mod run;
pub use run::{utf8_check, PassColumn, PassNull};
mod suggest;
#[cfg(test)]
mod tests_compile;
#[cfg(test)]
mod tests_pii;
#[cfg(test)]
mod tests_run;

use expr::OutputColumn;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// The table cannot be migrated until this is fixed.
    Blocker,
    /// Worth a look; the migration can run.
    Warning,
}

/// One problem found while compiling a mapping against the catalogs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// Target table the finding is about.
    pub table: Option<String>,
    /// Target column the finding is about.
    pub column: Option<String>,
    /// `file:line:col` in the mapping file, when the finding comes from it.
    pub location: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let severity = match self.severity {
            Severity::Blocker => "BLOCKER",
            Severity::Warning => "WARNING",
        };
        match &self.location {
            Some(loc) => write!(f, "{severity} {loc}: {}", self.message),
            None => write!(f, "{severity}: {}", self.message),
        }
    }
}

/// A table's mapping, checked and ready to transform batches.
#[derive(Clone, Debug)]
pub struct TableProgram {
    /// Source table (catalog).
    pub source: TableInfo,
    /// Target table (catalog).
    pub target: TableInfo,
    /// Source columns to SELECT, in the order the input batch has them (source attribute
    /// order; includes the source primary key columns).
    pub source_columns: Vec<String>,
    /// Indices into `source_columns` of the source primary key (for naming rejected rows).
    pub source_key: Vec<usize>,
    /// Target columns written, in output batch order (target attribute order): the COPY list.
    pub target_columns: Vec<ColumnInfo>,
    /// Indices into `target_columns` of the target key (mapping `key`, else target PK).
    pub key: Vec<usize>,
    /// Per target column, what happens on error (also used for orphaned references).
    pub on_error: Vec<OnError>,
    /// Source column driving delta-sync.
    pub cursor: Option<String>,
    /// SQL boolean expression on the source row.
    pub filter: Option<String>,
    /// Indices into `source_columns` of text columns whose bytes are checked as UTF-8 (the
    /// source database's encoding is `SQL_ASCII`, which stores any bytes; the target's `COPY`
    /// would refuse the whole load on the first invalid one). Set by [`TableProgram::check_utf8`].
    pub utf8_inputs: Vec<usize>,
    /// Per target column, how it is computed.
    outputs: Vec<OutputColumn>,
    /// `binary_schema` of the target column names.
    schema: SchemaRef,
}

/// A source row that was not loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowReject {
    /// Index of the row in the input batch.
    pub row: usize,
    /// Source key as a JSON array of text values, e.g. `["42"]` (`null` for NULL).
    pub key: String,
    /// Target column that failed (the first one, in output order).
    pub column: String,
    /// Why, e.g. "phone `call me` is not a valid number for region US".
    pub reason: String,
}

/// The result of [`TableProgram::run`] on one batch.
#[derive(Clone, Debug)]
pub struct Transformed {
    /// Target-shaped batch of the accepted rows (schema: `binary_schema` of the target columns).
    pub batch: RecordBatch,
    /// Rejected rows, in row order.
    pub rejects: Vec<RowReject>,
    /// Values set to NULL by `on_error = "null"`.
    pub nulled: u64,
}

impl TableProgram {
    /// Compiles `spec` (a table of `mapping`, read from `file`) against the source and target
    /// tables. Returns `None` when any finding is a BLOCKER; the findings either way.
    pub fn compile(
        mapping: &Mapping,
        spec: &TableSpec,
        file: &str,
        source: &TableInfo,
        target: &TableInfo,
    ) -> (Option<TableProgram>, Vec<Finding>) {
        compile::compile(mapping, spec, file, source, target)
    }

    /// Transforms one batch whose columns are `source_columns`, in that order, all `Binary`.
    ///
    /// # Panics
    /// When the batch does not have that shape (a caller bug, not a data problem).
    pub fn run(&self, batch: &RecordBatch) -> Transformed {
        run::run(self, batch)
    }

    /// Per target column, where its binary values hold type OIDs (digested as 0: see
    /// [`crate::digest::put_value_as`]).
    pub fn shapes(&self) -> Vec<crate::catalog::Shape> {
        self.target_columns.iter().map(ColumnInfo::shape).collect()
    }

    /// A hasher of this table's rows in target shape (`target_columns`, in order).
    pub fn hasher(&self) -> crate::digest::RowHasher {
        crate::digest::RowHasher::with_shapes(self.shapes())
    }

    /// True when every output column is an untouched source column (bytes passed through).
    pub fn is_identity(&self) -> bool {
        self.outputs.iter().all(OutputColumn::is_pass)
    }

    /// For a program that only passes source columns through: each output column's source
    /// column and what it makes of a NULL; `None` when any column is computed or constant.
    pub fn passthrough(&self) -> Option<Vec<PassColumn>> {
        run::passthrough(self)
    }

    /// The Arrow schema of output batches.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Whether every text value of a row that must be UTF-8 (`utf8_inputs`) is; `value(i)` is
    /// the row's value of source column `i` (`None` for NULL). For the row-at-a-time readers;
    /// [`TableProgram::run`] rejects such rows with the reason.
    pub fn text_is_utf8<'a>(&self, value: impl Fn(usize) -> Option<&'a [u8]>) -> bool {
        self.utf8_inputs
            .iter()
            .all(|&i| value(i).is_none_or(|v| std::str::from_utf8(v).is_ok()))
    }

    /// Rejects the rows whose text values (text, varchar, char, name, enum, json, jsonb) are
    /// not valid UTF-8: for a source database in `SQL_ASCII`, read without conversion.
    pub fn check_utf8(&mut self) {
        self.utf8_inputs = self
            .source_columns
            .iter()
            .enumerate()
            .filter(|(_, name)| {
                self.source.column(name).is_some_and(|c| {
                    matches!(
                        c.ty,
                        PgType::Text
                            | PgType::Varchar { .. }
                            | PgType::Bpchar { .. }
                            | PgType::Name
                            | PgType::Enum { .. }
                            | PgType::Json
                            | PgType::Jsonb
                    )
                })
            })
            .map(|(i, _)| i)
            .collect();
    }
}
