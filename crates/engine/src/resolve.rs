//! Resolution: read the mapping (or build the identity mapping), read both catalogs, compile each
//! table's program, and order the tables so that referenced tables come before referencing ones.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use cutover_core::catalog::TableInfo;
use cutover_core::mapping::{self, Mapping};
use cutover_core::program::{Finding, Severity, TableProgram};
use cutover_postgres::catalog::{self, ColumnDef, TableDdl};
use cutover_postgres::PgError;
use tokio_postgres::Client;

use crate::error::{EngineError, Result};
use crate::settings::Settings;

/// A mapping checked against both catalogs.
pub struct Resolved {
    /// The mapping in force (parsed from the file, or the identity mapping).
    pub mapping: Mapping,
    /// blake3 of the mapping file's bytes (or of the identity mapping's description).
    pub mapping_hash: String,
    /// Programs of the tables that compiled, in foreign-key load order.
    pub programs: Vec<TableProgram>,
    /// DDL (indexes, constraints, sequences) of each target table, by target table name.
    pub ddl: HashMap<String, TableDdl>,
    /// Every BLOCKER and WARNING found.
    pub findings: Vec<Finding>,
    /// Target tables to create (`--create-tables`), with the source's column definitions.
    pub created: HashMap<String, Vec<ColumnDef>>,
    /// BLOCKERs of a full load only, which replaces the target tables (see
    /// [`Resolved::for_full_load`]); other commands read or update them in place.
    pub swap_blockers: Vec<Finding>,
}

impl Resolved {
    /// The resolution as a full load sees it: with the BLOCKERs of replacing the tables.
    pub fn for_full_load(mut self) -> Self {
        self.findings.append(&mut self.swap_blockers);
        self
    }

    /// True when a BLOCKER was found: nothing may be loaded.
    pub fn blocked(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == Severity::Blocker)
    }

    /// An error listing every BLOCKER when there is one: commands that write refuse to start.
    pub fn refuse_blockers(&self) -> Result<()> {
        if !self.blocked() {
            return Ok(());
        }
        let list = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Blocker)
            .map(|f| format!("  BLOCKER {}", crate::migrate::describe(f)))
            .collect::<Vec<_>>()
            .join("\n");
        Err(EngineError::config(format!(
            "the mapping cannot be loaded (run `cutover plan` for the full report):\n{list}"
        )))
    }
}

/// Reads and parses the mapping file named in the settings, if any.
pub fn read_mapping(settings: &Settings) -> Result<Option<(Mapping, String)>> {
    let Some(path) = &settings.mapping else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        EngineError::config(format!("cannot read mapping file {}: {e}", path.display()))
    })?;
    let shown = path.display().to_string();
    let m = mapping::parse(&shown, &text).map_err(|e| EngineError::config(e.to_string()))?;
    Ok(Some((m, mapping::mapping_hash(&text))))
}

