//! `migrate full`: the whole source, through the mapping, into the target, atomically.
//!
//! Every reader joins one exported snapshot, so the target gets a consistent image of the
//! source. Tables are split into ctid ranges and loaded by `jobs` workers into staging copies of
//! the target tables (a table loaded in one piece is created in the loading transaction and
//! filled with `COPY … FREEZE`); then rows the target's constraints would refuse become rejects,
//! indexes are built in parallel, constraints are added and validated, and one transaction swaps
//! the staged tables in. A failure anywhere before that transaction leaves the target as it was.
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cutover_core::catalog::quote_ident;
use cutover_core::digest::{choose_k, Leaves, FINE_K, HASH_VERSION};
use cutover_core::program::{Finding, TableProgram};
use cutover_postgres::state::StateSchema;
use cutover_postgres::PgError;
use tokio_postgres::Client;

use crate::checkpoint;
use crate::cleanup::{
    drop_stale_duplicates, reject_check_violations, reject_domain_violations, reject_duplicates,
    resolve_orphans, TableTally,
};
use crate::drill::drill_pause;
use crate::error::ErrorKind;
use crate::error::{EngineError, Result};
use crate::extract::{
    chunks, copy_out_sql, export_snapshot, open_reader, select_sql, Chunk, Snapshot,
};
use crate::load::{run_chunk, ChunkWorker};
use crate::manifest::{Manifest, TableManifest};
use crate::observer::{Event, SharedObserver};
use crate::resolve::resolve;
use crate::settings::Settings;
use crate::stage::{rebuild_sql, Rebuild, Stage};
use crate::swap::swap;

/// Options of `migrate full`.
#[derive(Clone, Debug)]
pub struct MigrateOptions {
    /// Where to write the manifest (JSON), besides the state schema.
    pub manifest_path: Option<PathBuf>,
    /// Fail on purpose after this target table is loaded (the rollback drill).
    pub drill_fail_after: Option<String>,
    /// Pages per chunk: tables larger than this are loaded by several workers.
    pub chunk_pages: i64,
    /// Resume a killed run: `Some(None)` the latest one, `Some(Some(id))` that one.
    pub resume: Option<Option<String>>,
    /// Replace target tables holding rows no earlier cutover run loaded.
    pub overwrite: bool,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            manifest_path: None,
            drill_fail_after: None,
            chunk_pages: 16_384,
            resume: None,
            overwrite: false,
        }
    }
}

/// Attempts of one chunk (or index build) before a transient error fails the run.
const MAX_ATTEMPTS: u32 = 5;

/// Pause before retry `attempt` (1-based): 0.5 s, 1 s, 2 s, 4 s…
fn backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(500 << (attempt - 1).min(6))
}

/// What a successful `migrate full` did.
pub struct MigrateReport {
    pub manifest: Manifest,
    /// WARNING findings of the mapping (BLOCKERs stop the run before it starts).
    pub warnings: Vec<Finding>,
}

/// A new run id: time-ordered and unique enough for one database (hex).
pub fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let h = blake3::hash(format!("{nanos}:{}", std::process::id()).as_bytes());
    format!(
        "{}{}",
        &format!("{:x}", nanos / 1_000_000_000)[..],
        &h.to_hex()[..6]
    )
}

