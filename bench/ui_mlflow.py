"""`mlflow ui` at ten thousand runs, beside bench/ui.py's `cairn ui` (issue 18): client wall time over loopback
of what MLflow's web UI asks its server for the same three views, and the size of the runs page's JSON.

Run with MLflow's own venv (this script never imports cairn):

    /tmp/venv-mlflow/bin/python bench/ui_mlflow.py [--runs 10000] [--requests 40] [--fill bulk|log_batch]
        [--db /tmp/cairn-bench/mlflow-ui/mlflow.db] [--refill]

The store: MLflow's SQLAlchemy tracking store on SQLite, one experiment of `--runs` runs shaped as
tests/ui/synthetic_store.py's (the same seeded draws): 9 in 10 succeeded ("FINISHED") with 4 holdout metrics,
3 cross-validation MAPEs and a duration (8 metrics), 1 in 10 failed with none; 10 params from the example's
project file; 7 tags (user, run name, source, host, data fingerprint, verdict, error). Runs start 53 minutes apart
through 2026 as cairn's do. Filled once and cached in `--db` (`--refill` starts over).

`--fill log_batch` (create_run + log_batch + update_run_info per run, the client API's fastest path) times itself;
`--fill bulk` (the default) inserts the same rows through MLflow's own SQLAlchemy models (runs, params, tags,
metrics, latest_metrics) in a few statements, since MLflow's search reads latest_metrics for metric filters and
metrics for histories. Either way the server is then `mlflow server --workers 1` on a free loopback port.

Views, as the UI (MLflow 3.17's bundled JavaScript) asks them:
- runs page: POST /ajax-api/2.0/mlflow/runs/search {experiment_ids, run_view_type ACTIVE_ONLY, max_results 100
  (the UI's page size), order_by ["attributes.start_time DESC"]};
- filter: the same with filter "metrics.mape < 0.1 and attributes.status = 'FINISHED'";
- compare two runs: GET runs/get for two run ids and metrics/get-history of "mape" for each (four requests in a
  row, timed together).
Timing is client wall time (MLflow sends no Server-Timing): compare it to bench/ui.py's "wall p95" column.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

STAGES_CACHED = 3
HOLDOUT = ("mape", "mae", "rmse", "r2")
CANDIDATES = ("linear", "lightgbm", "random_forest")
FIRST_START = datetime(2026, 1, 1, tzinfo=UTC)
EXPERIMENT = "house-prices"
DEFAULT_DB = Path("/tmp/cairn-bench/mlflow-ui/mlflow.db")
FILTER = "metrics.mape < 0.1 and attributes.status = 'FINISHED'"
PAGE_SIZE = 100  # the runs table's max_results in MLflow 3.17's UI (main bundle: `const f=100` for searchRuns)


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def synthetic_runs(runs: int, seed: int = 0) -> list[dict[str, object]]:
    """The runs of tests/ui/synthetic_store.fill_store (same draws in the same order), as MLflow holds them."""
    draw = random.Random(seed)
    made: list[dict[str, object]] = []
    for run_id in range(1, runs + 1):
        started = FIRST_START + timedelta(minutes=53 * run_id + draw.randint(0, 40))
        status = draw.choices(("succeeded", "failed"), weights=(9, 1))[0]
        shipped = None if status == "failed" else draw.random() < 0.7
        metrics = {"mape": round(draw.uniform(0.05, 0.2), 6), "mae": draw.uniform(1e4, 3e4),
                   "rmse": draw.uniform(2e4, 5e4), "r2": draw.uniform(0.7, 0.95)} if status == "succeeded" else {}
        duration = draw.uniform(5, 900)
        fingerprint = f"{draw.getrandbits(256):064x}"
        if metrics:
            metrics |= {f"cv_mape_{model}": draw.uniform(0.05, 0.2) for model in CANDIDATES}
            metrics["duration_s"] = duration
        params = {"seed": str(run_id), "target": "SalePrice", "problem": "regression", "metric": "mape",
                  "training.tuning.trials": str(8 + run_id % 5), "training.budget_minutes": "5",
                  "evaluation.holdout": "0.2", "evaluation.cv_folds": "5", "candidates": ",".join(CANDIDATES),
                  "data.source": "data/ames.csv.gz"}
        tags = {"mlflow.user": "bench", "mlflow.runName": f"run-{run_id}",
                "mlflow.source.name": "/team/house-prices/cairn.yaml", "host": "bench-host",
                "data_fingerprint": fingerprint,
                "verdict": "" if shipped is None else "shipped" if shipped else "not shipped"}
        if status == "failed":
            tags["error"] = "DataError: the target is empty"
        made.append({"number": run_id, "uuid": uuid.UUID(int=draw.getrandbits(128)).hex,
                     "start": millis(started), "end": millis(started + timedelta(seconds=duration)),
                     "status": "FINISHED" if status == "succeeded" else "FAILED", "metrics": metrics,
                     "params": params, "tags": tags})
    return made


def fill_log_batch(uri: str, runs: list[dict[str, object]]) -> str:
    from mlflow.entities import Metric, Param, RunStatus, RunTag
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(uri, "/tmp/cairn-bench/mlflow-ui/artifacts")
    experiment_id = store.create_experiment(EXPERIMENT)
    for number, run in enumerate(runs, 1):
        created = store.create_run(experiment_id, "bench", run["start"], [], run["tags"]["mlflow.runName"])
        run_id = created.info.run_id
        store.log_batch(run_id, metrics=[Metric(k, v, run["end"], 0) for k, v in run["metrics"].items()],
                        params=[Param(k, v) for k, v in run["params"].items()],
                        tags=[RunTag(k, v) for k, v in run["tags"].items() if k != "mlflow.runName"])
        store.update_run_info(run_id, RunStatus.from_string(run["status"]), run["end"], None)
        if number % 1000 == 0:
            print(f"  {number:,} runs logged", flush=True)
    return experiment_id


def fill_bulk(uri: str, runs: list[dict[str, object]]) -> str:
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam, SqlRun, SqlTag
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from sqlalchemy import insert

    store = SqlAlchemyStore(uri, "/tmp/cairn-bench/mlflow-ui/artifacts")
    experiment_id = store.create_experiment(EXPERIMENT)
    artifacts = "/tmp/cairn-bench/mlflow-ui/artifacts"
    run_rows, param_rows, tag_rows, metric_rows = [], [], [], []
    for run in runs:
        run_rows.append({"run_uuid": run["uuid"], "name": run["tags"]["mlflow.runName"], "source_type": "LOCAL",
                         "source_name": "", "entry_point_name": "", "user_id": "bench", "status": run["status"],
                         "start_time": run["start"], "end_time": run["end"], "source_version": "",
                         "lifecycle_stage": "active", "artifact_uri": f"{artifacts}/{experiment_id}/{run['uuid']}",
                         "experiment_id": int(experiment_id)})
        param_rows += [{"key": k, "value": v, "run_uuid": run["uuid"]} for k, v in run["params"].items()]
        tag_rows += [{"key": k, "value": v, "run_uuid": run["uuid"]} for k, v in run["tags"].items()]
        metric_rows += [{"key": k, "value": v, "timestamp": run["end"], "step": 0, "is_nan": False,
                         "run_uuid": run["uuid"]} for k, v in run["metrics"].items()]
    with store.ManagedSessionMaker() as session:
        connection = session.connection()
        connection.execute(insert(SqlRun), run_rows)
        for table, rows in ((SqlParam, param_rows), (SqlTag, tag_rows), (SqlMetric, metric_rows),
                            (SqlLatestMetric, metric_rows)):
            for start in range(0, len(rows), 20_000):
                connection.execute(insert(table), rows[start:start + 20_000])
    return experiment_id


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--fill", choices=["bulk", "log_batch"], default="bulk")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--refill", action="store_true")
    args = parser.parse_args()
    import mlflow

    uri = f"sqlite:///{args.db}"
    stamp = args.db.with_suffix(f".{args.runs}.filled")
    if args.refill or not stamp.exists():
        args.db.parent.mkdir(parents=True, exist_ok=True)
        args.db.unlink(missing_ok=True)
        stamp.unlink(missing_ok=True)
        runs = synthetic_runs(args.runs)
        started = time.perf_counter()
        (fill_bulk if args.fill == "bulk" else fill_log_batch)(uri, runs)
        filled_s = time.perf_counter() - started
        stamp.write_text(f"{args.fill} {filled_s:.1f}\n")
        print(f"MLflow {mlflow.__version__}: {args.runs:,} runs filled by {args.fill} in {filled_s:.1f} s "
              f"({filled_s / args.runs * 1000:.2f} ms a run) into {args.db}", flush=True)
    else:
        print(f"MLflow {mlflow.__version__}: reusing {args.db} (filled by {stamp.read_text().strip()} s)",
              flush=True)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen([str(mlflow_bin), "server", "--backend-store-uri", uri, "--default-artifact-root",
                               str(args.db.parent / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rows: list[tuple[str, float, float, float, int]] = []
    try:
        session = requests.Session()
        deadline = time.monotonic() + 120
        while True:
            try:
                if session.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"mlflow server did not start: {server.stderr.read() if server.stderr else ''}")
            time.sleep(0.5)
        api = f"{base}/ajax-api/2.0/mlflow"
        experiment_id = session.get(f"{api}/experiments/get-by-name", params={"experiment_name": EXPERIMENT},
                                    timeout=30).json()["experiment"]["experiment_id"]
        page = {"experiment_ids": [experiment_id], "run_view_type": "ACTIVE_ONLY", "max_results": PAGE_SIZE,
                "order_by": ["attributes.start_time DESC"]}
        newest = session.post(f"{api}/runs/search", json=page, timeout=60).json()["runs"]
        assert len(newest) == PAGE_SIZE, len(newest)
        finished = [run["info"]["run_id"] for run in newest if run["info"]["status"] == "FINISHED"]
        pair = [finished[0], finished[-1]]  # two runs with metrics, far apart on the page

        encodings: set[str] = set()

        def runs_page() -> int:
            answer = session.post(f"{api}/runs/search", json=page, timeout=60)
            answer.raise_for_status()
            assert len(answer.json()["runs"]) == PAGE_SIZE
            encodings.add(answer.headers.get("content-encoding", "identity"))
            return len(answer.content)

        def filtered() -> int:
            answer = session.post(f"{api}/runs/search", json=page | {"filter": FILTER}, timeout=60)
            answer.raise_for_status()
            found = answer.json()["runs"]
            assert found and all(next(m["value"] for m in run["data"]["metrics"] if m["key"] == "mape") < 0.1
                                 for run in found)
            return len(answer.content)

        def compare() -> int:
            size = 0
            for run_id in pair:
                answer = session.get(f"{api}/runs/get", params={"run_id": run_id}, timeout=60)
                answer.raise_for_status()
                size += len(answer.content)
            for run_id in pair:
                answer = session.get(f"{api}/metrics/get-history", params={"run_id": run_id, "metric_key": "mape"},
                                     timeout=60)
                answer.raise_for_status()
                assert len(answer.json()["metrics"]) == 1
                size += len(answer.content)
            return size

        for name, call in (("runs page", runs_page), ("filter", filtered), ("compare two runs", compare)):
            for _ in range(3):  # warm-up
                call()
            wall, size = [], 0
            for _ in range(args.requests):
                begun = time.perf_counter()
                size = call()
                wall.append((time.perf_counter() - begun) * 1000)
            rows.append((name, statistics.median(wall), percentile(wall, 0.95), max(wall), size))
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    print(f"\nmlflow server --workers 1, SQLite, {args.runs:,} runs, {args.requests} requests a view "
          f"(runs page: max_results {PAGE_SIZE}; sizes uncompressed, sent as {', '.join(sorted(encodings))})")
    print(f"{'view':<20}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'JSON KB':>10}")
    for name, p50, p95, worst, size in rows:
        print(f"{name:<20}{p50:>9.1f}{p95:>9.1f}{worst:>9.1f}{size / 1024:>10.1f}")


if __name__ == "__main__":
    main()
