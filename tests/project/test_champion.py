"""A new run's model earns production only by beating the champion on the same holdout rows (issue 13), end to end
with real runs of a small copy of the example: a weaker champion (linear on the raw price), a clearly better one
(linear on the log price), the same recipe again (a tie: challenger), and a forced promotion."""

from __future__ import annotations

import json
from contextlib import closing

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cairn.cli import app
from cairn.project.api import Project
from tests.examples import QUICK, copy_example

runner = CliRunner()


def test_a_run_must_beat_the_champion_to_replace_it(tmp_path):
    folder = copy_example(tmp_path / "hp", **QUICK, features={"target_transform": "none"},
                          business={"success": [{"metric": "mape", "below": 0.5}]})
    path = folder / "cairn.yaml"
    first = Project.load(path).run()
    assert first.shipped and first.verdict.endswith("v1 registered (production)")
    assert first.champion_decision.promote and "first champion" in first.champion_decision.reason

    path.write_text(path.read_text().replace("target_transform: none", "target_transform: log"))
    better = Project.load(path).run()
    decision = better.champion_decision
    assert decision.promote and decision.reason.startswith("beats the champion: MAPE")
    figures = decision.figures
    assert figures["champion_version"] == 1 and figures["rows"] == 586 and figures["metric"] == "mape"
    assert figures["ci_high"] < 0 and figures["new"] < figures["champion"]  # lower MAPE, not noise
    assert figures["new"] == pytest.approx(better.metrics["mape"], rel=1e-9)
    assert "both recipes fitted without these rows" in figures["how"]
    assert "v2 registered (production); beats the champion" in better.verdict

    project = Project.load(path)
    tie = project.run(from_stage="training")  # the same recipe again: no better, so the challenger
    assert tie.shipped and not tie.champion_decision.promote
    assert "v3 registered (challenger); not better than the champion: MAPE" in tie.verdict
    assert "difference +0.0%" in tie.verdict
    assert {v.version: (v.stage, v.aliases) for v in project.models()} == {
        3: ("candidate", ("challenger",)), 2: ("production", ("champion",)), 1: ("archived", ())}
    assert project.models()[0].note.startswith("challenger: not better than the champion")
    assert project.load_model().version == 2
    assert project.show(tie.id).verdict["champion"]["promoted"] is False
    # what the run's record says of v3: a hope in the deployment stage, the outcome in the report's card
    deployment_notes = next(s.notes for s in project.show(tie.id).stages if s.stage == "deployment")
    assert deployment_notes[-1] == ("model house-prices v3 registered (production if it beats champion v2, else the "
                                    "challenger)")
    assert (tie.report_path.parent / f"run-{tie.id}-card.md").read_text().startswith(
        "# Model card: house-prices v3 (candidate, challenger)\n")

    forced = project.run(from_stage="training", force_promote="new pricing team wants the refit")
    assert forced.champion_decision.promote and forced.verdict.endswith(forced.champion_decision.reason)
    assert "v4 registered (production); forced (new pricing team" in forced.verdict
    assert [(v.version, v.aliases) for v in project.models()][:2] == [(4, ("champion",)), (3, ("challenger",))]
    cached = project.run()  # every stage from the cache: v4 is in production already, no champion left to beat
    assert cached.verdict.endswith("model house-prices v4 registered (production)"), cached.verdict

    log = json.loads(runner.invoke(app, ["audit", "--json", "-p", str(path)]).stdout)
    decisions = [(e["action"], e["version"], e["run_id"]) for e in log if e["action"] != "register"]
    assert decisions == [("promote", 4, forced.id), ("alias", 3, tie.id), ("promote", 2, better.id),
                         ("promote", 1, first.id)]
    assert log[0]["reason"].startswith("forced (new pricing team wants the refit); else kept as challenger: not")
    assert log[0]["figures"]["forced"] == "new pricing team wants the refit" and log[0]["figures"]["from_version"] == 2
    assert [e["action"] for e in log].count("register") == 4

    assert project.rollback().version == 2  # the champion before the forced one
    assert project.card(4)[1].startswith("# Model card: house-prices v4 (archived)\n")  # as it is now
    assert project.card()[1].startswith("# Model card: house-prices v2 (production, champion)\n")


