"""A store filled with many runs and model versions straight through SQLAlchemy (no training): what the UI's
query tests and bench/ui.py read. Values are drawn from a seeded generator, so a test can recompute them."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from cairn.store.tables import (
    ArtifactRow,
    AuditRow,
    MetricRow,
    ModelAliasRow,
    ModelRow,
    ModelVersionRow,
    RunRow,
    StageRow,
)

STAGES = ("business", "data", "preprocessing", "exploration", "features", "models", "training", "evaluation",
          "deployment", "monitoring")
HOLDOUT = ("mape", "mae", "rmse", "r2")
CANDIDATES = ("linear", "lightgbm", "random_forest")
FIRST_START = datetime(2026, 1, 1, tzinfo=UTC)
EXAMPLE = Path(__file__).parents[2] / "examples" / "house-prices"


@lru_cache(maxsize=1)
def example_config() -> dict[str, Any]:
    """The example's project file as a run records it (every default filled in)."""
    from cairn.config import load_config
    from cairn.runner.manifest import recorded_config

    return recorded_config(load_config(EXAMPLE / "cairn.yaml"))


def manifest_of(run_id: int, seed: int) -> dict[str, Any]:
    """A manifest as a real run writes it (the whole project file, versions, timings: ~8 KB of JSON)."""
    config = copy.deepcopy(example_config())
    config["seed"] = seed
    config["training"]["tuning"]["trials"] = 8 + run_id % 5
    return {
        "cairn_version": "0.2.0", "seed": seed, "python": "3.11.7", "project_file": "/team/house-prices/cairn.yaml",
        "code_versions": {stage: f"0.2.0+{run_id:016x}/{seed:012x}" for stage in STAGES},
        "packages": {"numpy": "2.4.6", "pandas": "3.1.1", "scikit-learn": "1.9.1", "lightgbm": "4.7.0"},
        "config": config,
        "timings_s": {stage: round(0.1 * (i + 1), 3) for i, stage in enumerate(STAGES)},
        "cached": list(STAGES[:3]), "data": {"fingerprint": f"{seed:064x}", "rows": 2930, "source": "data/ames.csv.gz"},
        "training": {"plan": [{"model": m, "trial": t, "params": {"alpha": t / 10}} for m in CANDIDATES
                              for t in range(8)]},
    }


def fill_store(engine: Engine, *, project: str = "house-prices", runs: int = 10_000, versions: int = 500,
               seed: int = 0) -> dict[int, dict[str, Any]]:
    """Insert `runs` runs (with stages and metrics) and `versions` model versions; returns each run's facts
    (status, shipped, started_at, holdout metrics) so tests can check what a page should show."""
    draw = random.Random(seed)
    facts: dict[int, dict[str, Any]] = {}
    run_rows, stage_rows, metric_rows = [], [], []
    for run_id in range(1, runs + 1):
        started = FIRST_START + timedelta(minutes=53 * run_id + draw.randint(0, 40))
        status = draw.choices(("succeeded", "failed"), weights=(9, 1))[0]
        shipped = None if status == "failed" else draw.random() < 0.7
        metrics = {"mape": round(draw.uniform(0.05, 0.2), 6), "mae": draw.uniform(1e4, 3e4),
                   "rmse": draw.uniform(2e4, 5e4), "r2": draw.uniform(0.7, 0.95)} if status == "succeeded" else {}
        duration = draw.uniform(5, 900)
        facts[run_id] = {"status": status, "shipped": shipped, "started_at": started, "metrics": metrics,
                         "duration_s": duration}
        verdict = None if shipped is None else {
            "shipped": shipped, "model": f"house-prices v{run_id}",
            "line": f"objective MAPE < 10%: {'met' if shipped else 'missed'} (holdout MAPE {metrics['mape']:.1%})",
            "checks": [{"name": "objective MAPE < 10%", "met": shipped, "text": "met" if shipped else "missed"}]}
        run_rows.append({"id": run_id, "project": project, "status": status, "started_at": started,
                         "finished_at": started + timedelta(seconds=duration), "config_hash": f"{run_id:064x}",
                         "data_fingerprint": f"{draw.getrandbits(256):064x}", "manifest": manifest_of(run_id, run_id),
                         "verdict": verdict, "error": "DataError: the target is empty" if status == "failed" else None,
                         "pid": None, "host": "bench-host"})
        for position, stage in enumerate(STAGES):
            stage_rows.append({"run_id": run_id, "stage": stage, "position": position,
                               "cache_key": f"{run_id:032x}{position:032x}", "status": "succeeded",
                               "cached": position < 3, "started_at": started, "duration_s": 0.1 * (position + 1),
                               "outputs": {}, "notes": [f"{stage} done"]})
        for name, value in metrics.items():
            metric_rows.append({"run_id": run_id, "scope": "holdout", "model": "lightgbm", "name": name,
                                "value": value})
        if metrics:
            metric_rows += [{"run_id": run_id, "scope": "cv", "model": model, "name": "mape",
                             "value": draw.uniform(0.05, 0.2)} for model in CANDIDATES]
    now = datetime(2027, 1, 1, tzinfo=UTC)
    artifacts = [{"sha256": f"{v:064x}", "kind": "model-bundle", "size_bytes": 1000, "created_at": now}
                 for v in range(1, versions + 1)]
    with engine.begin() as connection:
        connection.execute(insert(RunRow), run_rows)
        for start in range(0, len(stage_rows), 20_000):
            connection.execute(insert(StageRow), stage_rows[start:start + 20_000])
        for start in range(0, len(metric_rows), 20_000):
            connection.execute(insert(MetricRow), metric_rows[start:start + 20_000])
        if versions:
            connection.execute(insert(ArtifactRow), artifacts)
            model_id = connection.execute(insert(ModelRow).values(name=project, created_at=now)).inserted_primary_key[0]
            connection.execute(insert(ModelVersionRow), [
                {"model_id": model_id, "version": v, "run_id": min(v, runs) or None, "artifact_sha256": f"{v:064x}",
                 "stage": "production" if v == versions else "archived" if v % 3 else "candidate",
                 "metrics": {"mape": 0.05 + v / 1e5, "r2": 0.9}, "created_at": now, "note": None}
                for v in range(1, versions + 1)])
            connection.execute(insert(ModelAliasRow).values(model_id=model_id, alias="challenger",
                                                            version=max(1, versions - 1), updated_at=now))
            connection.execute(insert(AuditRow), [
                {"at": now, "actor": "bench", "action": "register" if v % 2 else "promote", "model": project,
                 "version": v, "run_id": v, "reason": f"version {v}", "figures": {"from_version": v - 1}}
                for v in range(1, versions + 1)])
    if engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
        with engine.begin() as connection:
            for table in ("cairn_runs", "cairn_stage_executions", "cairn_metrics", "cairn_model_versions",
                          "cairn_audit"):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    return facts