/// Runs `migrate full`. `shutdown` resolves when the user asks to stop (Ctrl-C).
pub async fn migrate_full(
    settings: &Settings,
    opts: &MigrateOptions,
    observer: SharedObserver,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<MigrateReport> {
    let started = chrono::Utc::now();
    // A broken mapping file is reported before any connection is attempted.
    crate::resolve::read_mapping(settings)?;
    let source = settings.source.connect().await?;
    let mut target = settings.target.connect().await?;
    observer.event(Event::Phase(
        "reading catalogs and checking the mapping".into(),
    ));
    let resolved = resolve(settings, &source, &target).await?.for_full_load();
    resolved.refuse_blockers()?;
    if let Some(t) = &opts.drill_fail_after {
        if !resolved.programs.iter().any(|p| &p.target.name == t) {
            return Err(EngineError::config(format!(
                "--drill-fail-after: `{t}` is not a target table of this mapping"
            )));
        }
    }
    let state = StateSchema::new(&settings.state_schema);
    if opts.resume.is_none() && !opts.overwrite {
        refuse_foreign_rows(&target, &state, &resolved.programs, &resolved.created).await?;
    }
    state.ensure(&target).await?;
    let (run_id, resuming) = match &opts.resume {
        None => (new_run_id(), false),
        Some(wanted) => (
            resumable_run(&target, &state, wanted.as_deref()).await?,
            true,
        ),
    };
    let stage = Stage::new(&run_id, &resolved.mapping.target_schema);
    if !resuming {
        state
            .start_run(&target, &run_id, "migrate-full", &resolved.mapping_hash)
            .await?;
    }
    let programs: Vec<Arc<TableProgram>> = resolved.programs.into_iter().map(Arc::new).collect();
    let warnings: Vec<Finding> = resolved.findings;

    let job = Job {
        resuming,
        settings,
        opts,
        observer: observer.clone(),
        stage: &stage,
        programs: &programs,
        ddl: &resolved.ddl,
        created: &resolved.created,
        first_chunk: Default::default(),
    };
    let outcome = tokio::select! {
        r = job.run(&mut target, &state, &resolved.mapping_hash, started) => r,
        _ = shutdown => Err(EngineError::interrupted()),
    };
    match outcome {
        Ok(manifest) => {
            if let Some(path) = &opts.manifest_path {
                let text = serde_json::to_string_pretty(&manifest)
                    .map_err(|e| EngineError::runtime(e.to_string()))?;
                std::fs::write(path, text).map_err(|e| {
                    EngineError::runtime(format!(
                        "cannot write the manifest {}: {e}",
                        path.display()
                    ))
                })?;
            }
            Ok(MigrateReport { manifest, warnings })
        }
        Err(e) => {
            // The target tables were never touched; remove what this run built beside them.
            // The connection may be mid-statement or broken: use a fresh one. (A run killed
            // outright keeps its staging schema and checkpoints: `--resume` continues it.)
            if let Ok(c) = settings.target.connect().await {
                let _ = stage.drop(&c).await;
                let _ = state
                    .finish_run(&c, &run_id, "failed", None, Some(&e.message), None)
                    .await;
            }
            Err(e)
        }
    }
}

/// One line describing a finding.
pub fn describe(f: &Finding) -> String {
    let mut s = String::new();
    if let Some(l) = &f.location {
        s.push_str(l);
        s.push_str(": ");
    }
    match (&f.table, &f.column) {
        (Some(t), Some(c)) => s.push_str(&format!("{t}.{c}: ")),
        (Some(t), None) => s.push_str(&format!("{t}: ")),
        _ => {}
    }
    s.push_str(&f.message);
    s
}

struct Job<'a> {
    resuming: bool,
    settings: &'a Settings,
    opts: &'a MigrateOptions,
    observer: SharedObserver,
    stage: &'a Stage,
    programs: &'a [Arc<TableProgram>],
    ddl: &'a HashMap<String, cutover_postgres::catalog::TableDdl>,
    created: &'a HashMap<String, Vec<cutover_postgres::catalog::ColumnDef>>,
    /// Set once the first chunk is committed (the `chunk` drill pause).
    first_chunk: std::sync::atomic::AtomicBool,
}

/// Shared progress of the load phase.
struct LoadState {
    queue: VecDeque<Chunk>,
    tallies: Vec<TableTally>,
    chunks_left: Vec<usize>,
    started: Vec<Option<Instant>>,
    elapsed_ms: Vec<u64>,
    /// Per table, the snapshot generations its chunks were read in (0 for chunks a resumed
    /// run found committed). More than one: a row updated in between may be staged twice.
    generations: Vec<BTreeSet<u32>>,
}

/// The exported snapshot the workers join, renewed when the source loses it.
struct SnapshotSlot {
    current: Snapshot,
    generation: u32,
}

