//! Reconcile reports: one row per table (`report.csv`, `report.json`) and one row per differing
//! row (`diff.csv`). Plain data and writers; the engine fills them.
use std::io::Write;

use serde::{Deserialize, Serialize};

/// Verdict of one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Same rows, same values: roots equal.
    Match,
    /// Rows missing, extra or changed.
    Mismatch,
    /// The table could not be compared (no key, a read failed…): see `error`.
    Error,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Match => "MATCH",
            Status::Mismatch => "MISMATCH",
            Status::Error => "ERROR",
        }
    }
}

/// The comparison of one table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TableReport {
    /// Target table, `schema.name`.
    pub table: String,
    /// Rows read from the source (before the mapping).
    pub source_rows: u64,
    /// Rows read from the target.
    pub target_rows: u64,
    /// Expected rows found with identical values.
    pub matched: u64,
    /// Expected rows whose key is absent from the target.
    pub missing_in_target: u64,
    /// Target rows whose key is not expected.
    pub extra_in_target: u64,
    /// Rows present on both sides with different values.
    pub changed: u64,
    /// Source rows the mapping (or the target's constraints, at load) rejected.
    pub rejected_at_source: u64,
    /// `matched / (source_rows - rejected_at_source)`, in percent.
    pub completeness_pct: f64,
    /// Merkle root of the expected rows (hex).
    pub source_root: String,
    /// Merkle root of the target rows (hex).
    pub target_root: String,
    pub status: Status,
    pub elapsed_ms: u64,
    /// Bucket level of the roots (per side: it follows each side's row count).
    pub k: u8,
    /// Target columns digested, in order.
    pub digest_columns: Vec<String>,
    /// Target key columns.
    pub key_columns: Vec<String>,
    /// Why the table is ERROR.
    pub error: Option<String>,
    /// Why the table fails its gate (None when it passes).
    pub gate_failure: Option<String>,
}

impl TableReport {
    /// Rows expected in the target.
    pub fn expected(&self) -> u64 {
        self.source_rows.saturating_sub(self.rejected_at_source)
    }
}

/// Writes `report.csv` (the columns of the CLI contract, in order).
pub fn write_report_csv<W: Write>(out: W, tables: &[TableReport]) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "table",
        "source_rows",
        "target_rows",
        "matched",
        "missing_in_target",
        "extra_in_target",
        "changed",
        "rejected_at_source",
        "completeness_pct",
        "source_root",
        "target_root",
        "status",
        "elapsed_ms",
    ])?;
    for t in tables {
        w.write_record([
            t.table.clone(),
            t.source_rows.to_string(),
            t.target_rows.to_string(),
            t.matched.to_string(),
            t.missing_in_target.to_string(),
            t.extra_in_target.to_string(),
            t.changed.to_string(),
            t.rejected_at_source.to_string(),
            format!("{:.4}", t.completeness_pct),
            t.source_root.clone(),
            t.target_root.clone(),
            t.status.as_str().to_string(),
            t.elapsed_ms.to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// How a row differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffKind {
    Missing,
    Extra,
    Changed,
}

impl DiffKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            DiffKind::Missing => "missing",
            DiffKind::Extra => "extra",
            DiffKind::Changed => "changed",
        }
    }
}

/// One differing row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DiffRow {
    pub table: String,
    /// The key as a JSON array of texts (composite and text keys survive).
    pub key: String,
    pub kind: DiffKind,
    /// Changed columns (empty unless `kind` is changed).
    pub changed_columns: Vec<String>,
}

/// Writes `diff.csv`: `table, key, kind, changed_columns` (columns joined with `;`).
pub fn write_diff_csv<W: Write>(out: W, rows: &[DiffRow]) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["table", "key", "kind", "changed_columns"])?;
    for r in rows {
        w.write_record([
            r.table.as_str(),
            r.key.as_str(),
            r.kind.as_str(),
            r.changed_columns.join(";").as_str(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_csv_has_the_contract_columns_in_order() {
        let mut buf = Vec::new();
        write_report_csv(&mut buf, &[]).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap().trim(),
            "table,source_rows,target_rows,matched,missing_in_target,extra_in_target,changed,\
             rejected_at_source,completeness_pct,source_root,target_root,status,elapsed_ms"
        );
    }

    #[test]
    fn diff_keys_with_commas_and_quotes_survive_csv() {
        let mut buf = Vec::new();
        let row = DiffRow {
            table: "t".into(),
            key: r#"["a,b","say \"hi\""]"#.into(),
            kind: DiffKind::Changed,
            changed_columns: vec!["x".into(), "y".into()],
        };
        write_diff_csv(&mut buf, std::slice::from_ref(&row)).unwrap();
        let mut r = csv::Reader::from_reader(buf.as_slice());
        let rec = r.records().next().unwrap().unwrap();
        assert_eq!(&rec[1], row.key);
        assert_eq!(&rec[3], "x;y");
    }
}
