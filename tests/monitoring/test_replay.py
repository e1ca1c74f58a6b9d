"""The Ames replay, shortened: a model of 2006-2007 sales serves 2008 month by month through a real `cairn serve`,
the true prices come back as feedback, `cairn monitor` judges each quarter, and a retrain it advises is judged
against the champion on the newest labelled sales."""

import importlib.util
import sys
from pathlib import Path

import pytest

from cairn.project.api import Project
from tests.servers import free_port

REPLAY = Path(__file__).parents[2] / "examples" / "house-prices-drift" / "replay.py"


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("ames_replay", REPLAY)
    module = importlib.util.module_from_spec(spec)
    sys.modules["ames_replay"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    module.free_port = free_port  # the test worker's own ports (tests/servers.py), not the OS's next free one
    work = tmp_path_factory.mktemp("replay")
    said: list[str] = []
    # a drift share low enough that the first quarter's drift fires the rule (Year_Sold: a quarter's few hundred
    # sales move other features no further than chance does), and few enough new rows to retrain
    happened = module.replay(work, months_count=6, every=3, quick=True, say=said.append,
                             monitoring={"retrain_when": {"drift_share": 0.01}, "retrain": {"min_new_rows": 50}})
    return module, work, happened, said


def test_each_window_has_the_realised_mape_its_interval_and_an_estimate(replayed):
    module, _, happened, _ = replayed
    windows = happened.windows
    assert len(windows) >= 6  # 30-day windows over six months of sales
    assert all(w["rows"] > 0 and w["mape"] is not None and w["low"] <= w["mape"] <= w["high"]
               for w in windows.values())
    assert all(w["estimate"] is not None and 0.02 < w["estimate"] < 0.5 for w in windows.values())
    text = module.table(happened)
    assert "MAPE" in text and "estimate" in text and len(text.splitlines()) == len(windows) + 1


def test_the_monitor_names_the_drift_and_the_retrain_is_judged_on_the_newest_sales(replayed):
    _, work, happened, said = replayed
    first = happened.decisions[0]
    assert first["after"] == "2008-03" and "Year_Sold" in first["drifted"]
    assert first["advice"].startswith("Retrain")
    assert first["judge_rows"] >= 20 and first["challenger"].startswith("house-prices v2")
    assert "newest labelled rows" in first["reason"] or "does not ship" in first["reason"] \
        or "first champion" not in first["reason"]
    project = Project.load(work / "hp" / "cairn.yaml")
    retrains = [entry for entry in project.audit() if entry.action == "retrain"]
    assert len(retrains) == len([d for d in happened.decisions if "challenger" in d])
    champion = project.load_model().version
    served_last = happened.served_versions[-1][1]
    assert served_last == champion or happened.decisions[-1]["after"] == happened.served_versions[-1][0]
    assert any(line.startswith("2008-03: v1 Retrain") for line in said)
