"""Issue 15, "one machine first": the whole of `cairn run` on a million rows of the Ames schema, per stage.

1. Generates once (cached under /tmp/cairn-bench/) a 1,000,000-row Parquet file with bench/data.py's generator.
2. Writes a project into a temporary folder: examples/house-prices/cairn.yaml with data.source pointed at that
   file and a training budget of `--budget-minutes` (2 by default).
3. Runs `cairn run --no-fail` in a fresh interpreter (so its peak RSS is its own), with `--before SRC` first on
   another source tree (`git archive HEAD src | tar -x -C /tmp/before`), and prints per stage: the seconds the
   store records, the wall seconds including writing the stage's artifacts, and the peak RSS while it ran
   (sampled every 20 ms from /proc by a thread of the measured process); then the whole run's wall time and peak
   RSS (ru_maxrss), against the issue's figures and goals.

    flock /tmp/bench.lock .venv/bin/python bench/million.py [--rows 1000000] [--budget-minutes 2]
                                                            [--before /tmp/before/src]

Issue 15 measured 65 s and 5.0 GiB peak through exploration (preprocessing alone 31 s). Goals: the whole run under
2 GiB peak RSS, preprocessing under 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "house-prices" / "cairn.yaml"
CACHE = Path("/tmp/cairn-bench")
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
ISSUE = {"through_exploration_s": 65.0, "through_exploration_gib": 5.0, "preprocessing_s": 31.0}
GOAL_PEAK_GIB, GOAL_PREPROCESSING_S = 2.0, 5.0

# Runs inside the measured interpreter: a thread samples RSS, `_run_stage` is wrapped to cut the samples per stage,
# then the CLI runs as `cairn run --no-fail`. Everything it learns goes to the JSON file named in argv[1].
MEASURED = r"""
import json, resource, sys, threading, time
import cairn.runner.execute as execute

out_path = sys.argv[1]
page = __import__("os").sysconf("SC_PAGE_SIZE")
state = {"current": "read", "peaks": {}, "walls": {}, "began": time.perf_counter()}
lock = threading.Lock()

def rss_mib():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * page / 2**20

def sample():
    while True:
        value = rss_mib()
        with lock:
            stage = state["current"]
            state["peaks"][stage] = max(state["peaks"].get(stage, 0.0), value)
        time.sleep(0.02)

threading.Thread(target=sample, daemon=True).start()
original = execute._run_stage

def measured(stage, *args, **kwargs):
    with lock:
        state["walls"][state["current"]] = time.perf_counter() - state["began"]
        state["current"], state["began"] = stage.name, time.perf_counter()
        state["peaks"][stage.name] = rss_mib()
    try:
        return original(stage, *args, **kwargs)
    finally:
        with lock:
            state["walls"][stage.name] = time.perf_counter() - state["began"]
            state["current"], state["began"] = "after stages", time.perf_counter()

execute._run_stage = measured

def write():
    with lock:
        state["walls"].setdefault(state["current"], time.perf_counter() - state["began"])
        self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        with open(out_path, "w") as handle:
            json.dump({"peaks": state["peaks"], "walls": state["walls"],
                       "peak_mib": max(self_kib, children_kib) / 1024}, handle)

sys.argv = ["cairn", "run", "--no-fail"]
from cairn.cli import main
try:
    main()
except SystemExit as done:
    write()
    raise
