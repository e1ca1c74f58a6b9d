"""Benchmark for the heavy work on a cluster (issue 15): one process against a Dask LocalCluster of 1 and 2 workers.

1. Trains the example's quick variant (one LightGBM, one trial) once (bench/batch.py's `trained_project`).
2. Generates once (cached) 10 million rows of the Ames schema with bench/data.py's generator, as 20 Parquet files
   of 500,000 rows (one row group each) under /tmp/cairn-bench/scale-10m/ (never in the repository).
3. Measures, each setting in a fresh subprocess (its own peak RSS, its own cluster):
   a. batch scoring, `Project.score_file(FOLDER, OUT_DIR)`: one Parquet part per file, in this process (engine
      local) or on the workers (engine dask, the model scattered once to each);
   b. a drift check, `Project.monitor(FOLDER)`: counted file by file in one pass (local) or per partition on the
      workers and merged on the client (dask), the same report;
   for the local engine and a LocalCluster(n_workers=1 and 2, threads_per_worker=1, processes=True) on 127.0.0.1:
   wall time, rows per second, the client's peak RSS and each worker's (resource.getrusage in the worker, read
   with `client.run`). Goal: under 2 GiB per worker.
4. Tuning trials per minute (`measure_tuning`): `cairn run` to the end of training with a fixed plan of LightGBM
   trials, engine local and dask with 1 and 2 workers (cross-validation folds as tasks, cairn.execution).
5. Prints the table and the ratios to the single process.

Run: flock /tmp/bench.lock .venv/bin/python bench/scale.py [--rows 10000000] [--files 20] [--skip-tuning]
Never from pytest: minutes of work on every core. On a 2-core machine 2 workers cannot beat 1 by more than 2x,
and less while anything else runs (the load average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from batch import trained_project
from data import cpu_seconds, generate, peak_rss_mib

FOLDER = Path("/tmp/cairn-bench/scale-10m")
WORK = Path("/tmp/cairn-bench/scale")
EXAMPLE = Path(__file__).parents[1] / "examples" / "house-prices"
GOAL_MIB = 2048
SETTINGS = {"local": 0, "dask-1": 1, "dask-2": 2}  # name: workers (0: no cluster, this process)
TUNING_TRIALS = 12


def generate_files(folder: Path, *, rows: int, files: int) -> None:
    """`files` Parquet files of rows/files rows each (another seed each), written once; a marker says complete."""
    marker = folder / f"_complete-{rows}-{files}"
    if marker.exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    per_file = rows // files
    for index in range(files):
        generate(folder / f"ames-{index:02d}.parquet", rows=per_file + (rows % files if index == files - 1 else 0),
                 seed=index)
    marker.touch()


def worker_peak_rss_mib() -> float:
    """Run in each worker by `client.run`: its peak RSS so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_data(setting: str, folder: Path, project_folder: Path) -> dict[str, Any]:
    """Scoring then the drift check of `folder` on `setting`; runs in a child of its own."""
    from cairn.project.api import Project

    workers = SETTINGS[setting]
    output = WORK / f"scored-{setting}"
    shutil.rmtree(output, ignore_errors=True)
    if not workers:
        return _measured(Project.load(project_folder / "cairn.yaml"), folder, output, client=None)
    import distributed

    from cairn.config.settings import parse_overrides

    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  protocol="tcp", dashboard_address=":0", memory_limit=0) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        overrides = parse_overrides(["execution.engine=dask", f"execution.address={cluster.scheduler_address}"])
        return _measured(Project.load(project_folder / "cairn.yaml", overrides=overrides), folder, output,
                         client=client)


def _measured(project: Any, folder: Path, output: Path, *, client: Any) -> dict[str, Any]:
    began = time.perf_counter()
    scored = project.score_file(folder, output)
    scoring_s = time.perf_counter() - began
    after_scoring = list(client.run(worker_peak_rss_mib).values()) if client is not None else []
    began = time.perf_counter()
    report = project.monitor(folder, estimate=False)
    drift_s = time.perf_counter() - began
    after_drift = list(client.run(worker_peak_rss_mib).values()) if client is not None else []
    return {"rows": scored.rows, "parts": scored.parts, "scoring_s": scoring_s, "drift_s": drift_s,
            "drifted": [feature.feature for feature in report.drift.drifted],
            "psi": {feature.feature: feature.psi for feature in report.drift.features},
            "client_peak_rss_mib": peak_rss_mib(), "client_cpu_s": cpu_seconds(),
            "worker_peak_rss_mib_scoring": after_scoring, "worker_peak_rss_mib": after_drift}


