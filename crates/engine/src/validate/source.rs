//! The mapping's declared column rules on the *transformed source* rows, for `cutover plan`: a
//! dirty legacy value is a finding before anything is loaded, not after. The rules are the
//! ones `validate` runs in PostgreSQL (`cutover_core::rules`), evaluated here in Rust on each
//! target-shaped batch the mapping produces, in the plan's worker thread.
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, BinaryArray, RecordBatch};
use bytes::BytesMut;
use cutover_core::mapping::Mapping;
use cutover_core::program::{Finding, RowReject, Severity, TableProgram};
use cutover_core::rules::{self, ColumnRule};
use cutover_core::validation::{key_json, RuleOutcome, RuleStatus, Sample, MASKED};
use cutover_core::value;
use cutover_postgres::copy_decode::CopyDecoder;

use crate::error::{EngineError, Result};
use crate::load::{Worker, BATCH_BYTES, BATCH_ROWS};
use crate::observer::{Event, SharedObserver};

/// Broken rows named per rule in plan findings.
pub const PLAN_EXAMPLES: usize = 3;

/// A table's declared rules, each with the output column it reads.
#[derive(Debug, Default)]
pub struct PlanRules {
    rules: Vec<(usize, ColumnRule, bool)>,
}

/// The declared rules of the table `program` was compiled from; findings for rules that cannot
/// check their column (BLOCKER) or that plan cannot see (WARNING).
pub fn plan_rules(
    mapping: &Mapping,
    file: &str,
    program: &TableProgram,
) -> (Arc<PlanRules>, Vec<Finding>) {
    let Some(spec) = mapping
        .tables
        .iter()
        .find(|s| s.source == program.source.name && s.target_name() == program.target.name)
    else {
        return (Arc::default(), Vec::new());
    };
    let (compiled, mut findings) = rules::compile(mapping, spec, file, &program.target);
    let pii = rules::pii_columns(spec);
    let mut out = Vec::new();
    for r in compiled {
        match program.target_columns.iter().position(|c| c.name == r.column) {
            Some(i) => {
                let masked = pii.contains(&r.column);
                out.push((i, r, masked));
            }
            None => findings.push(Finding {
                severity: Severity::Warning,
                table: Some(program.target.name.clone()),
                column: Some(r.column.clone()),
                location: r.location.clone(),
                message: format!(
                    "rule `{}` on `{}` is not checked by plan: the mapping does not write the column",
                    r.check.name(),
                    r.column
                ),
            }),
        }
    }
    (Arc::new(PlanRules { rules: out }), findings)
}

/// The plan's work stage: decode, transform, check the declared rules on the accepted rows.
pub struct RulesWorker {
    decoder: CopyDecoder,
    program: Arc<TableProgram>,
    rules: Arc<PlanRules>,
    observer: SharedObserver,
    table: String,
    /// Rows the mapping rejected, in stream order.
    pub rejects: Vec<RowReject>,
    pub rows_read: u64,
    /// Rows accepted (the rows the rules are checked on).
    pub rows_written: u64,
    pub nulled: u64,
    /// Per rule: broken rows, and the first few.
    tallies: Vec<(u64, Vec<Sample>)>,
}

impl RulesWorker {
    pub fn new(
        program: Arc<TableProgram>,
        rules: Arc<PlanRules>,
        observer: SharedObserver,
    ) -> Self {
        RulesWorker {
            decoder: CopyDecoder::new(&program.source_columns, BATCH_ROWS, BATCH_BYTES),
            table: program.target.name.clone(),
            tallies: vec![(0, Vec::new()); rules.rules.len()],
            program,
            rules,
            observer,
            rejects: Vec::new(),
            rows_read: 0,
            rows_written: 0,
            nulled: 0,
        }
    }

