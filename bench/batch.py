"""Benchmark for batch scoring (issue 14): `cairn predict` on a 1M-row Parquet beside `Pipeline.predict`.

1. Trains the example's quick variant (one LightGBM, one trial) once in a scratch folder.
2. Generates (cached) a 1-million-row Parquet of the Ames schema with bench/data.py's generator.
3. Measures, each in a fresh subprocess so its peak RSS is its own:
   a. cairn: `Project.score_file(parquet, out.parquet)`, a chunk at a time;
   b. the same fitted scikit-learn pipeline's `predict` on the whole table read with `pd.read_parquet`, then
      written with `to_parquet` (what a hand-written script does).
4. Prints rows per second and peak RSS of both, and their ratios. Goal: cairn under 1 GiB peak.

Run: .venv/bin/python bench/batch.py [--rows 1000000] [--path /tmp/cairn-bench/ames-1m.parquet]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from data import cpu_seconds, generate, peak_rss_mib

EXAMPLE = Path(__file__).parents[1] / "examples" / "house-prices"
WORK = Path("/tmp/cairn-bench/batch")
DEFAULT_PATH = Path("/tmp/cairn-bench/ames-1m.parquet")
GOAL_MIB = 1024


def trained_project() -> Path:
    """The example with one LightGBM and one trial, trained once (a second call reuses it)."""
    folder = WORK / "hp"
    if (folder / ".cairn" / "cairn.db").exists():
        return folder
    import yaml

    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".cairn"))
    config = yaml.safe_load((folder / "cairn.yaml").read_text())
    config["models"] = {"candidates": ["lightgbm"]}
    config["training"]["tuning"] = {"trials": 1}
    config["exploration"] = {"enabled": False}
    config["evaluation"] = {"bootstrap": 100, "explain": "none"}
    (folder / "cairn.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    subprocess.run([sys.executable, "-m", "cairn.cli", "run", "-q", "--no-fail", "-p", str(folder / "cairn.yaml")],
                   check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return folder


def measure_cairn(path: Path, folder: Path) -> dict[str, float]:
    from cairn.project.api import Project

    project = Project.load(folder / "cairn.yaml")
    began = time.perf_counter()
    scored = project.score_file(path, WORK / "cairn-out.parquet")
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "cpu_seconds": cpu_seconds(), "peak_rss_mib": peak_rss_mib(), "rows": scored.rows}


def measure_pipeline(path: Path, folder: Path) -> dict[str, float]:
    import pandas as pd

    from cairn.project.api import Project

    model = Project.load(folder / "cairn.yaml").load_model()
    began = time.perf_counter()
    table = pd.read_parquet(path)
    table["prediction"] = model.pipeline.predict(model.frame(table))
    table.to_parquet(WORK / "pipeline-out.parquet", index=False)
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "cpu_seconds": cpu_seconds(), "peak_rss_mib": peak_rss_mib(), "rows": len(table)}


def run_child(kind: str, path: Path, folder: Path) -> dict[str, float] | str:
    done = subprocess.run([sys.executable, __file__, "--measure", kind, "--path", str(path), "--folder",
                           str(folder)], capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        return f"failed (exit {done.returncode}): {(done.stderr.strip().splitlines() or ['no output'])[-1]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=["cairn", "pipeline"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure = measure_cairn if args.measure == "cairn" else measure_pipeline
        print(json.dumps(measure(args.path, args.folder)))
        return
    WORK.mkdir(parents=True, exist_ok=True)
    folder = trained_project()
    if not args.path.exists():
        generate(args.path, rows=args.rows)
    results = {kind: run_child(kind, args.path, folder) for kind in ("cairn", "pipeline")}
    print(f"\n{args.path} ({args.path.stat().st_size / 2**20:,.0f} MiB); load average {os.getloadavg()[0]:.1f}\n")
    print(f"{'':48} {'wall s':>8} {'rows/s':>10} {'peak RSS MiB':>13}")
    labels = {"cairn": "cairn score_file (chunks of 50,000 rows)",
              "pipeline": "read_parquet + Pipeline.predict + to_parquet"}
    for kind, result in results.items():
        if isinstance(result, str):
            print(f"{labels[kind]:48} {result}")
            continue
        print(f"{labels[kind]:48} {result['seconds']:8.1f} {result['rows'] / result['seconds']:10,.0f} "
              f"{result['peak_rss_mib']:13,.0f}")
    cairn, pipeline = results["cairn"], results["pipeline"]
    if isinstance(cairn, dict) and isinstance(pipeline, dict):
        print(f"\nratios cairn / pipeline: time {cairn['seconds'] / pipeline['seconds']:.2f}, "
              f"peak RSS {cairn['peak_rss_mib'] / pipeline['peak_rss_mib']:.2f}; goal peak < {GOAL_MIB} MiB: "
              f"{'met' if cairn['peak_rss_mib'] < GOAL_MIB else 'missed'}")


if __name__ == "__main__":
    main()