impl Job<'_> {
    /// The statement(s) creating a table's staging copy.
    fn create_sql(&self, p: &TableProgram) -> String {
        match self.created.get(&p.target.name) {
            Some(cols) => {
                let seqs = self
                    .ddl
                    .get(&p.target.name)
                    .map(|d| d.sequences.as_slice())
                    .unwrap_or(&[]);
                self.stage.create_new_table_sql(&p.target.name, cols, seqs)
            }
            None => self.stage.create_table_sql(
                p,
                self.ddl
                    .get(&p.target.name)
                    .map(|d| d.domains.as_slice())
                    .unwrap_or(&[]),
                false,
            ),
        }
    }

    async fn run(
        &self,
        target: &mut Client,
        state: &StateSchema,
        mapping_hash: &str,
        started: chrono::DateTime<chrono::Utc>,
    ) -> Result<Manifest> {
        let empty_tally = || TableTally {
            leaves: Leaves::new(FINE_K),
            source_rows: 0,
            loaded_rows: 0,
            rejected: 0,
            nulled: 0,
        };
        let mut tallies: Vec<TableTally> = self.programs.iter().map(|_| empty_tally()).collect();
        let mut all = Vec::new();
        let mut chunks_left = Vec::new();
        let mut cleaned = Vec::new();
        let mut generations: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); self.programs.len()];
        let horizon;
        if self.resuming {
            // Continue from the checkpoints: the same plan, the chunks not yet committed.
            let r = checkpoint::read(target, self.stage).await?;
            if r.mapping_hash != mapping_hash {
                return Err(EngineError::config(format!(
                    "run {} was started with another mapping; start a new run instead of --resume",
                    self.stage.run_id
                )));
            }
            horizon = r.horizon;
            cleaned = r.cleaned;
            let index_of = |name: &str| self.programs.iter().position(|p| p.target.name == name);
            chunks_left = vec![0; self.programs.len()];
            for (name, chunk, of, from, to) in &r.plan {
                let Some(i) = index_of(name) else {
                    return Err(EngineError::config(format!(
                        "run {}: table `{name}` of its plan is not in the mapping any more",
                        self.stage.run_id
                    )));
                };
                if let Some((_, _, t)) = r.done.iter().find(|(n, c, _)| n == name && c == chunk) {
                    let acc = &mut tallies[i];
                    acc.leaves.merge(&t.leaves);
                    acc.source_rows += t.source_rows;
                    acc.loaded_rows += t.loaded_rows;
                    acc.rejected += t.rejected;
                    acc.nulled += t.nulled;
                    generations[i].insert(0);
                    continue;
                }
                chunks_left[i] += 1;
                all.push(Chunk {
                    table: i,
                    index: *chunk as usize,
                    of: *of as usize,
                    from_page: *from,
                    to_page: *to,
                });
            }
            self.observer.event(Event::Phase(format!(
                "resuming run {}: {} of {} chunks left (they are read in a new snapshot; rows changed \
                 in the meantime are carried by the next delta-sync)",
                self.stage.run_id,
                all.len(),
                r.plan.len()
            )));
        } else {
            self.stage.create(target).await?;
            horizon = crate::extract::horizon(&self.settings.source).await?;
            // Plan the chunks: largest tables first so the workers finish together.
            for (i, p) in self.programs.iter().enumerate() {
                let c = chunks(i, p.source.pages, self.opts.chunk_pages);
                chunks_left.push(c.len());
                if c.len() > 1 {
                    target
                        .batch_execute(&self.create_sql(p))
                        .await
                        .map_err(|e| {
                            PgError::db(
                                format!("cannot create the staging table of `{}`", p.target.name),
                                e,
                            )
                        })?;
                }
                all.extend(c);
            }
            let plan: Vec<(String, Chunk)> = all
                .iter()
                .map(|c| (self.programs[c.table].target.name.clone(), c.clone()))
                .collect();
            checkpoint::create(target, self.stage, &horizon, mapping_hash, &plan).await?;
            drill_pause("start").await;
        }
        all.sort_by_key(|c| {
            (
                std::cmp::Reverse(self.programs[c.table].source.pages),
                c.table,
                c.index,
            )
        });
        let snapshot = export_snapshot(&self.settings.source).await?;
        let snapshot_id = snapshot.id.clone();
        let load = Mutex::new(LoadState {
            queue: all.into(),
            tallies,
            chunks_left,
            started: vec![None; self.programs.len()],
            elapsed_ms: vec![0; self.programs.len()],
            generations,
        });
        self.observer.event(Event::Phase(format!(
            "loading {} tables with {} workers (snapshot {})",
            self.programs.len(),
            self.settings.jobs,
            snapshot.id
        )));
        let slot = tokio::sync::Mutex::new(SnapshotSlot {
            current: snapshot,
            generation: u32::from(self.resuming),
        });
        let workers = (0..self.settings.jobs.max(1)).map(|_| self.worker(&slot, &load));
        futures_util::future::try_join_all(workers).await?;
        drop(slot);
        let LoadState {
            mut tallies,
            elapsed_ms,
            generations,
            ..
        } = load.into_inner().expect("load state lock");
        let mixed: Vec<bool> = generations.iter().map(|g| g.len() > 1).collect();

        drill_pause("load").await;
        if cleaned.len() == self.programs.len() && !cleaned.is_empty() {
            // Killed after the clean-up committed: its tallies are the ones to keep.
            for (name, t) in cleaned {
                if let Some(i) = self.programs.iter().position(|p| p.target.name == name) {
                    let source_rows = tallies[i].source_rows;
                    tallies[i] = TableTally { source_rows, ..t };
                }
            }
            self.constrain(target, &mut tallies).await?;
        } else {
            self.finish_tables(target, &mut tallies, &mixed).await?;
        }

        let mut tables = Vec::new();
        for (i, p) in self.programs.iter().enumerate() {
            let t = &tallies[i];
            let k = choose_k(t.loaded_rows);
            let folded = t.leaves.fold(k);
            tables.push(TableManifest {
                source: p.source.dotted(),
                target: p.target.dotted(),
                source_rows: t.source_rows,
                loaded_rows: t.loaded_rows,
                rejected_rows: t.rejected,
                nulled_values: t.nulled,
                digest_columns: p.target_columns.iter().map(|c| c.name.clone()).collect(),
                key_columns: p
                    .key
                    .iter()
                    .map(|&k| p.target_columns[k].name.clone())
                    .collect(),
                k,
                root: hex::encode(folded.root()),
                leaves: folded.to_base64(),
                elapsed_ms: elapsed_ms[i],
            });
        }
        let manifest = Manifest {
            run_id: self.stage.run_id.clone(),
            kind: "migrate-full".into(),
            hash_version: HASH_VERSION,
            mapping_hash: mapping_hash.to_string(),
            snapshot: Some(snapshot_id.clone()),
            started_at: started.to_rfc3339(),
            finished_at: chrono::Utc::now().to_rfc3339(),
            previous_schema: Some(self.stage.prev.clone()),
            horizon: Some(horizon.clone()),
            tables,
        };
        self.observer
            .event(Event::Phase("swapping the new tables in".into()));
        let json =
            serde_json::to_value(&manifest).map_err(|e| EngineError::runtime(e.to_string()))?;
        let created: std::collections::HashSet<String> = self.created.keys().cloned().collect();
        let watermarks: Vec<(String, String)> = self
            .programs
            .iter()
            .filter_map(|p| p.cursor.clone().map(|c| (p.target.name.clone(), c)))
            .collect();
        let extras = crate::swap::SwapExtras {
            created: &created,
            watermarks: &watermarks,
            horizon: &horizon,
            manifest: &json,
            snapshot: &snapshot_id,
        };
        swap(target, self.stage, self.programs, self.ddl, &extras, state).await?;
        Ok(manifest)
    }

    /// One load worker: a source reader in the snapshot and a target writer, taking chunks
    /// from the shared queue until it is empty. A transient failure (connection lost, backend
    /// terminated, serialization failure) redoes only the affected chunk, on fresh connections,
    /// with backoff, up to [`MAX_ATTEMPTS`]; anything else fails the run.
    async fn worker(
        &self,
        slot: &tokio::sync::Mutex<SnapshotSlot>,
        load: &Mutex<LoadState>,
    ) -> Result<()> {
        // The connections, and the generation of the snapshot the reader joined.
        let mut conns: Option<(Client, Client, u32)> = None;
        loop {
            let next = {
                let mut st = load.lock().expect("load state lock");
                let c = st.queue.pop_front();
                if let Some(c) = &c {
                    if st.started[c.table].is_none() {
                        st.started[c.table] = Some(Instant::now());
                        let p = &self.programs[c.table];
                        self.observer.event(Event::TableStarted {
                            table: p.target.name.clone(),
                            estimated_rows: p.source.estimated_rows.max(0) as u64,
                        });
                    }
                }
                c
            };
            let Some(chunk) = next else { return Ok(()) };
            let program = &self.programs[chunk.table];
            let mut attempt = 1;
            let done = loop {
                let result = async {
                    if conns.is_none() {
                        let (id, generation) = {
                            let s = slot.lock().await;
                            (s.current.id.clone(), s.generation)
                        };
                        match self.connect_pair(&id).await {
                            Err(e) if e.kind == ErrorKind::SnapshotLost => {
                                self.renew_snapshot(slot, generation).await?;
                                return Err(e);
                            }
                            pair => {
                                let (reader, writer) = pair?;
                                conns = Some((reader, writer, generation));
                            }
                        }
                    }
                    let (reader, writer, generation) = conns.as_ref().expect("connected above");
                    Ok((self.load_chunk(reader, writer, &chunk).await?, *generation))
                }
                .await;
                match result {
                    Ok((done, generation)) => {
                        let mut st = load.lock().expect("load state lock");
                        st.generations[chunk.table].insert(generation);
                        break done;
                    }
                    Err(e) if e.kind == ErrorKind::SnapshotLost && attempt < MAX_ATTEMPTS => {
                        attempt += 1;
                    }
                    Err(e) if e.is_transient() && attempt < MAX_ATTEMPTS => {
                        tracing::warn!(
                            table = %program.target.name,
                            chunk = chunk.index + 1,
                            of = chunk.of,
                            attempt,
                            cause = %e.message,
                            "transient failure, retrying the chunk"
                        );
                        self.observer.event(Event::Warning(format!(
                            "table `{}` chunk {}/{}: {}; retrying (attempt {} of {MAX_ATTEMPTS})",
                            program.target.name,
                            chunk.index + 1,
                            chunk.of,
                            e.message,
                            attempt + 1
                        )));
                        conns = None; // dropping them aborts whatever was open
                        tokio::time::sleep(backoff(attempt)).await;
                        attempt += 1;
                    }
                    Err(e) => {
                        return Err(e.context(format!(
                            "table `{}` (chunk {}/{})",
                            program.target.name,
                            chunk.index + 1,
                            chunk.of
                        )))
                    }
                }
            };
            let finished = {
                let mut st = load.lock().expect("load state lock");
                let t = &mut st.tallies[chunk.table];
                t.leaves.merge(&done.leaves);
                t.source_rows += done.source_rows;
                t.loaded_rows += done.loaded_rows;
                t.rejected += done.rejected;
                t.nulled += done.nulled;
                st.chunks_left[chunk.table] -= 1;
                if st.chunks_left[chunk.table] == 0 {
                    let ms = st.started[chunk.table]
                        .map(|s| s.elapsed().as_millis() as u64)
                        .unwrap_or(0);
                    st.elapsed_ms[chunk.table] = ms;
                    Some((
                        st.tallies[chunk.table].loaded_rows,
                        st.tallies[chunk.table].rejected,
                    ))
                } else {
                    None
                }
            };
            if !self
                .first_chunk
                .swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                drill_pause("chunk").await;
            }
            if let Some((rows, rejected)) = finished {
                self.observer.event(Event::TableFinished {
                    table: program.target.name.clone(),
                    rows,
                    rejected,
                });
                if self.opts.drill_fail_after.as_deref() == Some(program.target.name.as_str()) {
                    return Err(EngineError::runtime(format!(
                        "rollback drill: failing on purpose after loading `{}` (--drill-fail-after); the target is unchanged",
                        program.target.name
                    )));
                }
            }
        }
    }

    /// The source lost the exported snapshot (its session ended: a restart, a terminated
    /// backend). Exports a new one, once for all workers, unless another worker already did:
    /// the chunks left are read in it, as a resumed run's are.
    async fn renew_snapshot(
        &self,
        slot: &tokio::sync::Mutex<SnapshotSlot>,
        lost: u32,
    ) -> Result<()> {
        let mut s = slot.lock().await;
        if s.generation != lost {
            return Ok(());
        }
        let mut attempt = 1;
        let fresh = loop {
            match export_snapshot(&self.settings.source).await {
                Ok(fresh) => break fresh,
                Err(e) if e.is_transient() && attempt < MAX_ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e.context("cannot export a new snapshot on the source")),
            }
        };
        tracing::warn!(old = %s.current.id, new = %fresh.id, "source snapshot lost, renewed");
        self.observer.event(Event::Warning(format!(
            "the source's exported snapshot {} is gone (server restart or terminated session); \
             the chunks left are read in a new snapshot {} (rows changed in between are carried \
             by the next delta-sync)",
            s.current.id, fresh.id
        )));
        s.current = fresh;
        s.generation += 1;
        Ok(())
    }

    /// A source reader in the snapshot and a target writer.
    async fn connect_pair(&self, snapshot: &str) -> Result<(Client, Client)> {
        let reader = open_reader(&self.settings.source, Some(snapshot)).await?;
        let writer = self.settings.target.connect().await?;
        writer
            .batch_execute("SET synchronous_commit = off")
            .await
            .map_err(|e| PgError::db("cannot configure the target session", e))?;
        Ok((reader, writer))
    }

    /// Loads one chunk in one target transaction, with its rejects and its checkpoint: the
    /// chunk is either wholly committed and checkpointed, or not at all.
    async fn load_chunk(
        &self,
        reader: &Client,
        writer: &Client,
        chunk: &Chunk,
    ) -> Result<TableTally> {
        let program = &self.programs[chunk.table];
        let single = chunk.of == 1;
        let select = select_sql(program, (!single).then_some(chunk), None);
        let mut setup = String::from("BEGIN;");
        if single {
            setup.push_str(&self.create_sql(program));
            setup.push(';');
        }
        writer.batch_execute(&setup).await.map_err(|e| {
            PgError::db(
                format!("cannot prepare the load of `{}`", program.target.name),
                e,
            )
        })?;
        let worker = ChunkWorker::new(program.clone(), true, self.observer.clone());
        let done = run_chunk(
            reader,
            &copy_out_sql(&select),
            Some((writer, &self.stage.copy_in_sql(program, single))),
            worker,
        )
        .await?;
        self.stage
            .write_rejects(writer, &program.target.name, &done.rejects)
            .await?;
        let tally = TableTally {
            leaves: done.leaves,
            source_rows: done.rows_read,
            loaded_rows: done.rows_written,
            rejected: done.rejects.len() as u64,
            nulled: done.nulled,
        };
        checkpoint::record_chunk(
            writer,
            self.stage,
            &program.target.name,
            chunk.index,
            &tally,
        )
        .await?;
        writer.batch_execute("COMMIT").await.map_err(|e| {
            PgError::db(
                format!("cannot commit the load of `{}`", program.target.name),
                e,
            )
        })?;
        Ok(tally)
    }

    /// Rejects what the target's constraints would refuse (in one transaction, checkpointed
    /// with the corrected tallies), then builds indexes and constraints.
    async fn finish_tables(
        &self,
        target: &Client,
        tallies: &mut [TableTally],
        mixed: &[bool],
    ) -> Result<()> {
        let rebuilds = self.rebuilds(target).await?;
        self.observer.event(Event::Phase(
            "checking CHECK constraints and foreign keys".into(),
        ));
        target
            .batch_execute("BEGIN")
            .await
            .map_err(|e| PgError::db("cannot begin the clean-up", e))?;
        for (i, p) in self.programs.iter().enumerate() {
            if mixed[i] {
                let n = drop_stale_duplicates(target, self.stage, p, &mut tallies[i]).await?;
                if n > 0 {
                    self.observer.event(Event::Warning(format!(
                        "table `{}`: {n} row(s) changed in the source between the run's snapshots \
                         were staged twice; the newer version of each is kept",
                        p.target.name
                    )));
                }
            }
            reject_check_violations(target, self.stage, p, &rebuilds[i].checks, &mut tallies[i])
                .await?;
            reject_domain_violations(
                target,
                self.stage,
                p,
                &rebuilds[i].domain_checks,
                &mut tallies[i],
            )
            .await?;
        }
        self.orphans_and_checkpoint(target, tallies, "the clean-up")
            .await?;
        drill_pause("cleanup").await;
        self.constrain(target, tallies).await
    }

    /// The last steps of a clean-up transaction: the rows orphaned by the rejects so far
    /// become rejects too (until nothing changes), the tallies are checkpointed, and it
    /// commits.
    async fn orphans_and_checkpoint(
        &self,
        target: &Client,
        tallies: &mut [TableTally],
        what: &str,
    ) -> Result<()> {
        resolve_orphans(
            target,
            self.stage,
            self.programs,
            self.ddl,
            tallies,
            crate::cleanup::Parents::Staged,
        )
        .await?;
        let named: Vec<(String, &TableTally)> = self
            .programs
            .iter()
            .zip(tallies.iter())
            .map(|(p, t)| (p.target.name.clone(), t))
            .collect();
        checkpoint::record_cleaned(target, self.stage, &named).await?;
        target
            .batch_execute("COMMIT")
            .await
            .map_err(|e| PgError::db(format!("cannot commit {what}"), e))?;
        Ok(())
    }

    /// Builds the indexes and constraints. When a unique index cannot be built because staged
    /// rows share its key, the rows after the first of each key (in key order) become rejects,
    /// with the rows that referenced them, in one transaction checkpointed like the clean-up,
    /// and the build runs again. (Searched only then: it sorts each table once per unique
    /// index.)
    async fn constrain(&self, target: &Client, tallies: &mut [TableTally]) -> Result<()> {
        let first = match self.build_constraints(target).await {
            Err(e) if e.kind == ErrorKind::UniqueViolation => e,
            done => return done,
        };
        self.observer.event(Event::Phase(
            "rejecting rows that duplicate a unique key".into(),
        ));
        let rebuilds = self.rebuilds(target).await?;
        target
            .batch_execute("BEGIN")
            .await
            .map_err(|e| PgError::db("cannot begin the clean-up of duplicates", e))?;
        let mut n = 0;
        for (i, p) in self.programs.iter().enumerate() {
            let found = reject_duplicates(
                target,
                self.stage,
                p,
                &rebuilds[i].duplicates,
                &mut tallies[i],
            )
            .await?;
            if found > 0 {
                self.observer.event(Event::Warning(format!(
                    "table `{}`: {found} row(s) duplicate the key of a unique index and are \
                     rejected (the row first in key order of each key is kept)",
                    p.target.name
                )));
            }
            n += found;
        }
        if n == 0 {
            let _ = target.batch_execute("ROLLBACK").await;
            return Err(first);
        }
        self.orphans_and_checkpoint(target, tallies, "the clean-up of duplicates")
            .await?;
        self.build_constraints(target).await
    }

    async fn rebuilds(&self, target: &Client) -> Result<Vec<Rebuild>> {
        let staged: HashMap<String, ()> = self
            .programs
            .iter()
            .map(|p| (p.target.name.clone(), ()))
            .collect();
        let empty = cutover_postgres::catalog::TableDdl::default();
        let mut rebuilds: Vec<Rebuild> = Vec::new();
        for p in self.programs {
            let d = self.ddl.get(&p.target.name).unwrap_or(&empty);
            rebuilds.push(rebuild_sql(target, self.stage, p, d, &staged).await?);
        }
        Ok(rebuilds)
    }

    /// Builds the indexes in parallel, adds the keys and the foreign keys (`NOT VALID`, which
    /// reads nothing), then, in parallel, adds each table's checks (one scan a table) and
    /// validates the foreign keys, and gathers each table's statistics (`ANALYZE`).
    /// Idempotent, so a resumed run killed half-way through it can run it again: existing
    /// indexes and constraints are kept, and validating a valid constraint does nothing.
    async fn build_constraints(&self, target: &Client) -> Result<()> {
        let rebuilds = self.rebuilds(target).await?;
        let retypes: VecDeque<String> = rebuilds.iter().filter_map(|r| r.retype.clone()).collect();
        if !retypes.is_empty() {
            self.observer
                .event(Event::Phase("giving domain columns their type back".into()));
            self.run_parallel(retypes, "cannot give a column its domain type back")
                .await?;
        }
        self.observer.event(Event::Phase("building indexes".into()));
        let indexes = rebuilds
            .iter()
            .flat_map(|r| r.indexes.iter().map(|sql| if_not_exists(sql)));
        self.run_parallel(indexes.collect(), "cannot build an index")
            .await?;

        self.observer
            .event(Event::Phase("adding constraints".into()));
        let existing: Vec<String> = target
            .query(
                "SELECT conname::text FROM pg_catalog.pg_constraint c
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = $1",
                &[&self.stage.schema],
            )
            .await
            .map_err(|e| PgError::db("cannot list the staged constraints", e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for sql in rebuilds
            .iter()
            .flat_map(|r| r.constraints.iter().chain(r.foreign_keys.iter()))
        {
            if existing
                .iter()
                .any(|name| sql.contains(&format!("ADD CONSTRAINT {} ", quote_ident(name))))
            {
                continue;
            }
            target
                .batch_execute(sql)
                .await
                .map_err(|e| PgError::db(format!("cannot add a constraint (`{sql}`)"), e))?;
        }
        // Checks first: adding one locks its table, which the foreign keys' validations of
        // that table (and of the tables referencing it) then wait for.
        let checks = rebuilds.iter().flat_map(|r| r.add_checks(&existing));
        let validations = rebuilds.iter().flat_map(|r| r.validations.iter().cloned());
        self.run_parallel(
            checks.chain(validations).collect(),
            "cannot validate a constraint",
        )
        .await?;

        // The tables go live with planner statistics: the first queries after the swap are
        // planned on the new rows, not on an empty table's defaults (autovacuum would get
        // there, a minute or more later).
        self.observer
            .event(Event::Phase("gathering planner statistics".into()));
        let analyze = self
            .programs
            .iter()
            .map(|p| format!("ANALYZE {}", self.stage.table(&p.target.name)));
        self.run_parallel(analyze.collect(), "cannot gather statistics")
            .await
    }

    /// Runs independent statements on `--jobs` sessions of the target, each taking the next
    /// from the queue; a statement that fails transiently is retried on a new session.
    async fn run_parallel(&self, statements: VecDeque<String>, what: &str) -> Result<()> {
        let queue = Mutex::new(statements);
        let workers = (0..self.settings.jobs.max(1)).map(|_| async {
            let connect = || async {
                let c = self.settings.target.connect().await?;
                c.batch_execute("SET maintenance_work_mem = '512MB'")
                    .await
                    .map_err(|e| PgError::db("cannot configure a target session", e))?;
                Ok::<Client, EngineError>(c)
            };
            let mut c = connect().await?;
            loop {
                let next = queue.lock().expect("statement queue lock").pop_front();
                let Some(sql) = next else {
                    return Ok::<(), EngineError>(());
                };
                let mut attempt = 1;
                loop {
                    match c.batch_execute(&sql).await {
                        Ok(()) => break,
                        Err(e) => {
                            let e: EngineError = PgError::db(format!("{what} (`{sql}`)"), e).into();
                            if !e.is_transient() || attempt >= MAX_ATTEMPTS {
                                return Err(e);
                            }
                            tracing::warn!(statement = %sql, attempt, cause = %e.message, "retrying");
                            tokio::time::sleep(backoff(attempt)).await;
                            attempt += 1;
                            c = connect().await?;
                        }
                    }
                }
            }
        });
        futures_util::future::try_join_all(workers).await?;
        Ok(())
    }
}

/// `CREATE [UNIQUE] INDEX name …` → `CREATE [UNIQUE] INDEX IF NOT EXISTS name …`.
fn if_not_exists(sql: &str) -> String {
    for head in ["CREATE UNIQUE INDEX ", "CREATE INDEX "] {
        if let Some(rest) = sql.strip_prefix(head) {
            return format!("{head}IF NOT EXISTS {rest}");
        }
    }
    sql.to_string()
}

/// Refuses (before writing anything) to replace target tables that hold rows no earlier
/// `migrate full` loaded: a target that should be empty but is not is more likely the wrong
/// database than data to throw away. `--overwrite` says it is meant.
async fn refuse_foreign_rows(
    target: &Client,
    state: &StateSchema,
    programs: &[TableProgram],
    created: &HashMap<String, Vec<cutover_postgres::catalog::ColumnDef>>,
) -> Result<()> {
    let runs = state.table("runs");
    let has_state = target
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&runs])
        .await
        .map_err(|e| PgError::db("cannot read the state schema", e))?
        .get::<_, bool>(0);
    let mut loaded = std::collections::HashSet::new();
    if has_state {
        for row in target
            .query(
                &format!(
                    "SELECT DISTINCT t->>'target' FROM {runs},
                            jsonb_array_elements(manifest->'tables') t
                     WHERE kind = 'migrate-full' AND status IN ('complete', 'finalized')"
                ),
                &[],
            )
            .await
            .map_err(|e| PgError::db("cannot read earlier runs", e))?
        {
            loaded.insert(row.get::<_, String>(0));
        }
    }
    let mut foreign = Vec::new();
    for p in programs {
        let name = p.target.dotted();
        if created.contains_key(&p.target.name) || loaded.contains(&name) {
            continue;
        }
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {}.{})",
            quote_ident(&p.target.schema),
            quote_ident(&p.target.name)
        );
        let rows: bool = target
            .query_one(&sql, &[])
            .await
            .map_err(|e| PgError::db(format!("cannot read target table `{name}`"), e))?
            .get(0);
        if rows {
            foreign.push(format!("`{name}`"));
        }
    }
    if foreign.is_empty() {
        return Ok(());
    }
    Err(EngineError::config(format!(
        "target table(s) {} already hold rows that no earlier cutover run loaded, and migrate \
         full would replace them; nothing was written. Check that --target is the right \
         database, then empty them or re-run with --overwrite (their contents are kept for \
         `cutover rollback` until `cutover finalize`)",
        foreign.join(", ")
    )))
}

