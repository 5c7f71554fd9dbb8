//! Running a compiled program on one batch. Column-major: each output column is built in one
//! pass over the rows, untouched columns are shared with the input (no copy), and rejected
//! rows are filtered out of every column at the end in one go.
use std::sync::Arc;

use arrow_array::builder::BinaryBuilder;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BinaryArray, BooleanArray, RecordBatch, RecordBatchOptions};
use arrow_select::filter::filter_record_batch;

use super::expr::{Expr, OutputColumn, Scratch};
use super::{RowReject, TableProgram, Transformed};
use crate::mapping::OnError;
use crate::value;

/// Rows rejected so far: a flag per row and the first reason of each.
struct Rejects {
    rejected: Vec<bool>,
    list: Vec<RowReject>,
}

impl Rejects {
    fn add(
        &mut self,
        program: &TableProgram,
        cols: &[&BinaryArray],
        row: usize,
        column: &str,
        reason: String,
    ) {
        if !self.rejected[row] {
            self.rejected[row] = true;
            let key = source_key(program, cols, row);
            self.list.push(RowReject {
                row,
                key,
                column: column.to_string(),
                reason,
            });
        }
    }
}

pub fn run(program: &TableProgram, batch: &RecordBatch) -> Transformed {
    let rows = batch.num_rows();
    assert_eq!(
        batch.num_columns(),
        program.source_columns.len(),
        "batch of {} has {} columns, the program reads {:?}",
        program.source.name,
        batch.num_columns(),
        program.source_columns
    );
    let cols: Vec<&BinaryArray> = batch
        .columns()
        .iter()
        .map(|c| c.as_binary_opt::<i32>().expect("input columns are Binary"))
        .collect();
    let mut rejects = Rejects {
        rejected: vec![false; rows],
        list: Vec::new(),
    };
    // Rows given a NULL by on_error = "null"; counted at the end, for loaded rows only.
    let mut nulled_rows = Vec::new();
    for &i in &program.utf8_inputs {
        let col = cols[i];
        for row in 0..rows {
            if col.is_null(row) {
                continue;
            }
            if let Err(reason) = utf8_check(&program.source_columns[i], col.value(row)) {
                rejects.add(program, &cols, row, &program.source_columns[i], reason);
            }
        }
    }
    let mut scratch = Scratch::default();
    let mut buf = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(program.outputs.len());
    for out in &program.outputs {
        let column = match &out.expr {
            Expr::Pass { input } => pass(
                program,
                out,
                &cols,
                batch.column(*input),
                *input,
                &mut rejects,
            ),
            Expr::Const { bytes } => {
                let mut b = BinaryBuilder::with_capacity(rows, rows * bytes.len());
                for _ in 0..rows {
                    b.append_value(bytes);
                }
                Arc::new(b.finish())
            }
            Expr::Compute { .. } => {
                scratch.start_column();
                let data = batch.get_array_memory_size().min(rows * 16);
                let mut b = BinaryBuilder::with_capacity(rows, data);
                for row in 0..rows {
                    if rejects.rejected[row] {
                        b.append_null();
                        continue;
                    }
                    let failure = match out.eval(&cols, row, &mut scratch, &mut buf) {
                        Ok(true) => {
                            b.append_value(&buf);
                            continue;
                        }
                        Ok(false) if !out.not_null => {
                            b.append_null();
                            continue;
                        }
                        Ok(false) => not_null_reason(out),
                        Err(reason) => reason,
                    };
                    match on_error(out, failure) {
                        Outcome::Default(bytes) => b.append_value(bytes),
                        Outcome::Null => {
                            nulled_rows.push(row);
                            b.append_null();
                        }
                        Outcome::Reject(reason) => {
                            rejects.add(program, &cols, row, &out.name, reason);
                            b.append_null();
                        }
                    }
                }
                Arc::new(b.finish())
            }
        };
        columns.push(column);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    let mut out = RecordBatch::try_new_with_options(program.schema.clone(), columns, &options)
        .expect("output columns match the target schema");
    let nulled = nulled_rows
        .iter()
        .filter(|&&r| !rejects.rejected[r])
        .count() as u64;
    let mut list = rejects.list;
    if !list.is_empty() {
        let keep = BooleanArray::from_iter(rejects.rejected.iter().map(|r| Some(!r)));
        out = filter_record_batch(&out, &keep).expect("filter of a valid batch");
        list.sort_by_key(|r| r.row);
    }
    Transformed {
        batch: out,
        rejects: list,
        nulled,
    }
}

enum Outcome<'a> {
    Default(&'a [u8]),
    Null,
    Reject(String),
}

/// What `on_error` makes of a failed value.
fn on_error(out: &OutputColumn, reason: String) -> Outcome<'_> {
    match (out.on_error, &out.default) {
        (OnError::Default, Some(bytes)) => Outcome::Default(bytes),
        (OnError::Null, _) if !out.not_null => Outcome::Null,
        (OnError::Null, _) => Outcome::Reject(format!(
            "{reason} (on_error = \"null\", but the column is NOT NULL)"
        )),
        _ => Outcome::Reject(reason),
    }
}

