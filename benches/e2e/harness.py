"""End-to-end benchmark harness (entry point: benches/e2e/run.sh, which documents the options).

Protocol (../shared/BENCHMARKS.md): competitors and cutover in the same run, interleaved
(A B C … A B C …), R runs each, medians and ratios; wall time measured here, peak RSS by
`/usr/bin/time -v` (client processes only: the server's memory is not counted). Before every
timed run its target is dropped and rebuilt and the server checkpoints.
"""
import argparse
import datetime
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import jobs as jobs_mod
import report
from pg import Server
from setup import Setup, cutover_has, ensure_tools, log, sh, tool_versions

E2E = Path(__file__).resolve().parent
REPO = E2E.parent.parent


def parse_args(argv):
    p = argparse.ArgumentParser(prog="benches/e2e/run.sh")
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", default=",".join(j.name for j in jobs_mod.JOBS))
    p.add_argument("--delta-rows", type=int, metavar="N",
                   help="delta-sync changes exactly N rows spread evenly over the table "
                        "instead of 1 %%; the results file gets the suffix -deltaN")
    p.add_argument("--keep", action="store_true", help="keep databases and work files")
    a = p.parse_args(argv)
    a.only = [n.strip() for n in a.only.split(",") if n.strip()]
    unknown = [n for n in a.only if n not in jobs_mod.BY_NAME]
    if unknown:
        p.error(f"unknown job(s) {', '.join(unknown)}; known: {', '.join(jobs_mod.BY_NAME)}")
    if a.rows < 20_000:
        p.error("--rows must be at least 20000 (1,000 scattered differences need room)")
    if a.repeat < 1:
        p.error("--repeat must be at least 1")
    if a.delta_rows is not None:
        if not 1 <= a.delta_rows <= a.rows:
            p.error("--delta-rows must be between 1 and --rows")
        if not {"delta-sync", "raw-merge"} & set(a.only):
            p.error("--delta-rows only applies to the delta-sync and raw-merge jobs, which "
                    "--only leaves out")
    return a


def contacts_sql():
    shared = REPO.parent / "shared" / "bench" / "contacts.sql"
    return shared if shared.exists() else E2E / "contacts.sql"


