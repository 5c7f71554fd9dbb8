"""The jobs the harness times: each prepares its target so every run starts equal, names the
command to time, and checks what the command did (so a fast wrong run is not a result)."""
import dataclasses
import json
import re
import shlex
import shutil
from dataclasses import dataclass

from setup import DSYNC_SINCE


@dataclass
class Job:
    name: str
    what: str
    # Setup pieces it needs (see harness.Setup): contacts, crm, same, diff, dsync, crm_loaded.
    needs: tuple
    # Tools it needs: pgcopydb, pgloader, reladiff, or a cutover subcommand ("cutover:validate").
    tools: tuple = ()
    # Exit codes of a run that worked (reconcile exits 1 when it finds differences).
    ok_codes: tuple = (0,)
    prepare: object = None  # fn(ctx, run_dir) -> argv
    check: object = None    # fn(ctx, run_dir, stdout) -> (ok: bool, note: str, facts: dict)


def _fresh_target(ctx, ddl=None, ddl_file=None):
    db = ctx.pg.name("dst")
    ctx.pg.create(db)
    if ddl:
        ctx.pg.psql(db, file=ddl)
    if ddl_file:
        ctx.pg.psql(db, file=ddl_file)
    return db


def _count_check(ctx, db):
    expected = ctx.rows
    n = int(ctx.pg.scalar(db, "select count(*) from contacts"))
    return n == expected, f"{n} rows" + ("" if n == expected else f", expected {expected}"), {}


def _indexes_check(ctx, db):
    """Rows copied, and the PK and the updated_at index in place."""
    ok, note, facts = _count_check(ctx, db)
    idx = int(ctx.pg.scalar(db, "select count(*) from pg_indexes where tablename = 'contacts'"))
    if idx < 2:
        return False, f"{note}; {idx} indexes on contacts, expected 2 (PK + updated_at)", facts
    return ok, note, facts


# ------------------------------------------------------------------ competitors

def raw_prepare(ctx, run_dir):
    db = _fresh_target(ctx, ddl=ctx.ddl_pre)
    src, dst = shlex.join(ctx.pg.psql_args(ctx.src)), shlex.join(ctx.pg.psql_args(db))
    script = (f"set -euo pipefail; {src} -c 'copy contacts to stdout (format binary)' | "
              f"{dst} -c 'copy contacts from stdin (format binary)'; "
              f"{dst} -f {shlex.quote(str(ctx.ddl_post))}")
    return ["bash", "-c", script]


def pgcopydb_prepare(ctx, run_dir):
    db = _fresh_target(ctx)
    work = run_dir / "pgcopydb"
    shutil.rmtree(work, ignore_errors=True)
    return ["pgcopydb", "clone", "--source", ctx.pg.url(ctx.src), "--target", ctx.pg.url(db),
            "--table-jobs", "2", "--index-jobs", "2", "--dir", str(work), "--no-owner",
            "--skip-extensions"]


def pgloader_prepare(ctx, run_dir):
    db = _fresh_target(ctx)
    load = run_dir / "pgloader.load"
    pg_url = lambda d: ctx.pg.url(d).replace("postgres://", "postgresql://", 1)  # noqa: E731
    load.write_text(f"LOAD DATABASE FROM {pg_url(ctx.src)} INTO {pg_url(db)}\n"
                    "WITH include drop, create tables, create indexes, workers = 2, "
                    "concurrency = 1;\n")
    # Debian's pgloader runs SBCL with a 1 GB heap, which its row queues outgrow within
    # seconds at 5M rows ("Heap exhausted, game over", in every run from 2026-11-22 to
    # 2026-12-02). SBCL's runtime option gives it 4 GB; the load command is the protocol's.
    return ["pgloader", "--dynamic-space-size", "4096", str(load)]


def reladiff_prepare(pair):
    def prepare(ctx, run_dir):
        a, b = ctx.pairs[pair]
        return [str(ctx.reladiff), ctx.pg.url(a).replace("postgres://", "postgresql://", 1),
                "contacts", ctx.pg.url(b).replace("postgres://", "postgresql://", 1), "contacts",
                "-k", "id", "-c", "%", "--stats", "-j", "2"]
    return prepare


def parse_reladiff_stats(text):
    """(exclusive to A, exclusive to B, updated) from `reladiff --stats`, or None."""
    def grab(pattern):
        m = re.search(pattern, text)
        return int(m.group(1)) if m else None
    a = grab(r"(\d+) rows exclusive to table A")
    b = grab(r"(\d+) rows exclusive to table B")
    u = grab(r"(\d+) rows updated")
    return None if None in (a, b, u) else {"missing": a, "extra": b, "changed": u}


def reladiff_check(expected):
    def check(ctx, run_dir, stdout):
        got = parse_reladiff_stats(stdout)
        if got is None:
            return False, "no --stats in reladiff's output", {}
        note = f"{got['missing']} / {got['extra']} / {got['changed']} (A only / B only / updated)"
        return got == expected, note, {"counts": got}
    return check


# ------------------------------------------------------------------ cutover