fn not_null_reason(out: &OutputColumn) -> String {
    format!("NULL in NOT NULL column `{}`", out.name)
}

/// What a passed-through column makes of a NULL, as [`pass`] does for a whole batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PassNull {
    /// The NULL is kept (the target column takes NULLs).
    Keep,
    /// The column's `default` replaces it.
    Default(Vec<u8>),
    /// The row is rejected.
    Reject,
}

/// One output column of a program that only passes columns through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassColumn {
    /// Index of the source column whose bytes it takes.
    pub input: usize,
    pub null: PassNull,
}

/// The columns of a program that only passes source columns through, `None` when any column
/// is computed or constant: rows can then be read as they arrive, without a batch.
/// Why `bytes`, a value of source column `column`, is not valid UTF-8, if it is not.
pub fn utf8_check(column: &str, bytes: &[u8]) -> Result<(), String> {
    std::str::from_utf8(bytes).map(|_| ()).map_err(|e| {
        let at = e.valid_up_to();
        format!(
            "source column `{column}` is not valid UTF-8 (byte 0x{:02x} at offset {at}): the source \
             database's encoding is SQL_ASCII, which stores bytes of any encoding",
            bytes[at]
        )
    })
}

pub fn passthrough(program: &TableProgram) -> Option<Vec<PassColumn>> {
    program
        .outputs
        .iter()
        .map(|out| {
            let Expr::Pass { input } = out.expr else {
                return None;
            };
            let null = if !out.not_null {
                PassNull::Keep
            } else {
                match on_error(out, String::new()) {
                    Outcome::Default(bytes) => PassNull::Default(bytes.to_vec()),
                    Outcome::Null | Outcome::Reject(_) => PassNull::Reject,
                }
            };
            Some(PassColumn { input, null })
        })
        .collect()
}

/// An untouched column: shared with the input, unless NULLs in a NOT NULL target need work.
fn pass(
    program: &TableProgram,
    out: &OutputColumn,
    cols: &[&BinaryArray],
    array: &ArrayRef,
    input: usize,
    rejects: &mut Rejects,
) -> ArrayRef {
    let col = cols[input];
    if !out.not_null || col.null_count() == 0 {
        return Arc::clone(array);
    }
    if let Outcome::Default(bytes) = on_error(out, String::new()) {
        let mut b = BinaryBuilder::with_capacity(col.len(), col.value_data().len());
        for row in 0..col.len() {
            b.append_value(if col.is_null(row) {
                bytes
            } else {
                col.value(row)
            });
        }
        return Arc::new(b.finish());
    }
    // on_error = "reject", or "null" which a NOT NULL column cannot take: the rows are rejected
    // and filtered out at the end.
    for row in (0..col.len()).filter(|&r| col.is_null(r)) {
        rejects.add(program, cols, row, &out.name, not_null_reason(out));
    }
    Arc::clone(array)
}

/// The source key of `row` as a JSON array of texts (`null` for NULL, `\x…` hex for a value
/// without a text form, `***` for a column feeding a pii column).
fn source_key(program: &TableProgram, cols: &[&BinaryArray], row: usize) -> String {
    let parts: Vec<Option<String>> = program
        .source_key
        .iter()
        .map(|&i| {
            let col = cols[i];
            if col.is_null(row) {
                return None;
            }
            if program.source_is_pii(i) {
                return Some(crate::validation::MASKED.to_string());
            }
            let raw = col.value(row);
            let ty = &program
                .source
                .column(&program.source_columns[i])
                .expect("source column")
                .ty;
            let text = value::decode(ty, raw)
                .ok()
                .and_then(|v| v.as_text().map(|t| t.into_owned()));
            Some(text.unwrap_or_else(|| format!("\\x{}", hex::encode(raw))))
        })
        .collect();
    serde_json::to_string(&parts).expect("strings serialize")
}