/// The run `--resume` continues: the given one, or the latest unfinished `migrate full`; it
/// must have been killed (status still `running`) with its staging schema in place.
async fn resumable_run(
    target: &Client,
    state: &StateSchema,
    wanted: Option<&str>,
) -> Result<String> {
    let row = target
        .query_opt(
            &format!(
                "SELECT run_id, status FROM {} WHERE kind = 'migrate-full' AND ($1::text IS NULL OR run_id = $1)
                 ORDER BY started_at DESC LIMIT 1",
                state.table("runs")
            ),
            &[&wanted],
        )
        .await
        .map_err(|e| PgError::db("cannot look for the run to resume", e))?;
    let Some(row) = row else {
        return Err(EngineError::config(match wanted {
            Some(id) => format!("--resume: no migrate full run `{id}` in the target"),
            None => "--resume: no migrate full run to resume in the target".to_string(),
        }));
    };
    let (id, status): (String, String) = (row.get(0), row.get(1));
    if status != "running" {
        return Err(EngineError::config(format!(
            "--resume: run {id} is {status}, not interrupted; start a new run instead"
        )));
    }
    let stage_exists: bool = target
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
            &[&format!("_cutover_stage_{id}")],
        )
        .await
        .map_err(|e| PgError::db("cannot look for the run's staging schema", e))?
        .get(0);
    if !stage_exists {
        return Err(EngineError::config(format!(
            "--resume: the staging schema of run {id} is gone; start a new run"
        )));
    }
    Ok(id)
}
