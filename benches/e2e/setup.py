"""What the jobs run on, built once per harness run: the contacts table and its copies (identical,
with 1,000 differences, 1 % or --delta-rows N rows changed for delta-sync), the CRM fixture, and
the competitors."""
import os
import shutil
import subprocess
import sys
import time


def log(msg):
    print(f"e2e: {msg}", flush=True)


def sh(args, **kw):
    return subprocess.run(args, check=True, **kw)


# ------------------------------------------------------------------ tools

def _as_root(args):
    return args if os.geteuid() == 0 else ["sudo", "-n"] + args


def apt_install(packages):
    """apt-get install, with `apt-get update` first only when the package is unknown."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = _as_root(["apt-get", "install", "-y", "-q"] + packages)
    log(f"installing {' '.join(packages)} (apt)")
    if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        sh(_as_root(["apt-get", "update", "-q"]), env=env, stdout=subprocess.DEVNULL)
        sh(cmd, env=env, stdout=subprocess.DEVNULL)


def ensure_tools(e2e_dir, tools):
    """Installs what is missing; returns the reladiff executable (or None if not needed)."""
    missing = [p for p, exe in (("time", "/usr/bin/time"), ("pgcopydb", "pgcopydb"),
                                ("pgloader", "pgloader"))
               if (p == "time" or p in tools) and not shutil.which(exe)]
    if missing:
        apt_install(missing)
    if "reladiff" not in tools:
        return None
    venv = e2e_dir / ".venv"
    reladiff = venv / "bin" / "reladiff"
    if not reladiff.exists():
        log("installing reladiff[postgresql] into benches/e2e/.venv (pip)")
        if subprocess.run([sys.executable, "-m", "venv", str(venv)]).returncode != 0:
            apt_install(["python3-venv"])
            shutil.rmtree(venv, ignore_errors=True)
            sh([sys.executable, "-m", "venv", str(venv)])
        sh([str(venv / "bin" / "pip"), "install", "-q", "reladiff[postgresql]"])
    return reladiff


def tool_versions(tools, reladiff):
    def first_line(args):
        try:
            r = subprocess.run(args, capture_output=True, text=True, timeout=60)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    out = {}
    if "pgcopydb" in tools:
        out["pgcopydb"] = first_line(["pgcopydb", "--version"])
    if "pgloader" in tools:
        out["pgloader"] = first_line(["pgloader", "--version"])
    if reladiff:
        out["reladiff"] = "reladiff " + first_line([str(reladiff), "--version"]).lstrip("v")
    return out


def cutover_has(cutover, command):
    """Whether the built binary has this subcommand (e.g. "migrate delta-sync")."""
    r = subprocess.run([str(cutover)] + command.split() + ["--help"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0


# ------------------------------------------------------------------ data

def scattered_ids(rows):
    """1,000 scattered keys of 1..rows split into 250 to delete from the target, 251 to
    delete from the source (so they are extra in the target) and 499 to update."""
    step = rows // 1000
    ids = [i * step + 1 + i % 7 for i in range(1000)]
    deleted = [ids[i] for i in range(0, 1000, 4)]
    inserted = [ids[i] for i in range(2, 1000, 4)] + [ids[1]]
    updated = [ids[i] for i in range(1000) if i % 4 in (1, 3) and i != 1]
    assert (len(deleted), len(inserted), len(updated)) == (250, 251, 499)
    return deleted, inserted, updated


# contacts.sql's updated_at ends on 2024-12-31: rows changed for delta-sync get a later (past)
# time, and delta-sync reads from DSYNC_SINCE.
DSYNC_SINCE = "2025-01-01"
DSYNC_CHANGED_AT = "2025-06-01"


def dsync_where(rows, delta_rows=None):
    """The rows delta-sync's setup changes: by default 1 % (`id % 100 = 42`); with --delta-rows N,
    exactly N ids spread evenly over 1..rows: floor(i × rows / N) + r for i in 0..N-1, where
    r = 42 mod floor(rows / N) (or floor(rows / N) when that is 0), so the ids are distinct,
    within 1..rows, and N = rows / 100 picks the same ids as the default when 100 divides rows.
    Returns (FROM clause or "", WHERE clause) of an `update contacts c`."""
    if delta_rows is None:
        return "", "c.id % 100 = 42"
    step = rows // delta_rows
    r = 42 % step or step
    return (f"from generate_series(0::bigint, {delta_rows - 1}) g(i)",
            f"c.id = g.i * {rows} / {delta_rows} + {r}")


def cutover(ctx, name, args):
    """Runs cutover for the setup, its output in work/<name>.log (not timed)."""
    with open(ctx.work / f"{name}.log", "w") as out:
        sh([str(ctx.cutover), "--quiet"] + args, stdout=out, stderr=subprocess.STDOUT)


def _array(ids):
    return "array[" + ",".join(map(str, ids)) + "]::bigint[]"


class Setup:
    """Builds only what the selected jobs need; fills the context the jobs read."""

    def __init__(self, ctx):
        self.ctx = ctx

    def timed(self, what, fn):
        t0 = time.monotonic()
        fn()
        log(f"{what}: {time.monotonic() - t0:.1f} s")

    def contacts(self, contacts_sql):
        c, pg = self.ctx, self.ctx.pg
        c.src = pg.name("src")
        pg.create(c.src)
        self.timed(f"contacts table, {c.rows:,} rows",
                   lambda: pg.psql(c.src, file=contacts_sql, variables=[("rows", c.rows)]))
        self.timed("VACUUM ANALYZE source", lambda: pg.psql(c.src, "vacuum analyze"))
        dump = ["pg_dump", "-h", pg.host, "-p", str(pg.port), "-U", pg.user, "-s", "-t",
                "contacts", "--no-owner"]
        for attr, extra in (("ddl_full", []), ("ddl_pre", ["--section=pre-data"]),
                            ("ddl_post", ["--section=post-data"])):
            path = c.work / f"contacts-{attr[4:]}.sql"
            with open(path, "w") as f:
                sh(dump + extra + [c.src], stdout=f)
            setattr(c, attr, path)

    def same(self):
        c = self.ctx
        same = c.pg.name("same")
        self.timed("identical copy", lambda: c.pg.create(same, template=c.src))
        c.pairs["same"] = (c.src, same)

    def diff(self):
        c, pg = self.ctx, self.ctx.pg
        deleted, inserted, updated = scattered_ids(c.rows)
        a, b = pg.name("dsrc"), pg.name("ddst")

        def build():
            pg.create(a, template=c.src)
            pg.create(b, template=c.src)
            pg.psql(a, f"delete from contacts where id = any({_array(inserted)})")
            pg.psql(b, f"delete from contacts where id = any({_array(deleted)}); "
                       "update contacts set email = upper(email), score = score + 1 "
                       f"where id = any({_array(updated)})")
            for db in (a, b):
                pg.psql(db, "vacuum analyze")
        self.timed("copies with 1,000 scattered differences", build)
        c.pairs["diff"] = (a, b)

    def crm(self, scale):
        c, pg = self.ctx, self.ctx.pg
        c.crm_src = pg.name("crm_src")
        pg.create(c.crm_src)
        fx = c.repo / "fixtures" / "crm"

        def build():
            pg.psql(c.crm_src, file=fx / "source.sql")
            pg.psql(c.crm_src, file=fx / "generate.sql", variables=[("scale", scale)])
            pg.psql(c.crm_src, "vacuum analyze")
        self.timed(f"CRM fixture, scale {scale}", build)
        c.crm_rows = 95_884 * scale
        out = pg.psql(c.crm_src, file=fx / "expected_rejects.sql", capture=True)
        c.crm_rejects = sum(int(line.split("|")[-1]) for line in out.splitlines() if line)

    def dsync(self, delta_rows=None):
        """A target loaded by `migrate full` (kept as a template), then 1 % of the source's rows
        (or exactly `delta_rows`, spread evenly: see dsync_where) updated with an `updated_at`
        later than any before. `migrate full` of an identity mapping records no watermark (it
        has no cursor), so the timed runs pass `--since`. Sets ctx.dsync_changed to the real
        count of changed rows."""
        c, pg = self.ctx, self.ctx.pg
        c.dsync_src, c.dsync_base = pg.name("dsync_src"), pg.name("dsync_base")

        def build():
            pg.create(c.dsync_src, template=c.src)
            pg.create(c.dsync_base)
            pg.psql(c.dsync_base, file=c.ddl_full)
            cutover(c, "setup-dsync", ["migrate", "full", "--source", pg.url(c.dsync_src),
                                       "--target", pg.url(c.dsync_base)])
            pg.psql(c.dsync_src, "update contacts c set updated_at = timestamptz "
                    f"'{DSYNC_CHANGED_AT}' + c.id * interval '1 ms', score = c.score + 1 "
                    f"{from_} where {where}")
            pg.psql(c.dsync_src, "vacuum analyze")
        from_, where = dsync_where(c.rows, delta_rows)
        what = "1 % of rows" if delta_rows is None else f"{delta_rows:,} rows"
        self.timed(f"delta-sync source ({what} changed) and loaded target", build)
        c.dsync_marker = f"updated_at >= timestamptz '{DSYNC_CHANGED_AT}'"
        c.dsync_changed = int(pg.scalar(c.dsync_src, f"select count(*) from contacts where "
                                        f"{c.dsync_marker}"))

    def loaded(self):
        """A target loaded from the contacts source by `migrate full` (identity), with the run's
        manifest, for `reconcile --against-manifest`."""
        c, pg = self.ctx, self.ctx.pg
        c.loaded, c.loaded_manifest = pg.name("loaded"), c.work / "loaded-run.json"

        def build():
            pg.create(c.loaded)
            pg.psql(c.loaded, file=c.ddl_full)
            cutover(c, "setup-loaded", ["migrate", "full", "--source", pg.url(c.src), "--target",
                                        pg.url(c.loaded), "--manifest", str(c.loaded_manifest)])
        self.timed("target loaded by migrate full, with its manifest", build)

    def crm_loaded(self):
        c, pg = self.ctx, self.ctx.pg
        c.crm_loaded = pg.name("crm_loaded")

        def build():
            pg.create(c.crm_loaded)
            pg.psql(c.crm_loaded, file=c.repo / "fixtures/crm/target.sql")
            cutover(c, "setup-crm", ["migrate", "full", "--source", pg.url(c.crm_src),
                                     "--target", pg.url(c.crm_loaded), "--mapping",
                                     str(c.repo / "mappings/crm.toml")])
        self.timed("CRM target (for validate and migrate-crm-identity)", build)
