"""A multiclass run of the example end to end (issue 16, "Multiclass"): Ames houses banded by price into four
classes, macro F1 named first (so it is what model selection optimises) and log loss second; the run ships by its
criteria, the report shows a per-class table with intervals, `cairn show --json` carries the same figures,
`cairn predict` writes a label and a probability per class, and a real `cairn serve` answers probabilities that
sum to one."""

import io
import json
import pickle
import sqlite3

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from typer.testing import CliRunner

from cairn.cli import app
from cairn.project.api import Project
from tests.examples import QUICK, copy_example
from tests.servers import start_serve, stop

runner = CliRunner()
BANDS = ["low", "midlow", "midhigh", "high"]
MULTICLASS = {"problem": "multiclass", "target": "Band", "objective": "Tell the price band of a house.",
              "success": [{"metric": "macro_f1", "above": 0.55}, {"metric": "log_loss", "below": 0.9}]}


@pytest.fixture(scope="module")
def banded(tmp_path_factory):
    """1,200 houses in four price bands, two candidate families, 3-fold CV; run once for the module."""
    folder = copy_example(tmp_path_factory.mktemp("multiclass") / "hp", **{
        **QUICK, "business": MULTICLASS, "models": {"candidates": ["linear", "knn"]},
        "training": {"holdout": 0.25, "cv": 3}})
    table = pd.read_csv(folder / "data" / "ames.csv.gz").head(1200)
    table["Band"] = pd.qcut(table.pop("Sale_Price"), 4, labels=BANDS).astype(str)
    table.to_csv(folder / "data" / "ames.csv.gz", index=False)
    project = Project.load(folder / "cairn.yaml")
    return folder, project, project.run(), table


def test_it_ships_by_macro_f1_and_log_loss_with_intervals(banded):
    _, _, run, _ = banded
    assert [c.name for c in run.checks][:2] == ["objective MACRO_F1 > 0.55", "objective LOG_LOSS < 0.9"]
    assert run.shipped is True and all(c.met for c in run.checks), run.verdict
    assert 0.55 < run.metrics["macro_f1"] < 1 and 0 < run.metrics["log_loss"] < 0.9
    assert {"accuracy", "balanced_accuracy"} <= set(run.metrics)
    assert "holdout MACRO_F1 0." in run.verdict and "95% CI" in run.verdict


def test_the_metric_named_first_chooses_the_model(banded):
    folder, _, _, _ = banded
    with sqlite3.connect(folder / ".cairn" / "cairn.db") as db:
        cv = {model: value for model, value in db.execute(
            "select model, value from cairn_metrics where scope = 'cv' and name = 'macro_f1'")}
        chosen = db.execute("select distinct model from cairn_metrics where scope = 'holdout'").fetchall()
    assert set(cv) == {"linear", "knn"}
    assert chosen == [(max(cv, key=cv.__getitem__),)]


def test_per_class_figures_with_intervals_in_show_json(banded):
    folder, project, _, table = banded
    shown = runner.invoke(app, ["show", "--json", "-p", str(folder / "cairn.yaml")])
    assert shown.exit_code == 0, shown.output
    per_class = json.loads(shown.stdout)["verdict"]["per_class"]
    assert sorted(row["class"] for row in per_class) == sorted(BANDS)
    holdout_rows = sum(row["support"] for row in per_class)
    assert holdout_rows == 300  # a quarter of 1,200, every class in it (stratified)
    for row in per_class:
        for figure in ("precision", "recall", "f1"):
            value, low, high = (row[figure][key] for key in ("value", "ci_low", "ci_high"))
            assert 0 <= low <= value <= high <= 1 and high - low < 0.4, (row["class"], figure)
    # the point figures are scikit-learn's on the holdout rows the model predicted
    model = project.load_model()
    f1 = {row["class"]: row["f1"]["value"] for row in per_class}
    macro = np.mean(list(f1.values()))
    assert macro == pytest.approx(json.loads(shown.stdout)["metrics"]["macro_f1"])
    assert set(model.classes) == set(BANDS)


def test_the_report_shows_the_per_class_table(banded):
    _, _, run, _ = banded
    html = run.report_path.read_text()
    section = html[html.index('id="per-class"'):]
    section = section[:section.index("</table>")]
    for band in BANDS:
        assert f"<td>{band}</td>" in section
    assert section.count("<tr>") == 1 + len(BANDS) and "Precision" in section and "(0." in section
    assert "Train Macro F1" in html  # the leaderboard's training score is of the metric named first


