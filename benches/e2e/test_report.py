"""The harness's arithmetic, without a database: medians of the runs that passed, ratios of
the rounds where both jobs passed, and the met/missed verdicts of the report.

    python3 -m unittest discover -s benches/e2e -p 'test_*.py'   (scripts/test.sh runs it)
"""
import unittest

import report
from jobs import BY_NAME


def run(secs, ok=True, rss_kb=100 * 1024, counts=None, note=""):
    return {"secs": secs, "ok": ok, "rss_kb": rss_kb, "counts": counts, "note": note}


INFO = {"rows": 1000, "date": "2026-12-03", "cores": 2, "mem_gib": 23.5, "pg": "15",
        "load": None, "commit": "abc1234", "repeat": 3, "tools": {}, "only": list(BY_NAME),
        "logs": "work/x"}


def target_line(text, job, ref):
    return next(line for line in text.splitlines() if line.startswith(f"| `{job}` ≤ ")
                and f"× `{ref}` |" in line)


class Medians(unittest.TestCase):
    def test_failed_runs_are_left_out_and_all_failed_is_none(self):
        m = report.medians([run(3.0), run(1.0, ok=False), run(5.0, rss_kb=300 * 1024),
                            run(4.0)])
        self.assertEqual(m["secs"], 4.0)
        self.assertEqual((m["ok"], m["n"]), (3, 4))
        self.assertEqual(m["max_rss_mb"], 300)
        self.assertIsNone(report.medians([run(1.0, ok=False)]))


class Paired(unittest.TestCase):
    def test_ratios_are_per_round_and_skip_rounds_where_either_failed(self):
        results = {"a": [run(2.0), run(9.0, ok=False), run(3.0), run(8.0)],
                   "b": [run(4.0), run(3.0), run(3.0, ok=False), run(4.0)]}
        # Rounds 1 and 4 only: 0.5 and 2.0.
        self.assertEqual(report.paired(results, "a", "b"), (1.25, 0.5, 2.0))
        self.assertIsNone(report.paired(results, "a", "missing"))

    def test_the_ratio_of_medians_is_not_what_is_reported(self):
        # Medians 3 and 3 (ratio 1.0), but each round says 0.5, 1.5 or 1.0: median 1.0 by
        # chance; the range shows the spread.
        results = {"a": [run(1.0), run(3.0), run(6.0)], "b": [run(2.0), run(2.0), run(6.0)]}
        self.assertEqual(report.paired(results, "a", "b"), (1.0, 0.5, 1.5))


class Render(unittest.TestCase):
    def render(self, results):
        selected = [BY_NAME[n] for n in results]
        return report.render(INFO, selected, results, {})

    def test_a_target_is_met_at_its_limit_and_missed_above_it(self):
        text = self.render({"raw": [run(10.0)] * 3, "pgcopydb": [run(10.0)] * 3,
                            "migrate-identity": [run(10.0), run(7.0), run(10.0)]})
        self.assertIn("1.00× (0.70–1.00) | **met**", target_line(text, "migrate-identity", "raw"))
        self.assertIn("1.00× (0.70–1.00) | **missed**",
                      target_line(text, "migrate-identity", "pgcopydb"))
        self.assertIn("1.00× raw, 1.00× pgcopydb", text)

    def test_a_job_that_never_passed_is_failed_not_timed(self):
        text = self.render({"migrate-identity": [run(1.0, ok=False, note="1 of 5 rows")],
                            "raw": [run(2.0)]})
        self.assertIn("| failed | — | 0/1 | — | 1 of 5 rows |", text)
        self.assertIn("— | not measured |", target_line(text, "migrate-identity", "raw"))

    def test_different_counts_from_reladiff_are_a_miss(self):
        same = {"missing": 250, "extra": 251, "changed": 499}
        other = {"missing": 250, "extra": 251, "changed": 498}
        for counts, want in ((same, "**met**"), (other, "**missed**")):
            text = self.render({"reladiff-diff": [run(50.0, counts=same)],
                                "reconcile-diff": [run(5.0, counts=counts)]})
            line = next(line for line in text.splitlines() if "counts = reladiff's" in line)
            self.assertIn(want, line)

    def test_peak_memory_is_the_largest_run_against_the_limit(self):
        text = self.render({"reconcile-same": [run(5.0, rss_kb=40 * 1024),
                                               run(5.0, rss_kb=301 * 1024)]})
        line = next(line for line in text.splitlines()
                    if line.startswith("| `reconcile-same` peak memory"))
        self.assertIn("| 301 MB | **missed** |", line)


if __name__ == "__main__":
    unittest.main()