def measure_tuning(setting: str) -> dict[str, Any] | None:
    """Tuning trials per minute on `setting`: the example (all 2,930 rows, 5 folds) with a fixed plan of
    TUNING_TRIALS LightGBM trials, `Project.run(until="training")`, each fold a task on the dask engine. The hook
    the training engine's owner refines; None when it cannot run here."""
    from cairn.project.api import Project

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from tests.examples import copy_example

    folder = WORK / f"tuning-{setting}"
    shutil.rmtree(folder, ignore_errors=True)
    copy_example(folder, models={"candidates": ["lightgbm"]}, exploration={"enabled": False},
                 training={"cv": 5, "tuning": {"plan": {"lightgbm": TUNING_TRIALS}}},
                 evaluation={"bootstrap": 100, "explain": "none"})
    workers = SETTINGS[setting]

    def timed(project: Any) -> dict[str, Any]:
        began = time.perf_counter()
        project.run(until="training")
        seconds = time.perf_counter() - began
        return {"seconds": seconds, "trials": TUNING_TRIALS, "trials_per_minute": TUNING_TRIALS / seconds * 60}

    if not workers:
        return timed(Project.load(folder / "cairn.yaml"))
    import distributed

    from cairn.config.settings import parse_overrides

    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  protocol="tcp", dashboard_address=":0", memory_limit=0) as cluster:
        overrides = parse_overrides(["execution.engine=dask", f"execution.address={cluster.scheduler_address}"])
        return timed(Project.load(folder / "cairn.yaml", overrides=overrides))


def run_child(kind: str, setting: str, *, folder: Path, project_folder: Path) -> dict[str, Any] | str:
    """One measurement in a fresh interpreter; its report on stdout's last line, or why it died."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--measure", kind, "--setting", setting, "--folder", str(folder),
                           "--project", str(project_folder)], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                               "MKL_NUM_THREADS": "1"})
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"failed (exit {done.returncode}) after {time.perf_counter() - began:.0f} s: {tail}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mib(values: list[float]) -> str:
    return " / ".join(f"{value:,.0f}" for value in values) if values else "-"


def print_data(results: dict[str, dict[str, Any] | str], *, rows: int) -> None:
    print(f"{'':10} {'scoring s':>10} {'rows/s':>11} {'drift s':>9} {'rows/s':>11} {'client MiB':>11} "
          f"{'worker peak MiB (scoring; all)':>32}")
    for setting, result in results.items():
        if isinstance(result, str):
            print(f"{setting:10} {result}")
            continue
        print(f"{setting:10} {result['scoring_s']:10.1f} {rows / result['scoring_s']:11,.0f} {result['drift_s']:9.1f} "
              f"{rows / result['drift_s']:11,.0f} {result['client_peak_rss_mib']:11,.0f} "
              f"{_mib(result['worker_peak_rss_mib_scoring']) + '; ' + _mib(result['worker_peak_rss_mib']):>32}")
    base = results.get("local")
    if not isinstance(base, dict):
        return
    for setting, result in results.items():
        if setting == "local" or isinstance(result, str):
            continue
        peak = max(result["worker_peak_rss_mib"] or [0.0])
        same = result["psi"] == base["psi"]
        print(f"ratio local / {setting}: scoring {base['scoring_s'] / result['scoring_s']:.2f}x, drift "
              f"{base['drift_s'] / result['drift_s']:.2f}x; worker peak {peak:,.0f} MiB (goal < {GOAL_MIB}: "
              f"{'met' if peak < GOAL_MIB else 'missed'}); drift report {'identical' if same else 'DIFFERS'}")


def print_tuning(results: dict[str, dict[str, Any] | str | None]) -> None:
    print(f"\n{'':10} {'tuning s':>10} {'trials/min':>11}   ({TUNING_TRIALS} LightGBM trials x 5 folds)")
    for setting, result in results.items():
        if not isinstance(result, dict):
            print(f"{setting:10} {result or 'not measured'}")
            continue
        print(f"{setting:10} {result['seconds']:10.1f} {result['trials_per_minute']:11.1f}")
    one, two = results.get("dask-1"), results.get("dask-2")
    if isinstance(one, dict) and isinstance(two, dict):
        print(f"ratio trials/min 2 workers / 1 worker: {two['trials_per_minute'] / one['trials_per_minute']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--skip-tuning", action="store_true")
    parser.add_argument("--skip-data", action="store_true")
    parser.add_argument("--measure", choices=["data", "tuning"], help=argparse.SUPPRESS)
    parser.add_argument("--setting", choices=list(SETTINGS), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, default=FOLDER, help=argparse.SUPPRESS)
    parser.add_argument("--project", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure == "data":
        print(json.dumps(measure_data(args.setting, args.folder, args.project)))
        return
    if args.measure == "tuning":
        print(json.dumps(measure_tuning(args.setting)))
        return
    WORK.mkdir(parents=True, exist_ok=True)
    settings = [name for name in args.settings.split(",") if name]
    if not args.skip_data:
        project_folder = trained_project()
        began = time.perf_counter()
        generate_files(args.folder, rows=args.rows, files=args.files)
        print(f"{args.rows:,} rows in {args.files} files under {args.folder} (ready in "
              f"{time.perf_counter() - began:.0f} s)", file=sys.stderr)
        data = {setting: run_child("data", setting, folder=args.folder, project_folder=project_folder)
                for setting in settings}
        print(f"\n{args.rows:,} rows, {args.files} Parquet files; load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores\n")
        print_data(data, rows=args.rows)
    if not args.skip_tuning:
        tuning = {setting: run_child("tuning", setting, folder=args.folder, project_folder=WORK)
                  for setting in settings}
        print(f"\nload average {os.getloadavg()[0]:.1f}")
        print_tuning(tuning)


if __name__ == "__main__":
    main()