def identity_prepare(ctx, run_dir):
    db = _fresh_target(ctx, ddl=ctx.ddl_full)
    return [str(ctx.cutover), "migrate", "full", "--quiet", "--source", ctx.pg.url(ctx.src),
            "--target", ctx.pg.url(db), "--manifest", str(run_dir / "manifest.json")]


def crm_prepare(ctx, run_dir):
    db = _fresh_target(ctx, ddl_file=ctx.repo / "fixtures/crm/target.sql")
    return [str(ctx.cutover), "migrate", "full", "--quiet", "--source",
            ctx.pg.url(ctx.crm_src), "--target", ctx.pg.url(db), "--mapping",
            str(ctx.repo / "mappings/crm.toml"), "--manifest", str(run_dir / "manifest.json")]


def crm_identity_prepare(ctx, run_dir):
    """The CRM target's own tables (as `migrate full` of the CRM mapping left them) copied
    with the identity mapping into a fresh CRM schema: the same tables, rows, indexes, checks
    and foreign keys as `migrate-crm`, without its transforms."""
    db = _fresh_target(ctx, ddl_file=ctx.repo / "fixtures/crm/target.sql")
    return [str(ctx.cutover), "migrate", "full", "--quiet", "--schema", "crm", "--source",
            ctx.pg.url(ctx.crm_loaded), "--target", ctx.pg.url(db), "--manifest",
            str(run_dir / "manifest.json")]


CRM_TABLES = ("users", "accounts", "contacts", "leads", "opportunities", "tasks", "audit_log")


def crm_check(ctx, run_dir, stdout):
    """Every legacy row loaded except the fixture's oracle of rejects."""
    count = " + ".join(f"(select count(*) from crm.{t})" for t in CRM_TABLES)
    loaded = int(ctx.pg.scalar(ctx.pg.name("dst"), f"select {count}"))
    expected = ctx.crm_rows - ctx.crm_rejects
    note = f"{loaded} rows loaded" + ("" if loaded == expected else f", expected {expected}")
    return loaded == expected, note, {}


def reconcile_prepare(pair):
    def prepare(ctx, run_dir):
        a, b = ctx.pairs[pair]
        return [str(ctx.cutover), "reconcile", "--quiet", "--source", ctx.pg.url(a), "--target",
                ctx.pg.url(b), "--output", str(run_dir / "report.csv"), "--json",
                str(run_dir / "report.json")]
    return prepare


def _find_table_report(node):
    if isinstance(node, dict):
        if "missing_in_target" in node:
            return node
        node = list(node.values())
    if isinstance(node, list):
        for v in node:
            found = _find_table_report(v)
            if found:
                return found
    return None


def reconcile_check(expected):
    def check(ctx, run_dir, stdout):
        try:
            t = _find_table_report(json.loads((run_dir / "report.json").read_text()))
        except (OSError, ValueError) as e:
            return False, f"no report.json: {e}", {}
        if t is None:
            return False, "report.json has no table report", {}
        got = {"missing": t["missing_in_target"], "extra": t["extra_in_target"],
               "changed": t["changed"]}
        note = f"{got['missing']} / {got['extra']} / {got['changed']} (missing / extra / changed)"
        return got == expected, note, {"counts": got}
    return check


def delta_prepare(ctx, run_dir):
    db = ctx.pg.name("dsync_dst")
    ctx.pg.create(db, template=ctx.dsync_base)
    return [str(ctx.cutover), "migrate", "delta-sync", "--quiet", "--source",
            ctx.pg.url(ctx.dsync_src), "--target", ctx.pg.url(db), "--cursor", "updated_at",
            "--since", DSYNC_SINCE]


def raw_merge_prepare(ctx, run_dir):
    """What any set-based merge must make the server do, and no more: the changed rows (those
    delta-sync reads) piped into a temporary table, then one `UPDATE … FROM` it, in one
    transaction. delta-sync's floor, as the raw pipe is migrate full's."""
    db = ctx.pg.name("dsync_dst")
    ctx.pg.create(db, template=ctx.dsync_base)
    sets = ctx.pg.scalar(db, "select string_agg(format('%I = s.%I', attname, attname), ', ' "
                             "order by attnum) from pg_attribute where attrelid = "
                             "'contacts'::regclass and attnum > 0 and not attisdropped "
                             "and attname <> 'id'")
    src, dst = shlex.join(ctx.pg.psql_args(ctx.dsync_src)), shlex.join(ctx.pg.psql_args(db))
    out = (f"copy (select * from contacts where updated_at >= timestamptz '{DSYNC_SINCE}') "
           "to stdout (format binary)")
    steps = ["create temp table s (like contacts)", "copy s from stdin (format binary)",
             f"update contacts c set {sets} from s where c.id = s.id"]
    script = (f"set -euo pipefail; {src} -c {shlex.quote(out)} | {dst} -1 "
              + " ".join(f"-c {shlex.quote(q)}" for q in steps))
    return ["bash", "-c", script]