/// Resolves the mapping against both databases.
pub async fn resolve(settings: &Settings, source: &Client, target: &Client) -> Result<Resolved> {
    let parsed = read_mapping(settings)?;
    let file = settings
        .mapping
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(identity mapping)".into());
    let (mapping, mapping_hash, source_tables) = match parsed {
        Some((m, h)) => {
            let tables = catalog::tables(source, &m.source_schema).await?;
            (m, h, tables)
        }
        None => {
            let tables = catalog::tables(source, &settings.schema).await?;
            let m = mapping::identity(&tables, &settings.schema, &settings.schema);
            let hash = mapping::mapping_hash(&format!("identity:{}", settings.schema));
            (m, hash, tables)
        }
    };
    // A pseudonymised load is another mapping: a --resume with another key, or none, refuses.
    let mapping_hash = match &settings.pseudonymise {
        Some(key) => mapping::mapping_hash(&format!(
            "{mapping_hash}\npseudonymised:{}",
            key.fingerprint()
        )),
        None => mapping_hash,
    };
    let identity = settings.mapping.is_none();
    let mut target_tables = catalog::tables(target, &mapping.target_schema).await?;
    let mut findings = Vec::new();
    let mut created = HashMap::new();
    if settings.create_tables {
        if !identity {
            findings.push(Finding {
                severity: Severity::Blocker,
                table: None,
                column: None,
                location: None,
                message: "--create-tables works with the identity mapping only (no --mapping): \
                          with a mapping, the target schema is yours to define"
                    .into(),
            });
        } else {
            for s in &source_tables {
                if target_tables.iter().any(|t| t.name == s.name) {
                    continue;
                }
                let cols = catalog::column_defs(source, &s.schema, &s.name).await?;
                for c in &cols {
                    let mut blocker = |message: String| {
                        findings.push(Finding {
                            severity: Severity::Blocker,
                            table: Some(s.name.clone()),
                            column: Some(c.name.clone()),
                            location: None,
                            message: format!("--create-tables: {message}; create it first"),
                        })
                    };
                    if let Some((schema, name)) = &c.user_type {
                        if !catalog::type_exists(target, schema, name).await? {
                            blocker(format!(
                                "type `{schema}.{name}` does not exist in the target"
                            ));
                        }
                    }
                    for (schema, name) in &c.shared_sequences {
                        if !catalog::sequence_exists(target, schema, name).await? {
                            blocker(format!(
                                "the default of `{}` draws from sequence `{schema}.{name}`, \
                                 which the column does not own and the target lacks",
                                c.name
                            ));
                        }
                    }
                }
                created.insert(s.name.clone(), cols);
                target_tables.push(s.clone());
            }
        }
    }
    let src: BTreeMap<&str, &TableInfo> =
        source_tables.iter().map(|t| (t.name.as_str(), t)).collect();
    let dst: BTreeMap<&str, &TableInfo> =
        target_tables.iter().map(|t| (t.name.as_str(), t)).collect();

    let source_parents = catalog::inheritance_parents(source, &mapping.source_schema).await?;
    let target_parents = catalog::inheritance_parents(target, &mapping.target_schema).await?;
    let target_partitioned = catalog::partitioned_tables(target, &mapping.target_schema).await?;
    let mut swap_blockers = Vec::new();
    let mut programs = Vec::new();
    for spec in &mapping.tables {
        let target_name = spec.target.as_deref().unwrap_or(&spec.source);
        findings.extend(inheritance_blockers(
            spec,
            target_name,
            &source_parents,
            &target_parents,
        ));
        if target_partitioned.iter().any(|t| t == target_name) {
            swap_blockers.push(Finding {
                severity: Severity::Blocker,
                table: Some(target_name.to_string()),
                column: None,
                location: None,
                message: format!(
                    "target table `{target_name}` is partitioned: a full load swaps a new table in, \
                     which would not be partitioned (its partitions would stay with the old one); \
                     load a plain target table, and partition it after the cutover"
                ),
            });
        }
        let Some(s) = src.get(spec.source.as_str()) else {
            findings.push(Finding {
                severity: Severity::Blocker,
                table: Some(spec.source.clone()),
                column: None,
                location: None,
                message: format!(
                    "source table `{}.{}` does not exist{}",
                    mapping.source_schema,
                    spec.source,
                    suggest(&spec.source, src.keys().copied())
                ),
            });
            continue;
        };
        let Some(t) = dst.get(target_name) else {
            findings.push(Finding {
                severity: Severity::Blocker,
                table: Some(target_name.to_string()),
                column: None,
                location: None,
                message: format!(
                    "target table `{}.{}` does not exist{} (create it, or use --create-tables with the identity mapping)",
                    mapping.target_schema,
                    target_name,
                    suggest(target_name, dst.keys().copied())
                ),
            });
            continue;
        };
        let (program, mut found) = TableProgram::compile(&mapping, spec, &file, s, t);
        findings.append(&mut found);
        if let Some(mut p) = program {
            if let Some(key) = &settings.pseudonymise {
                findings.append(&mut p.pseudonymise(key));
            }
            programs.push(p);
        }
    }
    let any_pii = programs
        .iter()
        .any(|p| (0..p.target_columns.len()).any(|i| p.is_pii(i)));
    if settings.pseudonymise.is_some() && !any_pii {
        findings.push(Finding {
            severity: Severity::Blocker,
            table: None,
            column: None,
            location: None,
            message: "--pseudonymise: no column of the mapping is marked `pii = true`, so \
                      nothing would be pseudonymised; mark the personal columns"
                .into(),
        });
    }
    findings.extend(large_object_warnings(source, &programs).await?);
    if crate::extract::sql_ascii(source).await? {
        for p in &mut programs {
            p.check_utf8();
        }
        findings.push(Finding {
            severity: Severity::Warning,
            table: None,
            column: None,
            location: None,
            message: "the source database's encoding is SQL_ASCII: its text is read as stored, \
                      and a row with a text value that is not UTF-8 (Latin-1, say) is rejected, \
                      naming the column and the byte"
                .into(),
        });
    }
    let mut ddl = HashMap::new();
    for p in &programs {
        // A table to create takes its indexes and constraints from the source (same schema
        // name on both sides under the identity mapping, so the definitions apply as printed).
        let side = if created.contains_key(&p.target.name) {
            source
        } else {
            target
        };
        let d = catalog::table_ddl(side, &p.target.schema, &p.target.name).await?;
        for dc in &d.pinned_domains {
            findings.push(Finding {
                severity: Severity::Warning,
                table: Some(p.target.name.clone()),
                column: Some(dc.column.clone()),
                location: None,
                message: format!(
                    "generated column `{}` uses this column, so it is loaded as its domain `{}` \
                     (PostgreSQL cannot change its type for the clean-up): a value the domain's \
                     checks refuse stops the load of the table instead of becoming a reject",
                    dc.generated.as_deref().unwrap_or_default(),
                    dc.domain
                ),
            });
        }
        ddl.insert(p.target.name.clone(), d);
    }
    let programs = load_order(programs, &ddl, &mapping.target_schema);
    Ok(Resolved {
        mapping,
        mapping_hash,
        programs,
        ddl,
        findings,
        created,
        swap_blockers,
    })
}