def timed_run(argv, run_dir):
    """Runs argv under /usr/bin/time -v; returns (seconds, peak RSS in kB, exit code, stdout)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tfile, out, err = run_dir / "time.txt", run_dir / "stdout.txt", run_dir / "stderr.txt"
    with open(out, "w") as o, open(err, "w") as e:
        t0 = time.monotonic()
        code = subprocess.run(["/usr/bin/time", "-v", "-o", str(tfile)] + argv,
                              stdout=o, stderr=e).returncode
        secs = time.monotonic() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", tfile.read_text())
    return secs, int(m.group(1)) if m else None, code, out.read_text()


def available(job, ctx):
    """None when the job can run, else why not."""
    for tool in job.tools:
        if tool.startswith("cutover:") and not ctx.has[tool[8:]]:
            return f"the built binary has no `cutover {tool[8:]}` yet"
    return None


def machine():
    mem = next(int(line.split()[1]) for line in open("/proc/meminfo")
               if line.startswith("MemTotal"))
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"],
                           capture_output=True, text=True).stdout.strip()
    return {"cores": os.cpu_count(), "mem_gib": mem / 1024 / 1024,
            "commit": commit + (" + uncommitted changes" if dirty else "")}


def main(argv):
    args = parse_args(argv)
    selected = [jobs_mod.BY_NAME[n] for n in args.only]
    run_id = f"{datetime.datetime.now():%Y%m%d%H%M%S}_{secrets.token_hex(3)}"
    work = E2E / "work" / run_id
    work.mkdir(parents=True)
    log(f"run {run_id}: {args.rows:,} rows, {args.repeat} run(s) each of {', '.join(args.only)}"
        + (f"; delta-sync changes {args.delta_rows:,} rows" if args.delta_rows else ""))

    where = machine()  # the commit that is built, read before the build
    url = subprocess.run([str(REPO / "scripts" / "pg-up.sh")], check=True, text=True,
                         stdout=subprocess.PIPE).stdout.strip().splitlines()[-1]
    log("cargo build --release")
    sh(["cargo", "build", "--release", "--quiet"], cwd=REPO)
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    cutover = target_dir / "release" / "cutover"

    tools = {t for j in selected for t in j.tools}
    reladiff = ensure_tools(E2E, tools)
    pg = Server(url, f"cobench_{run_id}")
    ctx = SimpleNamespace(repo=REPO, work=work, pg=pg, rows=args.rows, cutover=cutover,
                          reladiff=reladiff, pairs={},
                          has={c: cutover_has(cutover, c) for c in
                               ("migrate full", "reconcile", "migrate delta-sync", "validate")})
    skipped = {j.name: why for j in selected if (why := available(j, ctx))}
    for name, why in skipped.items():
        log(f"skipping {name}: {why}")
    runnable = [j for j in selected if j.name not in skipped]
    needs = {n for j in runnable for n in j.needs}
    scale = max(1, round(args.rows / 96_000))

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    results = {j.name: [] for j in runnable}
    loads = []
    try:
        st = Setup(ctx)
        if needs & {"contacts", "same", "diff", "dsync", "loaded"}:
            st.contacts(contacts_sql())
        if "same" in needs:
            st.same()
        if "diff" in needs:
            st.diff()
        if needs & {"crm", "crm_loaded"}:
            st.crm(scale)
        if "dsync" in needs:
            st.dsync(args.delta_rows)
        if "loaded" in needs:
            st.loaded()
        if "crm_loaded" in needs:
            st.crm_loaded()
        for r in range(1, args.repeat + 1):
            for job in runnable:
                run_dir = work / "logs" / job.name / str(r)
                run_dir.mkdir(parents=True, exist_ok=True)
                argv_ = job.prepare(ctx, run_dir)
                pg.checkpoint()
                # The setup's writes (a template copy of a 20M-row table is gigabytes) are on
                # disk before the clock starts, not flushed behind the timed job.
                os.sync()
                loads.append(os.getloadavg()[0])
                secs, rss, code, stdout = timed_run(argv_, run_dir)
                if code in job.ok_codes:
                    ok, note, facts = job.check(ctx, run_dir, stdout)
                else:
                    tail = (run_dir / "stderr.txt").read_text().strip().splitlines()[-3:]
                    ok, note, facts = False, f"exit {code}: {' | '.join(tail)}"[:300], {}
                results[job.name].append(dict(secs=secs, rss_kb=rss, code=code, ok=ok,
                                              note=note, **facts))
                log(f"[{r}/{args.repeat}] {job.name:<17} {secs:8.2f} s  "
                    f"{(rss or 0) / 1024:7.0f} MB  {'ok' if ok else 'FAILED'}  {note}")
    finally:
        if args.keep:
            log(f"--keep: databases {pg.prefix}_* and {work} left in place")
        else:
            log("dropping the run's databases")
            pg.drop_all()

    if args.delta_rows is not None:
        # The real count (read back from the source) when the setup ran, else the one asked for.
        selected = jobs_mod.with_delta(selected, getattr(ctx, "dsync_changed", args.delta_rows))
    info = dict(where, pg=pg.version(), rows=args.rows, repeat=args.repeat,
                delta_rows=args.delta_rows, dsync_changed=getattr(ctx, "dsync_changed", None),
                scale=scale if hasattr(ctx, "crm_rows") else None, only=args.only,
                crm_rows=getattr(ctx, "crm_rows", None), tools=tool_versions(tools, reladiff),
                load=(min(loads), max(loads)) if loads else None,
                date=datetime.date.today().isoformat(), logs=work.relative_to(REPO))
    (work / "results.json").write_text(json.dumps(
        {"info": {k: str(v) if isinstance(v, Path) else v for k, v in info.items()},
         "skipped": skipped, "results": results}, indent=1))
    text = report.render(info, selected, results, skipped)
    print()
    print(text)
    partial = "" if set(args.only) == set(jobs_mod.BY_NAME) else "-partial"
    delta = "" if args.delta_rows is None else f"-delta{args.delta_rows}"
    out = REPO / "benches" / "results" / f"{info['date']}-{args.rows}{delta}{partial}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    log(f"written to {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
