"""Cross-validation folds as tasks on a real Dask cluster (2 worker processes over TCP on 127.0.0.1): the same trials,
the same model and the same metrics as in one process; a worker killed mid-run is survived; a cluster that cannot
work stops the run before anything is written."""

from __future__ import annotations

import gzip
import operator
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cairn.cli import app
from cairn.config.settings import parse_overrides
from cairn.errors import ClusterError, ConfigError
from cairn.execution.cluster import (
    PACKAGES_THAT_MATTER,
    check_shared_locations,
    check_versions,
    version_mismatches,
    worker_info,
)
from cairn.execution.engine import DaskFolds
from cairn.project.api import Project
from tests.examples import copy_example
from tests.servers import free_port

distributed = pytest.importorskip("distributed")

ROWS = 400
UNTIL = "evaluation"  # the holdout's metrics; deployment and monitoring do not depend on the engine
# A fixed plan: both engines replay the same trials, whatever either machine's clock says.
SMALL = {"models": {"candidates": ["linear", "lightgbm"]}, "exploration": {"enabled": False},
         "training": {"cv": 3, "tuning": {"plan": {"linear": 1, "lightgbm": 3}}},
         "evaluation": {"bootstrap": 200, "explain": "none", "latency_samples": 50}}


@pytest.fixture(scope="module")
def cluster() -> Any:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  protocol="tcp", dashboard_address=None) as running:
        yield running


@pytest.fixture(scope="module")
def client(cluster: Any) -> Any:
    """The test's own client: to read worker pids and the scheduler's state, never the run's."""
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as own:
        yield own


def small_project(folder: Path) -> Path:
    """The house-price example on its first ROWS sales."""
    copy_example(folder, **SMALL)
    data = folder / "data" / "ames.csv.gz"
    rows = pd.read_csv(data).head(ROWS)
    with gzip.open(data, "wt") as handle:
        rows.to_csv(handle, index=False)
    return folder / "cairn.yaml"


def dask_settings(address: str) -> dict[str, Any]:
    return parse_overrides(["execution.engine=dask", f"execution.address={address}"])


def outcome(project: Project, run_id: int) -> dict[str, Any]:
    """What must not depend on the engine: the chosen model, every candidate's CV scores and trials, the holdout."""
    record = project.show(run_id)
    training = next(s for s in record.stages if s.stage == "training")
    store = project.open_store(create=False)
    try:
        result = store.load_artifact(training.outputs["training_result"])
    finally:
        store.close()
    holdout = {name: value for name, value in record.metrics.items() if "_ms" not in name}
    board = {row.model: (row.cv, row.trials, row.pruned) for row in result.leaderboard}
    return {"chosen": result.chosen, "plan": result.plan, "board": board, "holdout": holdout,
            "execution": record.manifest["settings"]["execution"]}


def assert_same(dask: dict[str, Any], local: dict[str, Any]) -> None:
    assert dask["chosen"] == local["chosen"]
    assert dask["plan"] == local["plan"] == {"linear": 1, "lightgbm": 3}
    assert set(dask["board"]) == set(local["board"])
    for model, (cv, trials, pruned) in local["board"].items():
        dask_cv, dask_trials, dask_pruned = dask["board"][model]
        assert (dask_trials, dask_pruned) == (trials, pruned), model
        assert set(dask_cv) == set(cv)
        for metric, (mean, sd) in cv.items():
            assert dask_cv[metric] == pytest.approx((mean, sd), abs=1e-9, rel=0), (model, metric)
    assert set(dask["holdout"]) == set(local["holdout"]) and "mape" in local["holdout"]
    for metric, value in local["holdout"].items():
        assert dask["holdout"][metric] == pytest.approx(value, abs=1e-9, rel=0), metric


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = small_project(tmp_path_factory.mktemp("local") / "hp")
    project = Project.load(path)
    run = project.run(until=UNTIL)
    return path, outcome(project, run.id)


def test_a_run_on_the_cluster_chooses_the_same_model_with_the_same_scores(cluster, local_run, tmp_path):
    path = small_project(tmp_path / "hp")
    done = CliRunner().invoke(app, ["run", "-p", str(path), "--quiet", "--no-fail", "--until", UNTIL,
                                    "--set", "execution.engine=dask",
                                    "--set", f"execution.address={cluster.scheduler_address}"])
    assert done.exit_code == 0, done.output
    project = Project.load(path)
    dask = outcome(project, project.runs(limit=1)[0].id)
    assert_same(dask, local_run[1])
    assert dask["execution"] == {"engine": "dask", "address": cluster.scheduler_address, "from": "execution.address"}
    assert local_run[1]["execution"] == {"engine": "local"}