def delta_check(ctx, run_dir, stdout):
    db = ctx.pg.name("dsync_dst")
    n = int(ctx.pg.scalar(db, f"select count(*) from contacts where {ctx.dsync_marker}"))
    return n == ctx.dsync_changed, f"{n} of {ctx.dsync_changed} changed rows in the target", {}


def reconcile_manifest_prepare(ctx, run_dir):
    return [str(ctx.cutover), "reconcile", "--quiet", "--source", ctx.pg.url(ctx.src), "--target",
            ctx.pg.url(ctx.loaded), "--against-manifest", str(ctx.loaded_manifest), "--output",
            str(run_dir / "report.csv"), "--json", str(run_dir / "report.json")]


def validate_prepare(ctx, run_dir):
    return [str(ctx.cutover), "validate", "--quiet", "--target", ctx.pg.url(ctx.crm_loaded),
            "--mapping", str(ctx.repo / "mappings/crm.toml"), "--output",
            str(run_dir / "summary.json"), "--findings", str(run_dir / "findings.csv")]


DIFF = {"missing": 250, "extra": 251, "changed": 499}
SAME = {"missing": 0, "extra": 0, "changed": 0}

JOBS = [
    Job("raw", "raw binary COPY pipe, PK + index built after", ("contacts",),
        prepare=raw_prepare, check=lambda c, d, o: _indexes_check(c, c.pg.name("dst"))),
    Job("pgcopydb", "pgcopydb clone (2 table jobs, 2 index jobs)", ("contacts",), ("pgcopydb",),
        prepare=pgcopydb_prepare, check=lambda c, d, o: _indexes_check(c, c.pg.name("dst"))),
    Job("pgloader", "pgloader pg→pg (workers 2, concurrency 1, 4 GB heap)", ("contacts",), ("pgloader",),
        prepare=pgloader_prepare, check=lambda c, d, o: _indexes_check(c, c.pg.name("dst"))),
    Job("migrate-identity", "cutover migrate full, identity (target has PK + index)",
        ("contacts",), ("cutover:migrate full",), prepare=identity_prepare,
        check=lambda c, d, o: _indexes_check(c, c.pg.name("dst"))),
    Job("migrate-crm", "cutover migrate full, CRM mapping (7 tables)", ("crm",),
        ("cutover:migrate full",), prepare=crm_prepare, check=crm_check),
    # The like-for-like reference of migrate-crm: what its transforms cost, with the schema's
    # work (23 index builds, 14 foreign keys, the checks) on both sides.
    Job("migrate-crm-identity", "cutover migrate full, identity, of the CRM target's 7 tables "
        "(same rows, indexes and constraints; no transforms)", ("crm_loaded",),
        ("cutover:migrate full",), prepare=crm_identity_prepare, check=crm_check),
    Job("reladiff-same", "reladiff, identical tables", ("same",), ("reladiff",),
        prepare=reladiff_prepare("same"), check=reladiff_check(SAME)),
    Job("reconcile-same", "cutover reconcile, identical tables", ("same",),
        ("cutover:reconcile",), prepare=reconcile_prepare("same"), check=reconcile_check(SAME)),
    # The source side's leaves come from the manifest `migrate full` recorded: only the target
    # is read. Not the BENCHMARKS.md target (that is reconcile-same, both sides read).
    Job("reconcile-manifest", "cutover reconcile --against-manifest, identical (target read only)",
        ("loaded",), ("cutover:reconcile", "cutover:migrate full"),
        prepare=reconcile_manifest_prepare, check=reconcile_check(SAME)),
    Job("reladiff-diff", "reladiff, 1,000 scattered differences", ("diff",), ("reladiff",),
        prepare=reladiff_prepare("diff"), check=reladiff_check(DIFF)),
    Job("reconcile-diff", "cutover reconcile, 1,000 scattered differences", ("diff",),
        ("cutover:reconcile",), ok_codes=(1,), prepare=reconcile_prepare("diff"),
        check=reconcile_check(DIFF)),
    # Its setup loads the target with `migrate full`, hence that tool too. Its `what` names the
    # delta: with_delta() rewrites it for --delta-rows.
    Job("delta-sync", "cutover migrate delta-sync, 1 % of rows changed", ("dsync",),
        ("cutover:migrate delta-sync", "cutover:migrate full"), prepare=delta_prepare,
        check=delta_check),
    Job("raw-merge", "raw merge: changed rows piped into a temporary table, one UPDATE … FROM it",
        ("dsync",), ("cutover:migrate full",), prepare=raw_merge_prepare, check=delta_check),
    Job("validate", "cutover validate, CRM target", ("crm_loaded",), ("cutover:validate",),
        ok_codes=(0, 1), prepare=validate_prepare,
        check=lambda c, d, o: (True, "exit 0 or 1", {})),
]

BY_NAME = {j.name: j for j in JOBS}


def with_delta(jobs, changed):
    """The jobs, the delta-sync one described with `changed` rows changed (--delta-rows)."""
    what = f"cutover migrate delta-sync, {changed:,} rows changed"
    return [dataclasses.replace(j, what=what) if j.name == "delta-sync" else j for j in jobs]
