//! Reports of `cutover validate`: one outcome per table and rule (`summary.json`) and one row per
//! sampled broken row (`findings.csv`). Plain data and writers; the engine fills them. `cutover
//! plan` reports its declared-rule outcomes with the same [`RuleOutcome`].
use std::io::Write;

use serde::Serialize;

use crate::program::Severity;
use crate::rules::Tolerance;

/// What a value of a `pii = true` column is replaced with in findings.
pub const MASKED: &str = "***";

/// Verdict of one rule on one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RuleStatus {
    /// No row breaks it.
    Pass,
    /// Some rows break it, no more than its tolerance allows.
    Tolerated,
    /// More rows break it than its tolerance allows: a finding of the rule's severity.
    Fail,
}

impl RuleStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            RuleStatus::Pass => "PASS",
            RuleStatus::Tolerated => "TOLERATED",
            RuleStatus::Fail => "FAIL",
        }
    }
}

/// One broken row (or one duplicated key, or one sequence), as shown in findings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// The row's key as a JSON array of texts (`["42"]`), or the duplicated key.
    pub key: String,
    /// The offending value(s) as text; [`MASKED`] for personal data; `None` for NULL.
    pub value: Option<String>,
}

/// One rule checked on one table.
#[derive(Clone, Debug, Serialize)]
pub struct RuleOutcome {
    /// `primary_key`, `unique`, `key`, `not_null`, `check`, `domain`, `enum`, `foreign_key`,
    /// `mapping_reference`, `sequence`, or a declared rule (`email`, `range`, …).
    pub rule: String,
    /// Column(s) the rule is about, comma-separated.
    pub column: Option<String>,
    /// Constraint, index, domain or sequence the rule comes from.
    pub constraint: Option<String>,
    pub severity: Severity,
    /// Rows the rule was checked on.
    pub rows_checked: u64,
    /// Rows that break it (for uniqueness: rows sharing a key with another row).
    pub violations: u64,
    /// The tolerance as declared.
    pub tolerance: Tolerance,
    /// Broken rows allowed, from the tolerance and the rows checked.
    pub allowed: u64,
    pub status: RuleStatus,
    /// `FILE:LINE:COL` of a declared rule.
    pub location: Option<String>,
    /// More about the outcome (e.g. a sequence's next value and the column's maximum).
    pub detail: Option<String>,
    /// The first broken rows found (bounded), for `findings.csv`.
    #[serde(skip)]
    pub samples: Vec<Sample>,
}

impl RuleOutcome {
    /// A rule not checked yet: no rows, no violation.
    pub fn new(rule: &str, severity: Severity, tolerance: Tolerance) -> RuleOutcome {
        RuleOutcome {
            rule: rule.to_string(),
            column: None,
            constraint: None,
            severity,
            rows_checked: 0,
            violations: 0,
            tolerance,
            allowed: 0,
            status: RuleStatus::Pass,
            location: None,
            detail: None,
            samples: Vec::new(),
        }
    }

    /// Sets `allowed` and `status` from the counts.
    pub fn settle(&mut self) {
        self.allowed = self.tolerance.allowed(self.rows_checked);
        self.status = if self.violations == 0 {
            RuleStatus::Pass
        } else if self.violations <= self.allowed {
            RuleStatus::Tolerated
        } else {
            RuleStatus::Fail
        };
    }

    /// True when the rule fails with this severity.
    pub fn fails_as(&self, severity: Severity) -> bool {
        self.status == RuleStatus::Fail && self.severity == severity
    }
}

/// Every rule checked on one table.
#[derive(Clone, Debug, Serialize)]
pub struct TableOutcome {
    /// `schema.table`.
    pub table: String,
    /// Rows in the table.
    pub rows: u64,
    pub elapsed_ms: u64,
    pub rules: Vec<RuleOutcome>,
}

/// The whole report (`summary.json`).
#[derive(Clone, Debug, Serialize)]
pub struct ValidationSummary {
    /// Rules failing with severity BLOCKER: any makes `validate` exit 1.
    pub blockers: usize,
    /// Rules failing with severity WARNING.
    pub warnings: usize,
    /// Rules broken within their tolerance.
    pub tolerated: usize,
    /// Rules checked in all.
    pub rules_checked: usize,
    pub tables: Vec<TableOutcome>,
}