/// A WARNING per mapped source column of type `oid` (or the `lo` domain) when the source has
/// large objects: the column's values are copied, but the objects they name live in
/// `pg_largeobject`, which no table mapping reads.
async fn large_object_warnings(source: &Client, programs: &[TableProgram]) -> Result<Vec<Finding>> {
    let columns: Vec<(&TableProgram, &str)> = programs
        .iter()
        .flat_map(|p| {
            p.source_columns.iter().filter_map(move |c| {
                let info = p.source.column(c)?;
                matches!(info.type_sql.as_str(), "oid" | "lo").then_some((p, c.as_str()))
            })
        })
        .collect();
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let objects: i64 = source
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_largeobject_metadata",
            &[],
        )
        .await
        .map_err(|e| PgError::db("cannot count the source's large objects", e))?
        .get(0);
    if objects == 0 {
        return Ok(Vec::new());
    }
    Ok(columns
        .into_iter()
        .map(|(p, c)| Finding {
            severity: Severity::Warning,
            table: Some(p.target.name.clone()),
            column: None,
            location: None,
            message: format!(
                "source column `{}.{c}` is of type oid and the source holds {objects} large \
                 object(s): the ids are copied, the objects are not (they live in \
                 pg_largeobject); move them with `pg_dump --large-objects` and check the ids",
                p.source.name
            ),
        })
        .collect())
}

/// Tables that other tables inherit from: a read of one includes its children's rows (loaded
/// twice when the children are mapped too), and a swap would leave its children behind. A
/// source parent may be read alone with a row `filter` on `tableoid`; a target parent cannot
/// be replaced.
fn inheritance_blockers(
    spec: &mapping::TableSpec,
    target_name: &str,
    source_parents: &HashMap<String, Vec<String>>,
    target_parents: &HashMap<String, Vec<String>>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let own_rows_only = spec
        .filter
        .as_deref()
        .is_some_and(|f| f.contains("tableoid"));
    if let Some(children) = source_parents.get(&spec.source) {
        if !own_rows_only {
            out.push(Finding {
                severity: Severity::Blocker,
                table: Some(spec.source.clone()),
                column: None,
                location: None,
                message: format!(
                    "source table `{}` is inherited by {}: reading it would read their rows too; \
                     to load its own rows, map it with filter = \"tableoid = '{}'::regclass\"",
                    spec.source,
                    children.join(", "),
                    spec.source
                ),
            });
        }
    }
    if let Some(children) = target_parents.get(target_name) {
        out.push(Finding {
            severity: Severity::Blocker,
            table: Some(target_name.to_string()),
            column: None,
            location: None,
            message: format!(
                "target table `{target_name}` is inherited by {}: it cannot be replaced without \
                 leaving them behind; cutover loads plain and declaratively partitioned tables",
                children.join(", ")
            ),
        });
    }
    out
}

/// Orders programs so that a table comes after the tables its foreign keys reference (Kahn's
/// algorithm; ties by name; cycles broken by name so the order is always deterministic).
pub fn load_order(
    programs: Vec<TableProgram>,
    ddl: &HashMap<String, TableDdl>,
    target_schema: &str,
) -> Vec<TableProgram> {
    let names: BTreeSet<String> = programs.iter().map(|p| p.target.name.clone()).collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for n in &names {
        let mut d = BTreeSet::new();
        if let Some(t) = ddl.get(n) {
            for c in &t.constraints {
                if let Some(fk) = &c.references {
                    if fk.schema == target_schema && fk.table != *n && names.contains(&fk.table) {
                        d.insert(fk.table.clone());
                    }
                }
            }
        }
        deps.insert(n.clone(), d);
    }
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    while done.len() < names.len() {
        let ready: Vec<String> = deps
            .iter()
            .filter(|(n, d)| !done.contains(*n) && d.iter().all(|x| done.contains(x)))
            .map(|(n, _)| n.clone())
            .collect();
        let next = if ready.is_empty() {
            // A cycle: take the first remaining table by name.
            vec![names
                .iter()
                .find(|n| !done.contains(*n))
                .cloned()
                .unwrap_or_default()]
        } else {
            ready
        };
        for n in next {
            done.insert(n.clone());
            order.push(n);
        }
    }
    let mut by_name: HashMap<String, TableProgram> = programs
        .into_iter()
        .map(|p| (p.target.name.clone(), p))
        .collect();
    order
        .into_iter()
        .filter_map(|n| by_name.remove(&n))
        .collect()
}

/// " (did you mean `x`?)" when a candidate is close to `name`.
pub fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min()
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
