"""Run the benchmarks (``make bench``): every ``bench/bench_*.py``, one after the other, then a summary.

Each benchmark runs as its own process (``python bench/bench_<name>.py``), prints its tables and writes
``bench/results/<name>.json`` (plus a timestamped copy); this script prints every result again at the end, with
the targets met or missed, and writes ``bench/results/summary.txt``.

Options (command line or environment, so that ``make bench BENCH_ONLY=dicomweb BENCH_STUDIES=100000`` works):

  --only / BENCH_ONLY        comma-separated benchmark names (dicomweb, dimse, portal, viewer, ...)
  --skip / BENCH_SKIP        comma-separated names to leave out
  --studies / BENCH_STUDIES  size of the query index in each server (default 100000)
  --list                     print the benchmarks found and exit
  --summary                  only print the summary of the results already in bench/results/

Other knobs (BENCH_ROUNDS, BENCH_QIDO_SAMPLES, BENCH_KEEP ...) are read by the benchmarks; see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import RESULTS_DIR, format_report, log, machine_conditions  # noqa: E402


def discover() -> dict[str, Path]:
    return {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}


def _names(value: str | None) -> list[str]:
    return [n.strip() for n in (value or "").split(",") if n.strip()]


def summary(names: list[str]) -> str:
    out = []
    missed = []
    for name in names:
        path = RESULTS_DIR / f"{name}.json"
        if not path.exists():
            out.append(f"\n== {name}: no results (bench/results/{name}.json missing)")
            continue
        data = json.loads(path.read_text())
        out.append(format_report(data))
        when = (data.get("conditions", {}).get("after") or {}).get("time_utc", "?")
        out.append(f"(results of {when}, {data.get('duration_s', '?')} s)")
        missed += [f"{name}: {r['metric']}" for r in data.get("rows", []) if r.get("verdict") == "MISSED"]
    out.append("\n== targets")
    out.append("all targets met" if not missed else "MISSED:\n  " + "\n  ".join(missed))
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description="PACS Portal benchmarks against Orthanc (bench/README.md)")
    ap.add_argument("--only", default=os.environ.get("BENCH_ONLY"))
    ap.add_argument("--skip", default=os.environ.get("BENCH_SKIP"))
    ap.add_argument("--studies", type=int, default=None)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--summary", action="store_true")
    args = ap.parse_args()

    found = discover()
    if args.list:
        print("\n".join(f"{k:12} {v.relative_to(HERE.parent)}" for k, v in found.items()))
        return 0
    selected = _names(args.only) or list(found)
    unknown = [n for n in selected if n not in found]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; found {sorted(found)}", file=sys.stderr)
        return 2
    selected = [n for n in selected if n not in _names(args.skip)]
    if args.summary:
        print(summary(selected))
        return 0

    env = dict(os.environ)
    if args.studies:
        env["BENCH_STUDIES"] = str(args.studies)
    cond = machine_conditions()
    log(f"benchmarks: {', '.join(selected)} on {cond['cores']} cores, load average {cond['loadavg']}")
    failed = []
    for name in selected:
        log(f"--- bench {name} ({found[name].relative_to(HERE.parent)})")
        t0 = time.time()
        rc = subprocess.call([sys.executable, str(found[name])], env=env, cwd=HERE.parent)
        log(f"--- bench {name}: exit {rc} after {time.time() - t0:.0f} s")
        if rc != 0:
            failed.append(name)
    text = summary(selected)
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "summary.txt").write_text(text + "\n")
    if failed:
        print(f"\nbenchmarks that failed to run: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