def test_the_engine_is_in_no_cache_key(cluster, local_run):
    """The local run's project on the cluster (found through CAIRN_DASK_SCHEDULER): every stage comes from the
    local run's cache."""
    project = Project.load(local_run[0], overrides=parse_overrides(["execution.engine=dask"]),
                           environ={"CAIRN_DASK_SCHEDULER": cluster.scheduler_address})
    run = project.run(until=UNTIL)
    assert all(stage.cached for stage in run.stages), [s.name for s in run.stages if not s.cached]
    assert run.manifest["settings"]["execution"] == {"engine": "dask", "address": cluster.scheduler_address,
                                                     "from": "CAIRN_DASK_SCHEDULER"}


def kill_a_busy_worker_during_training(client: Any) -> tuple[list[str], Any]:
    """A thread that SIGKILLs the first worker seen running a fold once training starts (its tasks must run again
    elsewhere), and the progress callback that starts it: the killed worker's address lands in the list."""
    pids = client.run(os.getpid)
    killed: list[str] = []
    training = threading.Event()

    def kill() -> None:
        training.wait(timeout=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            busy = [address for address, tasks in client.processing().items() if tasks and address in pids]
            if busy:
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])
            time.sleep(0.01)

    def progress(event: Any) -> None:
        if event.stage == "training" and event.kind in ("start", "step"):
            training.set()

    threading.Thread(target=kill, daemon=True).start()
    return killed, progress


def both_workers_up(client: Any) -> None:
    """Wait for the nanny to restart a killed worker: a new worker process imports cairn's stack, which on two
    cores shared with another test process has taken over 30 s (a readiness wait, not a timing assertion)."""
    client.wait_for_workers(2, timeout=180)


def test_a_worker_killed_mid_run_is_survived(cluster, client, local_run, tmp_path):
    path = small_project(tmp_path / "hp")
    killed, progress = kill_a_busy_worker_during_training(client)
    project = Project.load(path, overrides=dask_settings(cluster.scheduler_address))
    run = project.run(until=UNTIL, progress=progress)
    assert killed, "no worker was seen running a fold"
    assert run.status == "succeeded"
    assert_same(outcome(project, run.id), local_run[1])
    both_workers_up(client)  # the nanny restarts the killed worker for the tests after this one


def test_workers_that_keep_dying_fail_the_run_with_a_clear_error(cluster, client, tmp_path):
    """With no retry allowed (the scheduler's allowed_failures 0), one worker lost mid-fold is a KilledWorker:
    a ClusterError naming the cluster and what to look at (exit 2 from the CLI), and the run recorded as failed."""
    path = small_project(tmp_path / "hp")
    allowed = cluster.scheduler.allowed_failures  # the scheduler lives in this process: its setting, for one test
    cluster.scheduler.allowed_failures = 0
    # The data keeps its copy on both workers, so the kill loses a fold, not the data (the test below covers that).
    client.amm.stop()
    try:
        killed, progress = kill_a_busy_worker_during_training(client)
        project = Project.load(path, overrides=dask_settings(cluster.scheduler_address))
        with pytest.raises(ClusterError) as raised:
            project.run(until=UNTIL, progress=progress)
    finally:
        cluster.scheduler.allowed_failures = allowed
        client.amm.start()
    assert killed, "no worker was seen running a fold"
    text = str(raised.value)
    assert text.startswith("The Dask workers kept dying while they ran a cross-validation fold."), text
    assert f"the cluster at {cluster.scheduler_address}" in text and "--memory-limit" in text
    assert "allowed-failures" in text and "execution.engine: local" in text
    [run] = project.runs(limit=1)
    assert run.status == "failed"
    both_workers_up(client)


def test_data_whose_only_copy_dies_with_its_worker_is_sent_again(cluster, client):
    """The active memory manager keeps one copy of scattered data between trials; killing the worker that holds
    it makes the scheduler forget the data. The next trial sends it again and reads the same folds."""
    folds = pd.DataFrame({fold: np.arange(fold * 1000, fold * 1000 + 1000) for fold in range(4)})  # one object
    both_workers_up(client)  # a holder to kill and one to send the data to again
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as own:
        engine = DaskFolds(own)
        first = list(engine.map_folds(operator.getitem, folds, 4))
        shared = engine.on_workers(folds)
        deadline = time.monotonic() + 30
        while len(client.who_has(shared)[shared.key]) > 1 and time.monotonic() < deadline:
            client.amm.run_once()
            time.sleep(0.1)
        [holder] = client.who_has(shared)[shared.key]
        os.kill(client.run(os.getpid)[holder], signal.SIGKILL)
        while shared.status != "cancelled" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert shared.status == "cancelled", "the scheduler still knows the data"
        second = list(engine.map_folds(operator.getitem, folds, 4))
        assert engine.on_workers(folds) is not shared  # sent again
    assert [part.tolist() for part in second] == [part.tolist() for part in first]
    assert second[3][0] == 3000
    # the tests after this one need a worker, not two: under make test's two processes the nanny once had not
    # brought the killed worker back after 180 s (a fresh clone, 2026-12-07), which is Dask's, not what is tested
    client.wait_for_workers(1, timeout=180)