impl ValidationSummary {
    /// The report of these tables, with its totals.
    pub fn new(tables: Vec<TableOutcome>) -> ValidationSummary {
        let rules = || tables.iter().flat_map(|t| &t.rules);
        ValidationSummary {
            blockers: rules().filter(|r| r.fails_as(Severity::Blocker)).count(),
            warnings: rules().filter(|r| r.fails_as(Severity::Warning)).count(),
            tolerated: rules()
                .filter(|r| r.status == RuleStatus::Tolerated)
                .count(),
            rules_checked: rules().count(),
            tables,
        }
    }
}

/// Writes `findings.csv`: `table, rule, severity, key, column, value, status, constraint`, one
/// row per sampled broken row of every rule that is not PASS, in report order.
pub fn write_findings_csv<W: Write>(out: W, tables: &[TableOutcome]) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "table",
        "rule",
        "severity",
        "key",
        "column",
        "value",
        "status",
        "constraint",
    ])?;
    for t in tables {
        for r in t.rules.iter().filter(|r| r.status != RuleStatus::Pass) {
            let severity = match r.severity {
                Severity::Blocker => "BLOCKER",
                Severity::Warning => "WARNING",
            };
            for s in &r.samples {
                w.write_record([
                    t.table.as_str(),
                    r.rule.as_str(),
                    severity,
                    s.key.as_str(),
                    r.column.as_deref().unwrap_or(""),
                    s.value.as_deref().unwrap_or(""),
                    r.status.as_str(),
                    r.constraint.as_deref().unwrap_or(""),
                ])?;
            }
        }
    }
    w.flush()?;
    Ok(())
}

/// A key as a JSON array of texts (`null` for NULL), like the keys of rejected rows.
pub fn key_json(parts: &[Option<String>]) -> String {
    serde_json::to_string(parts).expect("strings serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(violations: u64, tolerance: Tolerance, rows: u64) -> RuleOutcome {
        let mut r = RuleOutcome::new("email", Severity::Blocker, tolerance);
        r.rows_checked = rows;
        r.violations = violations;
        r.settle();
        r
    }

    #[test]
    fn tolerance_counts_and_ratios_decide_the_status() {
        assert_eq!(outcome(0, Tolerance::Count(0), 10).status, RuleStatus::Pass);
        assert_eq!(outcome(1, Tolerance::Count(0), 10).status, RuleStatus::Fail);
        assert_eq!(
            outcome(5, Tolerance::Count(5), 10).status,
            RuleStatus::Tolerated
        );
        assert_eq!(outcome(6, Tolerance::Count(5), 10).status, RuleStatus::Fail);
        // 1% of 1,000 rows = 10 allowed; of 99 rows, none.
        assert_eq!(
            outcome(10, Tolerance::Ratio(0.01), 1000).status,
            RuleStatus::Tolerated
        );
        assert_eq!(
            outcome(11, Tolerance::Ratio(0.01), 1000).status,
            RuleStatus::Fail
        );
        assert_eq!(
            outcome(1, Tolerance::Ratio(0.01), 99).status,
            RuleStatus::Fail
        );
    }

    #[test]
    fn findings_csv_lists_samples_of_rules_that_do_not_pass() {
        let mut bad = outcome(2, Tolerance::Count(0), 10);
        bad.column = Some("email".into());
        bad.samples = vec![
            Sample {
                key: key_json(&[Some("7".into())]),
                value: Some(MASKED.into()),
            },
            Sample {
                key: key_json(&[Some("9".into())]),
                value: None,
            },
        ];
        let mut good = outcome(0, Tolerance::Count(0), 10);
        good.samples = vec![Sample {
            key: "[\"1\"]".into(),
            value: None,
        }];
        let tables = vec![TableOutcome {
            table: "crm.users".into(),
            rows: 10,
            elapsed_ms: 1,
            rules: vec![bad, good],
        }];
        let mut out = Vec::new();
        write_findings_csv(&mut out, &tables).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "table,rule,severity,key,column,value,status,constraint\n\
             crm.users,email,BLOCKER,\"[\"\"7\"\"]\",email,***,FAIL,\n\
             crm.users,email,BLOCKER,\"[\"\"9\"\"]\",email,,FAIL,\n"
        );
        let s = ValidationSummary::new(tables);
        assert_eq!((s.blockers, s.warnings, s.rules_checked), (1, 0, 2));
    }
}