def test_force_promote_needs_a_reason(tmp_path):
    result = runner.invoke(app, ["run", "--force-promote", " ", "-p", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2 and "give a reason" in result.output


def test_a_new_split_refits_the_champions_recipe_without_the_rows_it_is_judged_on(tmp_path):
    """Another seed holds out other rows, which the registered champion (refit on every row) learned: scored as it
    is, it looked better than any model could (a new-user trial saw ROC AUC 1.000 and no way to beat it). Its
    recipe is fitted again on the new run's training rows, so neither model saw the rows they are judged on."""
    folder = copy_example(tmp_path / "hp", **QUICK)
    path = folder / "cairn.yaml"
    Project.load(path).run()
    path.write_text(path.read_text().replace("seed: 42", "seed: 7"))
    project = Project.load(path)
    second = project.run()
    decision = second.champion_decision
    assert decision.figures["how"].startswith("both recipes fitted without these rows (the champion's recipe "
                                              "fitted again on this run's 2,344 training rows in"), decision.figures
    assert decision.figures["champion_version"] == 1
    beaten = decision.figures["ci_high"] < 0  # MAPE: lower is better
    assert decision.promote == beaten
    assert [v.aliases for v in project.models()] == (
        [("champion",), ()] if beaten else [("challenger",), ("champion",)])
    # the registered champion on these rows, as the old comparison scored it: optimistic, having learned them
    with closing(project.open_store()) as store:
        outputs = {n: s for stage in store.run(project.config.project, second.id).stages
                   for n, s in stage.outputs.items()}
        table = store.load_artifact(outputs["clean_table"])
        holdout = table.iloc[store.load_artifact(outputs["training_result"]).holdout_index]
    leaked = mape(holdout["Sale_Price"], project.load_model(1).predict(holdout))
    assert leaked < decision.figures["champion"] * 0.95  # the fair figure is not the flattering one
    assert decision.figures["champion"] == pytest.approx(decision.figures["new"], rel=0.25)  # same recipe, new seed
    # a rerun from the cache reuses the version its run judged: not judged again, nor made this run's
    audit = json.loads(runner.invoke(app, ["audit", "--json", "-p", str(path)]).stdout)
    cached = project.run()
    assert cached.champion_decision is None and cached.id == second.id + 1
    assert json.loads(runner.invoke(app, ["audit", "--json", "-p", str(path)]).stdout) == audit
    assert [(v.version, v.run_id) for v in project.models()] == [(2, second.id), (1, second.id - 1)]
    if not beaten:
        assert cached.verdict.endswith("model house-prices v2 registered (challenger)"), cached.verdict
        forced = project.run(force_promote="reviewed by Ana")  # cached too, and promoted as asked
        assert forced.champion_decision.promote and "forced (reviewed by Ana)" in forced.verdict
        assert [(v.version, v.aliases) for v in project.models()] == [(2, ("champion",)), (1, ())]


def mape(truth, predicted) -> float:
    return float(np.mean(np.abs(np.asarray(predicted) - truth.to_numpy()) / truth.to_numpy()))


def test_a_champion_whose_recipe_cannot_be_refit_is_scored_as_registered_and_the_reason_says_so(tmp_path):
    """The new data lacks a column the champion reads: its recipe cannot be fitted on the new rows, so its
    registered model (which imputes the column) scores them, and the reason says it may have seen some."""
    folder = copy_example(tmp_path / "hp", **QUICK)
    path = folder / "cairn.yaml"
    Project.load(path).run()
    pd.read_csv(folder / "data" / "ames.csv.gz").drop(columns="Gr_Liv_Area").to_csv(folder / "data" / "less.csv",
                                                                                    index=False)
    path.write_text(path.read_text().replace("seed: 42", "seed: 7").replace("data/ames.csv.gz", "data/less.csv"))
    second = Project.load(path).run()
    how = second.champion_decision.figures["how"]
    assert how.startswith("the champion's registered model scored these rows, as its recipe could not be fitted "
                          "on this run's rows (KeyError: ") and "Gr_Liv_Area" in how, how
    assert how.endswith("it may have been trained on some of them, which favours it")
