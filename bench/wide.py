"""Issue 17, item 13: every stage of `cairn run` bounded on a wide table (300 rows x 5,000 columns, 18 s budget).

Writes a synthetic table (4,000 numeric and 1,000 categorical columns, a target that depends on three of them), runs
`cairn run` on it in a fresh folder and prints the seconds of each stage against the training budget, with the
figures exploration drew, what evaluation sampled and what training screened, priced and dropped. `--before SRC`
runs the same with another source tree first (e.g. `git archive HEAD src | tar -x -C /tmp/before`) and prints both
side by side.

    .venv/bin/python bench/wide.py [--rows 300] [--columns 5000] [--budget-minutes 0.3] [--before /tmp/before/src]
        [--candidates linear,lightgbm]

Candidates are cairn's default list unless named. At the issue's 18 s the training stage used to refuse ("the
training budget is too small": linear alone needed ~14 s of CV, 1.7 s per fold to encode 5,000 columns); it now
screens the table to the inputs the budget affords (cairn.stages.training.screening), prices CatBoost from the
encoded shape instead of timing it, and runs the cheapest candidate when no estimate fits.

The other stages: the data checks and exploration read the number columns in blocks (one sort, one quantile, one
product for thousands of columns) instead of one pandas call per column, with the same findings; exploration
charts at most MAX_CHARTED_COLUMNS of each kind; evaluation's permutation importance and SHAP sample take a share
of the training budget (cairn.stages.bounded_importance.IMPORTANCE_SHARE, cairn.stages.shap_summary.BUDGET_SHARE),
and the notes printed below say what each sampled.
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

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def wide_table(rows: int, columns: int, *, seed: int = 0) -> pd.DataFrame:
    """Every fifth column categorical (4 levels), the rest standard normal; the target reads three of them."""
    rng = np.random.default_rng(seed)
    data = {}
    for i in range(columns):
        if i % 5 == 0:
            data[f"cat_{i}"] = rng.choice(["a", "b", "c", "d"], size=rows)
        else:
            data[f"num_{i}"] = rng.normal(size=rows)
    frame = pd.DataFrame(data)
    frame["target"] = (3 * frame["num_1"] - 2 * frame["num_2"] + 1.5 * (frame["cat_0"] == "a")
                       + rng.normal(size=rows) * 0.5 + 10)
    return frame


def project(folder: Path, table: pd.DataFrame, *, budget_minutes: float, candidates: list[str] | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "wide.csv", index=False)
    config = {
        "project": "wide", "seed": 42,
        "business": {"problem": "regression", "target": "target", "objective": "Stage budgets on a wide table.",
                     "success": [{"metric": "rmse", "below": 100}],
                     "constraints": {"train_budget_minutes": budget_minutes}},
        "data": {"source": "wide.csv"}, "models": {"candidates": candidates} if candidates else {},
        "training": {"n_jobs": 1},
    }
    (folder / "cairn.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def run(folder: Path, source: Path) -> tuple[float, dict[str, float], list[str]]:
    """Wall seconds of `cairn run` with `source` first on the path, seconds per stage, and its notes."""
    env = {**os.environ, **THREADS, "PYTHONPATH": str(source)}
    began = time.perf_counter()
    finished = subprocess.run([sys.executable, "-m", "cairn.cli", "run"], cwd=folder, env=env, check=False,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - began
    if finished.returncode != 0:
        print(f"cairn run exited {finished.returncode}: {finished.stderr[-600:]}", file=sys.stderr)
    with sqlite3.connect(folder / ".cairn" / "cairn.db") as db:
        rows = db.execute("SELECT stage, duration_s, notes FROM cairn_stage_executions ORDER BY position").fetchall()
    notes = [f"{stage}: {line}" for stage, _, note_text in rows if stage in {"exploration", "training", "evaluation"}
             for line in json.loads(note_text or "[]")]
    return wall, {stage: float(seconds or 0.0) for stage, seconds, _ in rows}, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--columns", type=int, default=5_000)
    parser.add_argument("--budget-minutes", type=float, default=0.3)
    parser.add_argument("--candidates", help="comma-separated models.candidates (default: cairn's default list)")
    parser.add_argument("--before", type=Path, help="another source tree (its src folder) to run first")
    args = parser.parse_args()
    table = wide_table(args.rows, args.columns)
    trees = ([("before", args.before)] if args.before else []) + [("after", ROOT / "src")]
    results = {}
    with tempfile.TemporaryDirectory(prefix="cairn-wide-") as scratch:
        for label, source in trees:
            folder = project(Path(scratch) / label, table, budget_minutes=args.budget_minutes,
                             candidates=args.candidates.split(",") if args.candidates else None)
            results[label] = run(folder, source)
    budget_s = args.budget_minutes * 60
    stages = list(max((r[1] for r in results.values()), key=len))  # a run refused midway has fewer stages
    print(f"{args.rows} rows x {args.columns:,} columns, training budget {budget_s:g} s")
    print(f"{'stage':<15}" + "".join(f"{label:>12}" for label in results))
    for stage in stages:
        print(f"{stage:<15}" + "".join(f"{r[1].get(stage, float('nan')):>11.1f}s" for r in results.values()))
    print(f"{'whole run':<15}" + "".join(f"{r[0]:>11.1f}s" for r in results.values()))
    for label, (_, _, notes) in results.items():
        print(f"\n{label}:")
        for note in notes:
            print(f"  {note[:240]}")


if __name__ == "__main__":
    main()
