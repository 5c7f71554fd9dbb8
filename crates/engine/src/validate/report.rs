//! Turning what the queries found into the report: per table and rule the rows checked, the
//! broken rows, the status under the rule's tolerance; sequences judged against the maximum
//! the scan read.
use std::cmp::Ordering;

use cutover_core::rules::cmp_decimal;
use cutover_core::validation::{RuleOutcome, Sample, TableOutcome, ValidationSummary};

use super::scan::{Found, ScanFound, Tally};
use super::{SequenceCheck, TableScope, Task};

/// The report of every table, in scope order (the mapping's order, or by name).
pub(super) fn assemble(scopes: Vec<TableScope>, done: Vec<(Task, Found)>) -> ValidationSummary {
    let mut scans: Vec<Option<ScanFound>> = vec![None; scopes.len()];
    let mut keys: Vec<Vec<Tally>> = scopes
        .iter()
        .map(|s| vec![Tally::default(); s.keys.len()])
        .collect();
    let mut orphans: Vec<Vec<Tally>> = scopes
        .iter()
        .map(|s| vec![Tally::default(); s.orphans.len()])
        .collect();
    for (task, found) in done {
        match (task, found) {
            (Task::Scan(i), Found::Scan(s)) => scans[i] = Some(s),
            (Task::Key(i, k), Found::Key(t)) => keys[i][k] = t,
            (Task::Orphan(i, k), Found::Orphan(t)) => orphans[i][k] = t,
            (task, _) => unreachable!("task {task:?} gives its own kind of result"),
        }
    }
    let tables = scopes
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let scan = scans[i].take().unwrap_or_default();
            let rows = scan.rows;
            let mut rules = Vec::new();
            let mut push = |mut o: RuleOutcome, tally: Tally| {
                o.rows_checked = rows;
                o.violations = tally.violations;
                o.samples = tally.samples;
                o.settle();
                rules.push(o);
            };
            for (check, tally) in t.keys.into_iter().zip(std::mem::take(&mut keys[i])) {
                push(check.outcome, tally);
            }
            for (check, tally) in t.rows.into_iter().zip(scan.tallies) {
                push(check.outcome, tally);
            }
            for (check, tally) in t.orphans.into_iter().zip(std::mem::take(&mut orphans[i])) {
                push(check.outcome, tally);
            }
            for (check, extreme) in t.sequences.into_iter().zip(scan.extremes) {
                let (outcome, tally) = sequence(check, extreme.as_deref());
                push(outcome, tally);
            }
            TableOutcome {
                table: t.info.dotted(),
                rows,
                elapsed_ms: scan.elapsed_ms,
                rules,
            }
        })
        .collect();
    ValidationSummary::new(tables)
}

/// A sequence is broken when `nextval` would return a value already in its column (at or
/// below the column's maximum; at or above its minimum for a descending sequence), or none.
fn sequence(check: SequenceCheck, extreme: Option<&str>) -> (RuleOutcome, Tally) {
    let s = &check.state;
    let mut o = check.outcome;
    let column = &s.column;
    let (which, collides) = if s.increment < 0 {
        ("min", Ordering::Less)
    } else {
        ("max", Ordering::Greater)
    };
    let seen = extreme.map_or("none (empty table)".to_string(), str::to_string);
    let (broken, detail) = match (s.next_value(), extreme) {
        (None, _) => (
            true,
            format!(
                "sequence {} is exhausted (last value {})",
                s.sequence, s.last_value
            ),
        ),
        (Some(next), Some(x)) => (
            cmp_decimal(&next.to_string(), x) != collides,
            format!("next value {next}, {which}({column}) {seen}"),
        ),
        (Some(next), None) => (
            false,
            format!("next value {next}, {which}({column}) {seen}"),
        ),
    };
    o.detail = Some(detail.clone());
    let tally = if broken {
        Tally {
            violations: 1,
            samples: vec![Sample {
                key: String::new(),
                value: Some(detail),
            }],
        }
    } else {
        Tally::default()
    };
    (o, tally)
}
