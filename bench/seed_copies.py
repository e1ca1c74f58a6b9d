"""Seed copies with the search held still: what `training.refit_seeds` alone changes on the bench's test rows.

Two sweeps of `bench/automl.py` differ in more than the copies: their searches plan trials from measured fit
times, which the other process on the second core moves. This replays each run an `automl.py --keep DIR` sweep
kept, with its recorded plan and the settings its notes name (as `cairn reproduce` does), twice: with the number
of seed copies the run fitted, and with `training.refit_seeds: 1`. Same trials, same scores, same blend: the test
metric and the one-row p99 differ by the copies only. Sets whose run fitted no copies are listed and skipped.

Run: .venv/bin/python bench/seed_copies.py --keep /tmp/runs/keep --datasets wage hmda ... [--budget 60]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per fit, before numpy loads

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from automl import DATASETS, UNSEEN, bench_split, cairn_scores, shown

from cairn.project.api import Project
from cairn.project.reproduce import with_plan_replayed


def replayed_training(folder: Path) -> tuple[dict[str, Any], int]:
    """The training section that replays the kept run's search, and the seed copies it fitted."""
    project = Project.load(folder / "cairn.yaml")
    store = project.open_store(create=False)
    try:
        record = store.run(project.config.project, 1)
    finally:
        store.close()
    config, _ = with_plan_replayed(project.config, record)
    training = config.training.model_dump(mode="json", exclude_defaults=True)
    models = config.models.model_dump(mode="json", exclude_defaults=True)
    copies = training.get("refit_seeds", 1)
    return {"training": training, **({"models": models} if models else {})}, int(copies)


def scored(folder: Path, overrides: dict[str, Any], *, bench: Any, split: Any, work: Path) -> tuple[float, float]:
    """The kept project replayed with `overrides`, in a fresh copy: its test metric and one-row p99."""
    copy = work / f"{folder.name}-{overrides['training']['refit_seeds']}"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".cairn", "model", "out*"))
    project_file = yaml.safe_load((copy / "cairn.yaml").read_text())
    for section, values in overrides.items():
        project_file[section] = {**project_file.get(section, {}), **values}
    (copy / "cairn.yaml").write_text(yaml.safe_dump(project_file, sort_keys=False))
    project = Project.load(copy / "cairn.yaml")
    project.run()
    return cairn_scores(project, bench, split)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, required=True, help="an automl.py --keep folder")
    parser.add_argument("--datasets", nargs="+", required=True)
    parser.add_argument("--budget", type=int, default=60)
    arguments = parser.parse_args()
    lines = [f"  {'set':13s} {'metric':8s} {'fits':>4s} {'copies':>10s} {'one fit':>10s}   p99 ms copies/one"]
    with tempfile.TemporaryDirectory() as scratch:
        for name in arguments.datasets:
            folder = arguments.keep / f"cairn-{name}-{arguments.budget}"
            overrides, copies = replayed_training(folder)
            if copies == 1:
                lines.append(f"  {name:13s} (no seed copies fitted: skipped)")
                continue
            bench = {**DATASETS, **UNSEEN}[name]
            split = bench_split(bench)
            with_copies, p99_copies = scored(folder, overrides, bench=bench, split=split, work=Path(scratch))
            overrides["training"]["refit_seeds"] = 1
            alone, p99_alone = scored(folder, overrides, bench=bench, split=split, work=Path(scratch))
            lines.append(f"  {name:13s} {bench.metric:8s} {copies:4d} {shown(bench.metric, with_copies):>10s} "
                         f"{shown(bench.metric, alone):>10s}   {p99_copies:.2f}/{p99_alone:.2f}")
            print(lines[-1], flush=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