write()
"""


def million_parquet(rows: int) -> Path:
    """The cached Parquet file of `rows` rows, generated on first use with bench/data.py's generator."""
    path = CACHE / f"ames-{rows // 1000}k.parquet"
    if not path.exists():
        sys.path.insert(0, str(ROOT / "bench"))
        from data import generate

        print(f"generating {rows:,} rows into {path} ...", file=sys.stderr)
        began = time.perf_counter()
        generate(path, rows=rows)
        print(f"  done in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    return path


def project(folder: Path, data: Path, *, budget_minutes: float) -> Path:
    """The example's project file, reading `data`, with a training budget the bench can afford."""
    config = yaml.safe_load(EXAMPLE.read_text())
    config["data"]["source"] = str(data)
    config["business"]["constraints"]["train_budget_minutes"] = budget_minutes
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cairn.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def measure(folder: Path, source: Path) -> dict:
    """One `cairn run --no-fail` with `source` first on the path, in a fresh interpreter."""
    out = folder / "measured.json"
    env = {**os.environ, **THREADS, "PYTHONPATH": str(source)}
    began = time.perf_counter()
    finished = subprocess.run([sys.executable, "-c", MEASURED, str(out)], cwd=folder, env=env, check=False,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - began
    if finished.returncode != 0 or not out.exists():
        print(f"cairn run exited {finished.returncode}: {finished.stderr[-1500:]}", file=sys.stderr)
    measured = json.loads(out.read_text()) if out.exists() else {"peaks": {}, "walls": {}, "peak_mib": float("nan")}
    stored: dict[str, float] = {}
    notes: dict[str, list[str]] = {}
    database = folder / ".cairn" / "cairn.db"
    if database.exists():
        with sqlite3.connect(database) as db:
            for stage, seconds, text in db.execute(
                    "SELECT stage, duration_s, notes FROM cairn_stage_executions ORDER BY position"):
                stored[stage] = float(seconds or 0.0)
                notes[stage] = json.loads(text) if isinstance(text, str) else list(text or [])
    return {"wall": wall, "exit": finished.returncode, "stored": stored, "notes": notes, **measured}


def through_exploration(result: dict) -> float:
    """Seconds from start to the end of exploration, as the issue measured: the read and the first four stages."""
    return sum(result["walls"].get(name, 0.0) for name in ("read", "business", "data", "preprocessing",
                                                           "exploration"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--budget-minutes", type=float, default=2.0)
    parser.add_argument("--before", type=Path, help="another source tree (its src folder) to run first")
    parser.add_argument("--keep", type=Path, help="keep the project folders here")
    args = parser.parse_args()
    data = million_parquet(args.rows)
    trees = ([("before", args.before)] if args.before else []) + [("after", ROOT / "src")]
    results: dict[str, dict] = {}
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="cairn-million-"))
    for label, source in trees:
        folder = project(scratch / label, data, budget_minutes=args.budget_minutes)
        print(f"running {label} ({source}) in {folder} ...", file=sys.stderr)
        results[label] = measure(folder, source)

    load = os.getloadavg()[0]
    print(f"\n{args.rows:,} rows ({data.stat().st_size / 2**20:,.0f} MiB Parquet), training budget "
          f"{args.budget_minutes:g} min; load average {load:.1f} on {os.cpu_count()} cores")
    print("per stage: store seconds / wall seconds with its artifacts written / peak RSS MiB while it ran\n")
    labels = list(results)
    print(f"{'stage':<15}" + "".join(f"{label:>30}" for label in labels))
    names = ["read", *(name for result in results.values() for name in result["stored"]), "after stages"]
    for name in dict.fromkeys(names):
        cells = []
        for label in labels:
            result = results[label]
            stored = result["stored"].get(name)
            wall, peak = result["walls"].get(name), result["peaks"].get(name)
            cells.append(f"{'-' if stored is None else f'{stored:.1f}s':>8} "
                         f"{'-' if wall is None else f'{wall:.1f}s':>8} "
                         f"{'-' if peak is None else f'{peak:,.0f}':>10}")
        print(f"{name:<15}" + "".join(f"{cell:>30}" for cell in cells))
    print(f"{'whole run':<15}" + "".join(f"{results[label]['wall']:>16.1f}s {results[label]['peak_mib']:>10,.0f}"
                                         for label in labels))
    print(f"\nissue 15: {ISSUE['through_exploration_s']:.0f} s and {ISSUE['through_exploration_gib']} GiB through "
          f"exploration, preprocessing {ISSUE['preprocessing_s']:.0f} s")
    for label in labels:
        result = results[label]
        peak_gib = result["peak_mib"] / 1024
        preprocessing = result["stored"].get("preprocessing", float("nan"))
        print(f"{label}: exit {result['exit']}; through exploration {through_exploration(result):.1f} s; whole run "
              f"{result['wall']:.1f} s, peak {peak_gib:.2f} GiB (goal < {GOAL_PEAK_GIB:g}: "
              f"{'met' if peak_gib < GOAL_PEAK_GIB else 'MISSED'}); preprocessing {preprocessing:.1f} s (goal < "
              f"{GOAL_PREPROCESSING_S:g}: {'met' if preprocessing < GOAL_PREPROCESSING_S else 'MISSED'})")
        for stage in ("training", "evaluation"):
            for note in result["notes"].get(stage, [])[:3]:
                print(f"    {stage}: {note[:200]}")


if __name__ == "__main__":
    main()