def test_predict_writes_a_label_and_a_probability_per_class(banded, tmp_path):
    folder, _, _, table = banded
    rows = table.tail(40)
    rows.drop(columns="Band").to_csv(tmp_path / "rows.csv", index=False)
    printed = runner.invoke(app, ["predict", str(tmp_path / "rows.csv"), "-p", str(folder / "cairn.yaml")])
    assert printed.exit_code == 0, printed.output
    scored = pd.read_csv(io.StringIO(printed.stdout))
    columns = [f"probability_{band}" for band in sorted(BANDS)]
    assert set(columns) <= set(scored.columns) and set(scored["prediction"]) <= set(BANDS)
    np.testing.assert_allclose(scored[columns].sum(axis=1), 1.0, atol=1e-6)
    # the label is the most probable class, and the labels are mostly right on these (training) rows
    assert (scored[columns].to_numpy().argmax(axis=1) == [columns.index(f"probability_{p}")
                                                          for p in scored["prediction"]]).all()
    assert skm.accuracy_score(rows["Band"], scored["prediction"]) > 0.5


def test_serve_answers_probabilities_summing_to_one(banded):
    folder, _, _, table = banded
    records = json.loads(table.drop(columns="Band").head(3).to_json(orient="records"))
    process, base, _ = start_serve(folder / "cairn.yaml")
    try:
        one = httpx.post(f"{base}/predict", json=records[0], timeout=10)
        many = httpx.post(f"{base}/predict", json=records, timeout=10)
    finally:
        stop(process)
    assert one.status_code == 200 and many.status_code == 200, (one.text, many.text)
    answer = one.json()
    assert answer["prediction"] in BANDS and set(answer["probabilities"]) == set(BANDS)
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)
    assert answer["prediction"] == max(answer["probabilities"], key=answer["probabilities"].get)
    batch = many.json()
    assert len(batch["predictions"]) == 3 and batch["probabilities"][0] == pytest.approx(answer["probabilities"])
    for probabilities in batch["probabilities"]:
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-9)


def test_an_evaluation_stored_before_per_class_figures_still_reads_and_reports():
    """EvaluationResult is pickled with a run's stage outputs: one pickled before `per_class` existed has no such
    attribute in its state, and must read as having none (the report's table and the JSON are then empty)."""
    from cairn.project.report import _per_class
    from cairn.stages.evaluation import EvaluationResult, MetricEstimate

    current = EvaluationResult([MetricEstimate("accuracy", 0.8, 0.7, 0.9)], 0.3, 0.5, [], [], 0.95)
    state = dict(current.__dict__)
    del state["per_class"]
    old = pickle.loads(pickle.dumps(current))
    old.__dict__.clear()
    old.__dict__.update(state)  # what unpickling an older result restores
    assert "per_class" not in old.__dict__
    restored = pickle.loads(pickle.dumps(old))
    assert restored.per_class == () and _per_class(restored) == [] and restored.metric("accuracy").value == 0.8


def test_the_report_opens_in_chromium_with_the_table_and_the_confusion_matrix(banded, chromium):
    _, _, run, _ = banded
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(run.report_path.as_uri(), wait_until="load")
    rows = page.locator("table.per-class tbody tr")
    assert rows.count() == len(BANDS) and page.locator("table.per-class").is_visible()
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[0] in BANDS and int(cells[1]) > 0 and all("(0." in cell or "(1." in cell for cell in cells[2:])
    assert "Confusion matrix" in page.content()
    widths = page.eval_on_selector_all("img", "images => images.map(i => i.complete ? i.naturalWidth : 0)")
    assert widths and all(width > 0 for width in widths), widths
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert problems == []
    page.close()


def test_a_class_absent_from_the_holdout_reads_as_null_in_json():
    from cairn.stages.evaluation import ClassEstimate, MetricEstimate

    nan = float("nan")
    absent = ClassEstimate(np.int64(3), 0, MetricEstimate("precision", 0.0, 0.0, 0.0),
                           MetricEstimate("recall", nan, None, None), MetricEstimate("f1", nan, None, None))
    assert json.loads(json.dumps(absent.to_dict())) == {
        "class": 3, "support": 0, "precision": {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0},
        "recall": {"value": None, "ci_low": None, "ci_high": None}, "f1": {"value": None, "ci_low": None,
                                                                            "ci_high": None}}


def test_plain_show_prints_the_per_class_table(banded):
    folder, _, _, _ = banded
    shown = runner.invoke(app, ["show", "-p", str(folder / "cairn.yaml")])
    assert shown.exit_code == 0, shown.output
    per_class = json.loads(runner.invoke(app, ["show", "--json", "-p", str(folder / "cairn.yaml")]).stdout
                           )["verdict"]["per_class"]
    table = shown.stdout[shown.stdout.index("per class, on the holdout"):].splitlines()
    for row in per_class:
        line = next(line for line in table if f" {row['class']} " in line)
        f1 = row["f1"]
        assert f"{f1['value']:.3f} ({f1['ci_low']:.2f}-{f1['ci_high']:.2f})" in line
        assert f" {row['support']} " in line
