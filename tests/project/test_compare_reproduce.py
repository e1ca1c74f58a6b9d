"""Honest comparisons, the model card, `cairn reproduce`, `cairn diff` and the exit codes of `cairn run`.

The shared example run (two candidates) shows the comparison and the card; a quick one-candidate copy of the
example is reproduced, diffed, broken (its snapshot deleted) and held to an objective it cannot meet.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cairn.cli import app
from cairn.project.api import Project
from cairn.words import byte_size
from tests.examples import QUICK, copy_example

runner = CliRunner()


def _evaluation(project: Project, run_id: int):
    record = project.show(run_id)
    stage = next(s for s in record.stages if s.stage == "evaluation")
    store = project.open_store(create=False)
    try:
        return store.load_artifact(stage.outputs["evaluation"])
    finally:
        store.close()


def test_the_leaderboard_says_whether_the_best_is_really_better(house_prices):
    folder, run, _ = house_prices
    comparison = _evaluation(Project.load(folder / "cairn.yaml"), run.id).comparison
    assert comparison is not None and comparison.metric == "mape" and comparison.best != comparison.runner_up
    assert comparison.folds is not None and comparison.folds.folds == 5 and 0.0 <= comparison.folds.p_value <= 1.0
    holdout = comparison.holdout  # the runner-up is cheap to refit on the example: compared on the holdout too
    assert holdout is not None and holdout.ci_low <= holdout.difference <= holdout.ci_high
    assert comparison.clearly_better == (comparison.folds.p_value < 0.05 and holdout.excludes_zero
                                         and holdout.difference < 0 and comparison.folds.mean_difference < 0)
    sentence = comparison.sentence()
    assert f"p = {comparison.folds.p_value:.3g}" in sentence and "paired bootstrap" in sentence


def test_the_card_is_written_shown_and_stored_with_the_version(house_prices):
    folder, run, _ = house_prices
    card_path = folder / ".cairn" / "reports" / f"run-{run.id}-card.md"
    assert card_path.exists() and run.manifest["card"] == str(card_path)
    card = card_path.read_text(encoding="utf-8")
    for heading in ("## Intended use", "## Data", "## Features", "## Metrics", "## Verdict and decision threshold",
                    "## Limitations", "## Serve and call", "## Reproduce"):
        assert heading in card, heading
    assert run.manifest["data"]["fingerprint"] in card and "rows: 2,930" in card
    assert f"cairn reproduce {run.id}" in card and "Against the next model:" in card
    size = Project.load(folder / "cairn.yaml").models()[0].size_bytes  # the bundle as stored, from the registry
    assert size and f"The bundle the server loads takes {byte_size(size)} on disk, compressed." in card
    printed = runner.invoke(app, ["card", "-p", str(folder / "cairn.yaml")])
    assert printed.exit_code == 0, printed.output
    assert printed.stdout == card  # the card stored with the version is the one written next to the report
    as_json = json.loads(runner.invoke(app, ["card", "1", "--json", "-p", str(folder / "cairn.yaml")]).stdout)
    assert as_json["version"] == 1 and as_json["markdown"] == card
    unknown = runner.invoke(app, ["card", "99", "-p", str(folder / "cairn.yaml")])
    assert unknown.exit_code == 2 and "no version 99" in unknown.output
    for reference in ("v1", "champion"):  # a version is named as `cairn promote` names it
        named = runner.invoke(app, ["card", reference, "--json", "-p", str(folder / "cairn.yaml")])
        assert named.exit_code == 0 and json.loads(named.stdout)["markdown"] == card, named.output
    unknown = runner.invoke(app, ["card", "shadow", "-p", str(folder / "cairn.yaml")])
    assert unknown.exit_code == 2 and "shadow" in unknown.output


def test_the_card_and_the_comparison_are_in_the_report(house_prices, chromium):
    folder, run, _ = house_prices
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(run.report_path.as_uri(), wait_until="load")
    card = page.locator("#card")
    assert card.is_visible()
    assert card.locator("h1").inner_text().startswith("Model card: house-prices v1")
    assert card.locator("table").count() >= 2  # features and metrics, rendered from Markdown
    assert "cairn reproduce 1" in card.inner_text()
    comparison = page.locator("#leaderboard #comparison")
    assert comparison.is_visible() and "corrected resampled t-test" in comparison.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert problems == []
    page.close()


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """A one-candidate copy of the example, run once."""
    folder = copy_example(tmp_path_factory.mktemp("quick") / "house-prices", **QUICK)
    result = runner.invoke(app, ["run", "-q", "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 0, result.output
    return folder


def _store_checksum(folder: Path) -> str:
    """The store's content: every table's rows, and every artifact file's name and bytes."""
    digest = hashlib.sha256()
    connection = sqlite3.connect(folder / ".cairn" / "cairn.db")
    try:
        for line in connection.iterdump():
            digest.update(line.encode())
    finally:
        connection.close()
    for path in sorted((folder / ".cairn" / "artifacts").rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_reproduce_rebuilds_the_run_identically_and_leaves_the_store_alone(quick):
    before = _store_checksum(quick)
    result = runner.invoke(app, ["reproduce", "1", "--json", "-p", str(quick / "cairn.yaml")])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["matches"] is True and document["tolerance"] == 1e-9
    assert {m["name"] for m in document["metrics"]} == {"mape", "mae", "rmse", "r2"}
    assert all(m["reproduced"] == m["original"] for m in document["metrics"])  # identical, not merely close
    assert document["chosen"] == {"original": "linear", "reproduced": "linear"}
    assert _store_checksum(quick) == before


def test_reproduce_a_run_that_does_not_exist(quick):
    result = runner.invoke(app, ["reproduce", "42", "-p", str(quick / "cairn.yaml")])
    assert result.exit_code == 2 and "No run 42" in result.output and "Traceback" not in result.output
    for wrong in ("abc", "1.5"):
        result = runner.invoke(app, ["diff", "1", wrong, "-p", str(quick / "cairn.yaml")])
        assert result.exit_code == 2 and f"No run {wrong}" in result.output


def test_reproduce_a_run_whose_snapshot_was_deleted(quick, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(quick, broken)
    snapshot = Project.load(broken / "cairn.yaml").show(1).manifest["data"]["snapshot"]
    (broken / ".cairn" / "artifacts" / snapshot[:2] / snapshot).unlink()
    before = _store_checksum(broken)
    result = runner.invoke(app, ["reproduce", "1", "-p", str(broken / "cairn.yaml")])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert f"Run 1's data snapshot {snapshot[:12]} is missing" in message and "nothing was changed" in message
    assert _store_checksum(broken) == before


def test_reproduce_exits_3_when_the_rebuilt_run_does_not_match(quick, tmp_path):
    altered = tmp_path / "altered"
    shutil.copytree(quick, altered)
    connection = sqlite3.connect(altered / ".cairn" / "cairn.db")  # as if run 1 had scored another MAPE
    with connection:
        connection.execute("UPDATE cairn_metrics SET value = value * 1.01 WHERE run_id = 1 AND scope = 'holdout' "
                           "AND name = 'mape'")
    connection.close()
    result = runner.invoke(app, ["reproduce", "1", "-p", str(altered / "cairn.yaml")])
    assert result.exit_code == 3, result.output
    assert "mape" in result.stdout and "DIFFERS" in result.stdout and "mae" in result.stdout
    assert "run 1 is NOT reproduced" in result.stdout


def test_diff_names_the_changed_key_and_compares_on_the_same_holdout(quick):
    config_path = quick / "cairn.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["evaluation"]["bootstrap"] = 150
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    second = runner.invoke(app, ["run", "-q", "-p", str(config_path)])
    assert second.exit_code == 0, second.output
    result = runner.invoke(app, ["diff", "1", "2", "--json", "-p", str(config_path)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["config"] == [{"key": "evaluation.bootstrap", "a": 200, "b": 150}]
    assert document["data"] == [] and document["chosen"] == {"a": "linear", "b": "linear"}
    assert document["comparison"]["metric"] == "mape" and document["comparison"]["difference"] == 0.0
    text = runner.invoke(app, ["diff", "1", "2", "-p", str(config_path)]).stdout
    assert "evaluation.bootstrap: 200 -> 150" in text and "no clear difference" in text


def test_run_exits_3_on_a_missed_objective_and_0_with_no_fail(tmp_path):
    folder = copy_example(tmp_path / "strict", **QUICK)
    config = yaml.safe_load((folder / "cairn.yaml").read_text())
    config["business"]["success"] = [{"metric": "mape", "below": 0.01}]
    (folder / "cairn.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    missed = runner.invoke(app, ["run", "-q", "-p", str(folder / "cairn.yaml")])
    assert missed.exit_code == 3, missed.output
    assert "objective MAPE < 1%: missed" in missed.stdout
    kept = runner.invoke(app, ["run", "-q", "--no-fail", "-p", str(folder / "cairn.yaml")])  # from the cache
    assert kept.exit_code == 0 and "missed" in kept.stdout


def test_reproduce_a_run_that_stopped_before_evaluation(quick):
    stopped = runner.invoke(app, ["run", "-q", "--until", "features", "-p", str(quick / "cairn.yaml")])
    assert stopped.exit_code == 0, stopped.output  # no verdict yet: not a missed objective
    run_id = Project.load(quick / "cairn.yaml").show("latest").id
    result = runner.invoke(app, ["reproduce", str(run_id), "-p", str(quick / "cairn.yaml")])
    assert result.exit_code == 2 and "stopped before evaluation" in " ".join(result.output.split())


def test_on_one_validation_fold_the_holdout_alone_says_whether_the_best_is_clearly_better():
    """A search on one fold (training.validation) has no fold test: a holdout interval that excludes zero in the
    best model's favour decides; without a holdout comparison, nothing is clear."""
    from cairn.metrics.paired import HoldoutComparison
    from cairn.stages.comparison import ModelComparison

    favours = HoldoutComparison(0.05, 0.03, 0.07, 0.95, 1.0, 1000)
    straddles = HoldoutComparison(0.01, -0.02, 0.04, 0.95, 0.7, 1000)
    one_fold = ModelComparison("lightgbm", "catboost", "roc_auc", 0.90, 0.85, None, favours, one_fold=True)
    assert one_fold.clearly_better
    assert one_fold.sentence().startswith("lightgbm is clearly better than catboost (validation ROC_AUC 0.900 vs")
    assert not replace(one_fold, holdout=straddles).clearly_better
    assert not replace(one_fold, holdout=None, why_no_holdout="not refit").clearly_better
    assert not replace(one_fold, one_fold=False).clearly_better  # k folds: the fold test is needed too
    against = HoldoutComparison(-0.03, -0.05, -0.01, 0.95, 0.0, 1000)  # the runner-up wins on the holdout
    assert replace(one_fold, holdout=against).sentence().startswith(
        "lightgbm was chosen (validation ROC_AUC 0.900 vs 0.850), but catboost is better on the holdout: holdout "
        "ROC_AUC difference -0.03")