    fn process(&mut self, batch: RecordBatch) {
        let t = self.program.run(&batch);
        self.rows_read += batch.num_rows() as u64;
        self.rows_written += t.batch.num_rows() as u64;
        self.nulled += t.nulled;
        // Input row of each output row, built the first time a broken row needs its key.
        let mut accepted: Option<Vec<usize>> = None;
        for (j, (i, rule, masked)) in self.rules.rules.iter().enumerate() {
            let col = t.batch.column(*i).as_binary::<i32>();
            for row in 0..col.len() {
                let raw = (!col.is_null(row)).then(|| col.value(row));
                if !rule.violated_by_raw(raw) {
                    continue;
                }
                let tally = &mut self.tallies[j];
                tally.0 += 1;
                if tally.1.len() < PLAN_EXAMPLES {
                    let input =
                        accepted.get_or_insert_with(|| accepted_rows(&batch, &t.rejects))[row];
                    let value = raw.map(|raw| match value::decode(&rule.ty, raw) {
                        _ if *masked => MASKED.to_string(),
                        Ok(v) => v
                            .as_text()
                            .map_or_else(|| "\\x…".into(), |s| s.into_owned()),
                        Err(e) => e.0,
                    });
                    tally.1.push(Sample {
                        key: source_key(&self.program, &batch, input),
                        value,
                    });
                }
            }
        }
        self.rejects.extend(t.rejects);
        self.observer.event(Event::Rows {
            table: self.table.clone(),
            rows: batch.num_rows() as u64,
        });
    }

    /// The outcome of each rule on the accepted rows.
    pub fn outcomes(&self) -> Vec<RuleOutcome> {
        self.rules
            .rules
            .iter()
            .zip(&self.tallies)
            .map(|((_, r, _), (violations, samples))| {
                let mut o = RuleOutcome::new(r.check.name(), r.severity, r.tolerance);
                o.column = Some(r.column.clone());
                o.location = r.location.clone();
                o.rows_checked = self.rows_written;
                o.violations = *violations;
                o.samples = samples.clone();
                o.settle();
                o
            })
            .collect()
    }
}

/// A finding per failing rule, of the rule's severity, naming a few broken rows.
pub fn rule_findings(table: &str, outcomes: &[RuleOutcome]) -> Vec<Finding> {
    outcomes
        .iter()
        .filter(|o| o.status == RuleStatus::Fail)
        .map(|o| {
            let examples = o
                .samples
                .iter()
                .map(|s| format!("key {} value {}", s.key, s.value.as_deref().unwrap_or("NULL")))
                .collect::<Vec<_>>()
                .join("; ");
            Finding {
                severity: o.severity,
                table: Some(table.to_string()),
                column: o.column.clone(),
                location: o.location.clone(),
                message: format!(
                    "rule `{}`: {} of {} transformed source rows break it (tolerance allows {}), e.g. {examples}",
                    o.rule, o.violations, o.rows_checked, o.allowed
                ),
            }
        })
        .collect()
}

/// Input rows not rejected, in order: output row `i` came from input row `accepted[i]`.
fn accepted_rows(batch: &RecordBatch, rejects: &[RowReject]) -> Vec<usize> {
    let mut keep = vec![true; batch.num_rows()];
    for r in rejects {
        keep[r.row] = false;
    }
    (0..keep.len()).filter(|&i| keep[i]).collect()
}

/// The source key of input row `row`, like the keys of rejected rows (`["42"]`).
fn source_key(p: &TableProgram, batch: &RecordBatch, row: usize) -> String {
    let parts: Vec<Option<String>> = p
        .source_key
        .iter()
        .map(|&i| {
            let col: &BinaryArray = batch.column(i).as_binary::<i32>();
            if col.is_null(row) {
                return None;
            }
            let ty = &p
                .source
                .column(&p.source_columns[i])
                .expect("source column")
                .ty;
            let raw = col.value(row);
            let text = value::decode(ty, raw)
                .ok()
                .and_then(|v| v.as_text().map(|t| t.into_owned()));
            Some(text.unwrap_or_else(|| format!("\\x{}", hex::encode(raw))))
        })
        .collect();
    key_json(&parts)
}

impl Worker for RulesWorker {
    fn feed(&mut self, data: &[u8], _out: &mut BytesMut) -> Result<()> {
        let mut batches = Vec::new();
        self.decoder
            .feed(data, &mut batches)
            .map_err(|e| EngineError::runtime(format!("table `{}`: {e}", self.table)))?;
        for b in batches {
            self.process(b);
        }
        Ok(())
    }
    fn finish(&mut self, _out: &mut BytesMut) -> Result<()> {
        let decoder = std::mem::replace(
            &mut self.decoder,
            CopyDecoder::new(&self.program.source_columns, 1, 1),
        );
        let last = decoder
            .finish()
            .map_err(|e| EngineError::runtime(format!("table `{}`: {e}", self.table)))?;
        if let Some(b) = last {
            self.process(b);
        }
        Ok(())
    }
    fn encodes(&self) -> bool {
        false
    }
    fn rows_out(&self) -> u64 {
        self.rows_written
    }
    fn table(&self) -> &str {
        &self.table
    }
}
