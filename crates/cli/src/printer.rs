//! All terminal output: progress bars (stderr, only on a terminal) and summary tables (stdout).
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cutover_engine::{Event, Observer};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress bars per table, driven by engine events.
pub struct Progress {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    /// Each phase the engine announced and when, if kept ([`Progress::timing_phases`]).
    phases: Option<Mutex<Vec<(String, Instant)>>>,
    quiet: bool,
    /// Warnings also go to the log as records (`--log-format json`); as text they would
    /// repeat the printed line, except under `--quiet`, which prints none.
    log_warnings: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        let target = if quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        Progress {
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
            phases: None,
            quiet,
            log_warnings: false,
        }
    }

    /// The progress of a command run with these global options.
    pub fn for_run(global: &crate::args::Global) -> Self {
        let mut p = Self::new(global.quiet);
        p.log_warnings = matches!(global.log_format, crate::args::LogFormat::Json);
        p
    }

    /// Keeps when each phase began, for [`Self::phase_times`] (a one-off run: a `--follow`
    /// loop would keep a row per cycle).
    pub fn timing_phases(mut self) -> Self {
        self.phases = Some(Mutex::new(Vec::new()));
        self
    }

    /// How long each phase took, in order: until the next one began (the last one: until
    /// now). What a maintenance window is planned from.
    pub fn phase_times(&self) -> Vec<(String, Duration)> {
        let Some(phases) = &self.phases else {
            return Vec::new();
        };
        let phases = phases.lock().expect("phases lock");
        let now = Instant::now();
        phases
            .iter()
            .enumerate()
            .map(|(i, (name, start))| {
                let end = phases.get(i + 1).map_or(now, |(_, next)| *next);
                (name.clone(), end - *start)
            })
            .collect()
    }

    /// [`Self::phase_times`] as a table of seconds.
    pub fn phase_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .phase_times()
            .into_iter()
            .map(|(name, d)| vec![name, format!("{:.1}", d.as_secs_f64())])
            .collect();
        render_table(&["phase", "seconds"], &rows)
    }

    fn say(&self, line: String) {
        if self.quiet {
            return;
        }
        if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }
}

impl Observer for Progress {
    fn event(&self, event: Event) {
        match event {
            Event::Phase(p) => {
                tracing::info!(phase = %p, "phase");
                self.say(format!("» {p}"));
                if let Some(phases) = &self.phases {
                    phases
                        .lock()
                        .expect("phases lock")
                        .push((p, Instant::now()));
                }
            }
            Event::TableStarted {
                table,
                estimated_rows,
            } => {
                let bar = self.multi.add(ProgressBar::new(estimated_rows.max(1)));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>18.bold} [{bar:28}] {human_pos:>11} rows  {per_sec:>12}  ETA {eta}",
                    )
                    .expect("progress template")
                    .progress_chars("=> "),
                );
                bar.set_prefix(table.clone());
                self.bars.lock().expect("bars lock").insert(table, bar);
            }
            Event::Rows { table, rows } => {
                if let Some(b) = self.bars.lock().expect("bars lock").get(&table) {
                    if b.position() + rows > b.length().unwrap_or(0) {
                        b.set_length(b.position() + rows);
                    }
                    b.inc(rows);
                }
            }
            Event::TableFinished {
                table,
                rows,
                rejected,
            } => {
                tracing::info!(table = %table, rows, rejected, "table done");
                if let Some(b) = self.bars.lock().expect("bars lock").remove(&table) {
                    b.set_length(b.position().max(1));
                    b.finish_and_clear();
                }
                self.say(format!(
                    "  {table}: {rows} rows{}",
                    if rejected > 0 {
                        format!(", {rejected} rejected")
                    } else {
                        String::new()
                    }
                ));
            }
            Event::Warning(w) => {
                // Printed lines are off under --quiet: the log (CUTOVER_LOG=warn) still has it.
                if self.log_warnings || self.quiet {
                    tracing::warn!(message = %w, "warning");
                }
                self.say(format!("warning: {w}"));
            }
        }
    }
}

/// Renders a plain-text table with right-aligned numeric columns.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..headers.len())
        .map(|i| {
            rows.iter().all(|r| {
                r[i].chars()
                    .all(|c| c.is_ascii_digit() || c == '.' || c == ',' || c == '%' || c == '-')
            })
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if numeric[i] {
                    format!("{c:>w$}", w = widths[i])
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    out.push('\n');
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.clone()));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_numbers_right_and_text_left() {
        let t = render_table(
            &["table", "rows"],
            &[
                vec!["a".into(), "5".into()],
                vec!["long_name".into(), "12345".into()],
            ],
        );
        assert!(t.contains("a              5"), "{t}");
        assert!(t.contains("long_name  12345"), "{t}");
    }

    #[test]
    fn each_phase_lasts_until_the_next_one_begins() {
        let untimed = Progress::new(true);
        untimed.event(Event::Phase("loading".into()));
        assert!(untimed.phase_times().is_empty());
        let p = Progress::new(true).timing_phases();
        assert!(p.phase_times().is_empty());
        p.event(Event::Phase("loading".into()));
        std::thread::sleep(Duration::from_millis(120));
        p.event(Event::Phase("building indexes".into()));
        std::thread::sleep(Duration::from_millis(20));
        let times = p.phase_times();
        let names: Vec<&str> = times.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["loading", "building indexes"]);
        assert!(times[0].1 >= Duration::from_millis(120), "{times:?}");
        assert!(times[1].1 >= Duration::from_millis(20), "{times:?}");
        let table = p.phase_table();
        assert!(table.starts_with("phase"), "{table}");
        let loading: f64 = table
            .lines()
            .find_map(|l| l.strip_prefix("loading "))
            .and_then(|rest| rest.trim().parse().ok())
            .unwrap_or_else(|| panic!("no seconds for loading in {table}"));
        assert!(loading >= 0.1, "{table}");
    }
}
