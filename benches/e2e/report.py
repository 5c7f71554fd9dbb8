"""The Markdown report: medians per job, ratios against the competitors, the targets of
../shared/BENCHMARKS.md with met/missed, and the machine it was measured on."""
import statistics

from jobs import BY_NAME

# (job, reference job, limit) — `job` time ≤ limit × `reference` time, medians of the same run.
TIME_TARGETS = [
    ("migrate-identity", "raw", 1.0),
    ("migrate-identity", "pgcopydb", 0.7),
    ("migrate-identity", "pgloader", 0.2),
    ("migrate-crm", "migrate-identity", 1.2),
    ("migrate-crm", "migrate-crm-identity", 1.2),
    ("reconcile-same", "reladiff-same", 0.4),
    ("reconcile-diff", "reladiff-diff", 0.2),
    ("delta-sync", "migrate-identity", 0.05),
]
# Ratios shown beside each job (reference jobs, when they ran).
RATIOS = {
    "raw": ["pgcopydb", "pgloader"],
    "migrate-identity": ["raw", "pgcopydb", "pgloader"],
    "migrate-crm": ["migrate-identity", "migrate-crm-identity", "raw"],
    "reconcile-same": ["reladiff-same"],
    "reconcile-manifest": ["reladiff-same", "reconcile-same"],
    "reconcile-diff": ["reladiff-diff"],
    "delta-sync": ["migrate-identity", "raw-merge"],
    "raw-merge": ["migrate-identity"],
}
MEMORY_LIMIT_MB = 300


def medians(runs):
    ok = [r for r in runs if r["ok"]]
    if not ok:
        return None
    rss = [r["rss_kb"] for r in ok if r["rss_kb"] is not None]
    return {"secs": statistics.median(r["secs"] for r in ok),
            "rss_mb": statistics.median(rss) / 1024 if rss else None,
            "max_rss_mb": max(rss) / 1024 if rss else None, "ok": len(ok), "n": len(runs)}


def paired(results, job, ref):
    """Ratios job/ref of the rounds where both passed (interleaved rounds share the machine's
    load, so these are steadier than a ratio of medians): (median, min, max) or None."""
    a, b = results.get(job, []), results.get(ref, [])
    rs = [x["secs"] / y["secs"] for x, y in zip(a, b) if x["ok"] and y["ok"]]
    return (statistics.median(rs), min(rs), max(rs)) if rs else None


def fmt_secs(s):
    return f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


def verdict(ok):
    return "**met**" if ok else "**missed**"


def render(info, selected, results, skipped):
    med = {name: medians(runs) for name, runs in results.items()}
    ratio = lambda a, b: (paired(results, a, b) or (None,))[0]  # noqa: E731
    lines = [f"# cutover end-to-end benchmarks: {info['rows']:,} rows, {info['date']}", ""]
    load = info["load"]
    lines += [
        f"- machine: {info['cores']} cores, {info['mem_gib']:.1f} GiB, PostgreSQL "
        f"{info['pg']} on the same machine"
        + (f"; 1-min load average {load[0]:.1f}–{load[1]:.1f} at the start of the runs "
           "(shared machine)" if load else ""),
        f"- commit: {info['commit']}",
        f"- protocol: ../shared/BENCHMARKS.md; {info['repeat']} run(s) of each job, interleaved; "
        "medians of the runs that passed their check; ratios are medians of the per-round ratios "
        "(range in brackets); peak RSS of the client processes "
        "(`/usr/bin/time -v`), not the server's",
        f"- data: contacts.sql at {info['rows']:,} rows"
        + (f"; CRM fixture at scale {info['scale']} ({info['crm_rows']:,} legacy rows, 7 tables)"
           if info.get("crm_rows") else "")
        + (f"; delta-sync: {info['dsync_changed']:,} rows changed"
           + (f" (--delta-rows {info['delta_rows']}, spread evenly)" if info.get("delta_rows")
              else " (1 %: `id % 100 = 42`)") if info.get("dsync_changed") is not None else ""),
    ]
    if info["tools"]:
        lines.append("- competitors: " + "; ".join(f"{v}" for v in info["tools"].values()))
    only = f" --only {','.join(info['only'])}" if set(info["only"]) != set(BY_NAME) else ""
    if info.get("delta_rows") is not None:
        only += f" --delta-rows {info['delta_rows']}"
    lines += [f"- command: `benches/e2e/run.sh --rows {info['rows']} --repeat {info['repeat']}"
              f"{only}`;"
              f" logs of every run in `{info['logs']}`", ""]

    lines += ["| job | median time | median peak RSS | runs ok | ratios (time) | check |",
              "|---|---:|---:|---:|---|---|"]
    for job in selected:
        if job.name in skipped:
            lines.append(f"| {job.name}: {job.what} | — | — | — | — | skipped: "
                         f"{skipped[job.name]} |")
            continue
        m, runs = med[job.name], results[job.name]
        ratios = ", ".join(f"{ratio(job.name, ref):.2f}× {ref}" for ref in RATIOS.get(job.name, [])
                           if ratio(job.name, ref) is not None) or "—"
        notes = sorted({r["note"] for r in runs if r["note"]})
        check = "; ".join(notes)[:200]
        if m is None:
            lines.append(f"| {job.name}: {job.what} | failed | — | 0/{len(runs)} | — | {check} |")
            continue
        rss = f"{m['rss_mb']:.0f} MB" if m["rss_mb"] is not None else "?"
        lines.append(f"| {job.name}: {job.what} | {fmt_secs(m['secs'])} | {rss} | "
                     f"{m['ok']}/{m['n']} | {ratios} | {check} |")

    lines += ["", "## Targets (../shared/BENCHMARKS.md)", "",
              "| target | measured | verdict |", "|---|---:|---|"]
    for job, ref, limit in TIME_TARGETS:
        if job not in results and ref not in results:
            continue
        p = paired(results, job, ref)
        lines.append(f"| `{job}` ≤ {limit} × `{ref}` | "
                     + (f"{p[0]:.2f}× ({p[1]:.2f}–{p[2]:.2f}) | {verdict(p[0] <= limit)} |"
                        if p else "— | not measured |"))
    counts = {n: next((r.get("counts") for r in results.get(n, []) if r.get("counts")), None)
              for n in ("reconcile-diff", "reladiff-diff")}
    if "reconcile-diff" in results and "reladiff-diff" in results:
        a, b = counts["reconcile-diff"], counts["reladiff-diff"]
        shown = lambda c: f"{c['missing']}/{c['extra']}/{c['changed']}" if c else "?"  # noqa
        lines.append("| `reconcile-diff` counts = reladiff's (missing/extra/changed) | "
                     f"{shown(a)} vs {shown(b)} | "
                     + (verdict(a == b) if a and b else "not measured") + " |")
    for name in results:
        if not name.startswith(("migrate", "reconcile", "delta", "validate")):
            continue
        m = med[name]
        if m and m["max_rss_mb"] is not None:
            lines.append(f"| `{name}` peak memory ≤ {MEMORY_LIMIT_MB} MB (max over runs) | "
                         f"{m['max_rss_mb']:.0f} MB | "
                         f"{verdict(m['max_rss_mb'] <= MEMORY_LIMIT_MB)} |")
    lines += ["| decode + transform + digest ≥ 2M rows/s per core | "
              "`cargo bench --bench pipeline` | see `pipeline/` group |", ""]
    return "\n".join(lines)