def test_an_unreachable_scheduler_exits_2_naming_it_and_records_nothing(tmp_path):
    path = small_project(tmp_path / "hp")
    address = f"tcp://127.0.0.1:{free_port()}"
    done = CliRunner().invoke(app, ["run", "-p", str(path), "--quiet", "--set", "execution.engine=dask",
                                    "--set", f"execution.address={address}"])
    assert done.exit_code == 2, done.output
    port = address.rsplit(":", 1)[1]  # the CLI masks the host part of an IP address in what it prints
    assert "The Dask scheduler at tcp://127.0." in done.output and f":{port} cannot be reached" in done.output
    assert not (path.parent / ".cairn").exists()  # no store, no artifacts, no run


def test_dask_without_an_address_names_every_way_to_give_one(tmp_path):
    path = small_project(tmp_path / "hp")
    project = Project.load(path, overrides=parse_overrides(["execution.engine=dask"]), environ={})
    with pytest.raises(ConfigError) as raised:
        project.run()
    text = str(raised.value)
    assert "execution.address" in text and "execution.address_env" in text and "CAIRN_DASK_SCHEDULER" in text
    named = Project.load(path, overrides=parse_overrides(["execution.engine=dask", "execution.address_env=SCHED"]),
                         environ={})
    with pytest.raises(ConfigError, match=r"SCHED named by execution.address_env is not set"):
        named.run()
    assert not (path.parent / ".cairn").exists()
    with pytest.raises(ConfigError, match="one of 'address' or 'address_env'"):
        Project.load(path, overrides=parse_overrides(["execution.address=tcp://127.0.0.1:8786",
                                                      "execution.address_env=SCHED"]))


def test_versions_that_differ_are_named_with_both_versions(client):
    """A real get_versions() answer, with one worker's scikit-learn and Python edited: no second environment
    with other versions can be installed here, so the comparison is tested on the edited answer."""
    versions = client.get_versions(check=False, packages=[p for p in PACKAGES_THAT_MATTER if p != "python"])
    assert version_mismatches(versions) == []
    check_versions(versions)  # the cluster of this module matches this process
    here = versions["client"]["packages"]["scikit-learn"]
    python = ".".join(versions["client"]["host"]["python"].split(".")[:3])
    first = sorted(versions["workers"])[0]
    versions["workers"][first]["packages"]["scikit-learn"] = "1.0.2"
    versions["workers"][first]["host"]["python"] = "3.10.4.final.0"
    with pytest.raises(ConfigError) as raised:
        check_versions(versions)
    text = str(raised.value)
    assert f"scikit-learn {here} here, 1.0.2 on {first}" in text
    assert f"python {python} here, 3.10.4 on {first}" in text
    assert f"install scikit-learn=={here} on the workers" in text


def test_a_local_store_or_folder_with_workers_on_other_machines_is_refused(client, tmp_path):
    """The real scheduler_info() of this cluster passes; with a worker's host edited to another machine's address,
    a SQLite store and a local artifacts folder are each refused by name."""
    workers = worker_info(client)
    check_shared_locations(workers, store_url="sqlite:///x.db", artifacts_url=tmp_path, base_dir=tmp_path)
    elsewhere = {address: {**info, "host": "203.0.113.7"} for address, info in workers.items()}
    with pytest.raises(ConfigError, match="The store is a SQLite file") as store:
        check_shared_locations(elsewhere, store_url="sqlite:///x.db", artifacts_url="s3://b/p", base_dir=tmp_path)
    assert "203.0.113.7" in str(store.value)
    with pytest.raises(ConfigError, match="The artifacts are in a local folder"):
        check_shared_locations(elsewhere, store_url="postgresql://u@db/cairn", artifacts_url=tmp_path / "art",
                               base_dir=tmp_path)
    check_shared_locations(elsewhere, store_url="postgresql://u@db/cairn", artifacts_url="s3://b/p",
                           base_dir=tmp_path)
