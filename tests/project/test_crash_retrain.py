"""Crash: `cairn retrain` killed with SIGKILL at seeded random moments leaves a store that tells the truth, as
`cairn run` does (tests/project/test_crash.py): integrity ok, the killed run failed, the champion from a succeeded
run, and the next retrain promotes its challenger."""

import os
import random
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from cairn.project.api import Project
from tests.examples import QUICK, copy_example
from tests.project.test_crash import CAIRN, SEED, assert_store_tells_the_truth, kill, latest_run_id


def start_retrain(folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([CAIRN, "retrain", "--data", "later.csv", "-q"], cwd=folder,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def crash_retrains(tmp_path: Path, *, kills: int) -> None:
    folder = copy_example(tmp_path / "hp", **QUICK, monitoring={"retrain": {"data": "recent"}})
    table = pd.read_csv(folder / "data" / "ames.csv.gz")
    later = table[table.Year_Sold >= 2009].copy()
    later["Sale_Price"] = later["Sale_Price"] * 1.25  # prices the champion misses: every whole retrain promotes
    later.to_csv(folder / "later.csv", index=False)
    project = Project.load(folder / "cairn.yaml")
    assert project.run().status == "succeeded"
    db = folder / ".cairn" / "cairn.db"
    began = time.monotonic()
    assert start_retrain(folder).wait(timeout=180) == 0  # promoted: v2 beats v1 on the newest rows
    duration = time.monotonic() - began
    assert project.load_model().version == 2
    assert Project.load(folder / "cairn.yaml").rollback().version == 1
    rng = random.Random(SEED)
    for _ in range(kills):
        before = latest_run_id(db)
        process = start_retrain(folder)
        time.sleep(rng.uniform(0.3, 1.0) * duration)
        kill(process)
        assert_store_tells_the_truth(project, db, before)
        retrains = [entry for entry in project.audit() if entry.action == "retrain"]
        # a retrain's verdict is logged after its run committed: never for a run that did not succeed
        assert all(project.show(entry.run_id).status == "succeeded" for entry in retrains)

    done = subprocess.run([CAIRN, "retrain", "--data", "later.csv", "-q", "--json"], cwd=folder,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=180)
    assert done.returncode in (0, 3), done.stdout[-2000:] + done.stderr[-2000:]
    production = [v for v in project.models() if v.stage == "production"]
    assert len(production) == 1 and project.show(production[0].run_id).status == "succeeded"


def test_kill_9_during_retrains_leaves_a_true_store(tmp_path):
    crash_retrains(tmp_path, kills=2)


@pytest.mark.bench
def test_kill_9_during_retrains_twenty_times(tmp_path):
    crash_retrains(tmp_path, kills=20)
