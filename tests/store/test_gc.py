"""`cairn gc` (issue 15): what nothing kept refers to goes, with the space it freed said; a version's bundle, a kept
run's artifacts and the champion's run never go."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cairn.cli import app
from cairn.model.trained import FeatureSpec, TrainedModel
from cairn.project.api import Project
from cairn.registry import Registry
from cairn.store.gc import collect_garbage
from cairn.store.repository import now


def _cli(*args: str) -> dict:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _files(root: Path) -> dict[str, int]:
    return {path.name: path.stat().st_size for path in root.glob("??/*") if not path.name.startswith(".")}


def _outputs(project: Project, run_id: int) -> set[str]:
    return {sha for stage in project.show(run_id).stages for sha in stage.outputs.values()}


@pytest.fixture
def three_runs(quick_house_prices, tmp_path):
    """A copy of the quick example: run 1 made the champion (v1); runs 2 and 3 stopped after the data stage, each
    with its own business objective, so each has an artifact no other run has (its business case)."""
    folder = tmp_path / "hp"
    shutil.copytree(quick_house_prices, folder)
    for objective in ("second", "third"):
        result = CliRunner().invoke(app, ["run", "-q", "-p", str(folder / "cairn.yaml"), "--until", "data",
                                          "--set", f"business.objective=The {objective} objective"])
        assert result.exit_code == 0, result.output
    return folder


def test_gc_keeps_the_last_runs_and_the_champion_and_says_what_it_freed(three_runs):
    folder = three_runs
    project_file = str(folder / "cairn.yaml")
    project = Project.load(project_file)
    root = project.artifacts_root
    runs = [r.id for r in project.runs()]
    assert runs == [3, 2, 1]
    only_second = _outputs(project, 2) - _outputs(project, 3) - _outputs(project, 1)
    assert only_second  # the fixture made run 2 artifacts of its own
    before = _files(root)

    # artifacts the store recorded that nothing refers to: an old one goes, a young one may be about to be referred
    # to; a file the store has no record of (another store's, sharing the folder) is left alone and counted
    orphan = project.open_store()
    old_sha, young_sha = orphan.store_artifact("old orphan" * 100), orphan.store_artifact("young orphan")
    unknown_sha = orphan.artifacts.write(b"another store's artifact")
    orphan.close()
    hours_ago = time.time() - 2 * 3600
    for sha in (old_sha, unknown_sha):
        os.utime(root / sha[:2] / sha, (hours_ago, hours_ago))

    everything_kept = _cli("gc", "-p", project_file)
    assert (everything_kept["files"], everything_kept["bytes"]) == (1, 1000)  # the old orphan alone
    assert (everything_kept["unknown_files"], everything_kept["unknown_bytes"]) == (1, 24)
    assert not (root / old_sha[:2] / old_sha).exists() and (root / young_sha[:2] / young_sha).exists()
    assert (root / unknown_sha[:2] / unknown_sha).exists()

    dry = _cli("gc", "-p", project_file, "--keep-last", "1", "--dry-run")
    assert dry["dry_run"] and dry["runs_collected"] == [2]
    assert (dry["files"], dry["bytes"]) == (len(only_second), sum(before[sha] for sha in only_second))
    assert set(before) <= set(_files(root))  # a dry run deletes nothing

    done = _cli("gc", "-p", project_file, "--keep-last", "1")
    assert (done["files"], done["bytes"], done["runs_collected"]) == (dry["files"], dry["bytes"], [2])
    after = _files(root)
    assert not only_second & set(after)
    assert _outputs(project, 3) <= set(after)  # the kept run
    assert _outputs(project, 1) <= set(after)  # the champion's run, though beyond --keep-last
    version = project.models()[0]
    assert version.stage == "production"
    table = project.read_table(folder / "data" / "ames.csv.gz").head(20)
    assert len(project.load_model().predict(table)) == 20  # the bundle is whole

    shown = CliRunner().invoke(app, ["show", "2", "-p", project_file])
    assert "collected by `cairn gc`" in shown.stdout
    assert "collected" not in CliRunner().invoke(app, ["show", "3", "-p", project_file]).stdout
    assert _cli("show", "2", "-p", project_file)["artifacts_collected_at"] is not None

    again = _cli("gc", "-p", project_file, "--keep-last", "1")
    assert (again["files"], again["bytes"], again["runs_collected"]) == (0, 0, [])
    text = CliRunner().invoke(app, ["gc", "-p", project_file, "--keep-last", "1", "--dry-run"])
    assert text.exit_code == 0 and "would free 0 file(s), 0 bytes" in text.stdout

    # run 2's stage comes from the cache no more: a run with its settings computes it again
    rerun = CliRunner().invoke(app, ["run", "-q", "-p", project_file, "--until", "data", "--set",
                                     "business.objective=The second objective"])
    assert rerun.exit_code == 0, rerun.output
    latest = Project.load(project_file).show("latest")
    assert not next(s for s in latest.stages if s.stage == "business").cached
    assert only_second <= set(_files(root))


def _model(name: str) -> TrainedModel:
    from sklearn.dummy import DummyRegressor

    return TrainedModel(name=name, version=0, problem="regression", target="y", features=[FeatureSpec("x", "number")],
                        pipeline=DummyRegressor().fit([[0.0]], [1.0]))


def _run(store, project: str, value: int) -> tuple[int, dict[str, str]]:
    run_id = store.start_run(project=project, config_hash="c" * 64, manifest={})
    shas = store.record_stage(run_id, stage="data", position=0, cache_key=uuid.uuid4().hex, cached=False,
                              started_at=now(), duration_s=0.1, notes=[],
                              outputs={"raw_table": pd.DataFrame({"x": [value, value + 1]})})
    store.finish_run(run_id, status="succeeded", manifest={}, verdict=None, data_fingerprint=None)
    return run_id, shas


def test_a_version_bundle_and_card_outlive_their_run(store):
    """A version that is neither champion nor aliased: its run's artifacts go with --keep-last, its bundle and card
    stay and it still loads. A running run and another project's runs keep theirs."""
    name = f"p-{uuid.uuid4().hex[:6]}"
    registry = Registry(store)
    first, first_shas = _run(store, name, 1)
    old = registry.register(_model(name), run_id=first, production=False, note=None)
    registry.attach_card(name, old.version, "# card of v1\n")
    other_project, other_shas = _run(store, f"{name}-other", 2)
    running = store.start_run(project=name, config_hash="c" * 64, manifest={})
    running_shas = store.record_stage(running, stage="data", position=0, cache_key=uuid.uuid4().hex, cached=False,
                                      started_at=now(), duration_s=0.1, notes=[],
                                      outputs={"raw_table": pd.DataFrame({"x": [3, 4]})})
    latest, latest_shas = _run(store, name, 5)

    done = collect_garbage(store, project=name, keep_last=1)
    assert done.runs_collected == [first]
    assert done.files == 1 and not store.artifacts.exists(first_shas["raw_table"])
    for kept in (other_shas, running_shas, latest_shas):
        assert store.artifacts.exists(kept["raw_table"])
    loaded = registry.load(name, old.version)
    assert loaded.predict(pd.DataFrame({"x": [0.0]}))[0] == 1.0
    assert registry.card(name, old.version)[1] == "# card of v1\n"
    assert store.run(name, first).artifacts_collected_at is not None
    assert store.run(name, latest).artifacts_collected_at is None
    assert store.run(f"{name}-other", other_project).artifacts_collected_at is None
