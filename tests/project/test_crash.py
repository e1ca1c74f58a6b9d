"""Crash: `cairn run` killed with SIGKILL at seeded random moments (and once right after its deployment stage)
leaves a store that is whole and tells the truth: the database passes its integrity check, the killed run reads as
failed on the next read, no production version comes from a run that did not succeed, unfinished artifact writes
are cleaned when they are old, and the next `cairn run` succeeds."""

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cairn.project.api import Project
from cairn.store.artifacts import PARTIAL_PREFIX, STALE_PARTIAL_S
from tests.examples import QUICK, copy_example

CAIRN = str(Path(sys.executable).parent / "cairn")
SEED = 20261202


# Every run here repeats the same recipe, which never beats the champion: forced, each shipped run commits its
# version to production as before champion/challenger (issue 13), the commit these kills aim at.
FORCE = ("--force-promote", "crash test: every shipped run is committed to production")


def start(folder: Path, *args: str) -> subprocess.Popen[bytes]:
    """A real `cairn run` in its own process group (so SIGKILL reaches any worker it started)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([CAIRN, "run", *FORCE, *args], cwd=folder, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it had finished
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def latest_run_id(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT coalesce(max(id), 0) FROM cairn_runs").fetchone()[0]


def deployment_recorded(db: Path, run_id: int) -> bool:
    with sqlite3.connect(db, timeout=10) as connection:
        return connection.execute("SELECT count(*) FROM cairn_stage_executions WHERE run_id = ? AND "
                                  "stage = 'deployment'", (run_id,)).fetchone()[0] > 0


def assert_store_tells_the_truth(project: Project, db: Path, killed_after: int) -> None:
    """After a kill: integrity ok; the runs started since `killed_after` are finished (failed unless they ended
    before the kill); every production version's run succeeded."""
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    runs = {record.id: record for record in project.runs(limit=1000)}
    assert all(record.status in ("succeeded", "failed") for record in runs.values()), runs
    for run_id in (i for i in runs if i > killed_after):
        record = project.show(run_id)  # the single-run read detects a dead owner too
        assert record.status in ("succeeded", "failed")
        if record.status == "failed":
            assert record.error and record.error.startswith("abandoned: its process")
    production = [v for v in project.models() if v.stage == "production"]
    assert len(production) == 1
    assert production[0].run_id is not None and runs[production[0].run_id].status == "succeeded"


def assert_old_partials_are_cleaned(project: Project) -> None:
    """Temporary files of unfinished writes: aged past the threshold, they go when the store is next opened; a
    fresh one (a write that may be in progress) stays."""
    root = project.artifacts_root
    leftovers = list(root.rglob(f"{PARTIAL_PREFIX}*"))
    planted_old, planted_new = root / "ab" / f"{PARTIAL_PREFIX}old", root / "ab" / f"{PARTIAL_PREFIX}new"
    planted_old.parent.mkdir(exist_ok=True)
    planted_old.write_bytes(b"half an artifact")
    planted_new.write_bytes(b"half an artifact")
    past = time.time() - STALE_PARTIAL_S - 60
    for path in [*leftovers, planted_old]:
        os.utime(path, (past, past))
    project.open_store().close()
    assert not [p for p in root.rglob(f"{PARTIAL_PREFIX}*") if p.stat().st_mtime < time.time() - STALE_PARTIAL_S]
    assert planted_new.exists() and not planted_old.exists()
    planted_new.unlink()


def crash_and_recover(tmp_path: Path, *, kills: int) -> None:
    folder = copy_example(tmp_path / "hp", **QUICK)
    project = Project.load(folder / "cairn.yaml")
    assert project.run().status == "succeeded"  # the cache then lets each killed run start near its end
    db = folder / ".cairn" / "cairn.db"
    began = time.monotonic()  # how long a run from the deployment stage takes here, start-up included
    assert start(folder, "--from", "deployment").wait(timeout=120) == 0
    duration = time.monotonic() - began
    rng = random.Random(SEED)
    for _ in range(kills):
        before = latest_run_id(db)
        process = start(folder, "--from", rng.choice(["deployment", "deployment", "monitoring"]))
        time.sleep(rng.uniform(0.3, 1.0) * duration)
        kill(process)
        assert_store_tells_the_truth(project, db, before)

    # once more, killed right after the deployment stage was recorded: its version must not be in production
    before = latest_run_id(db)
    process = start(folder, "--from", "deployment")
    deadline = time.monotonic() + 60
    while not (latest_run_id(db) > before and deployment_recorded(db, before + 1)):
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before its deployment"
        time.sleep(0.02)
    kill(process)
    assert_store_tells_the_truth(project, db, before)
    killed = project.show(before + 1)
    pending = [v for v in project.models() if v.run_id == killed.id]
    if killed.status == "failed":  # nearly always: the report and the commit take longer than the poll
        assert [(v.stage, v.note) for v in pending] == [("candidate",
                                                          f"pending: production once run {killed.id} finishes")]
    assert_old_partials_are_cleaned(project)

    done = subprocess.run([CAIRN, "run", *FORCE], cwd=folder, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    final = project.show("latest")
    assert final.status == "succeeded" and final.verdict and final.verdict["shipped"]
    assert "registered (production); forced (crash test" in final.verdict["line"]
    production = [v for v in project.models() if v.stage == "production"]
    assert len(production) == 1 and project.show(production[0].run_id).status == "succeeded"
    if killed.status == "failed":  # the pending candidate was reused from the cache and committed by this run
        assert (production[0].version, production[0].run_id) == (pending[0].version, final.id)
    assert project.load_model().version == production[0].version
    assert project.monitoring_baseline() is not None
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_kill_9_during_runs_leaves_a_true_store(tmp_path):
    crash_and_recover(tmp_path, kills=5)


@pytest.mark.bench
def test_kill_9_thirty_times(tmp_path):
    crash_and_recover(tmp_path, kills=30)
