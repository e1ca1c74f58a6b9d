"""One-row latency of each candidate's fitted pipeline: cairn's serving path beside scikit-learn's own `predict`.

For every installed candidate, fitted on the Ames data (regression, log target) and on a binary task made from it
(price above the median), three ways to answer one record, each timed call by call after a warm-up:

- `sklearn frame`: `pipeline.predict(one_row_dataframe)`, what a user of a plain scikit-learn pipeline calls;
- `sklearn columns`: `pipeline.predict(column_arrays)`, cairn's path before its compiled one (cairn.model.compiled);
- `cairn`: `TrainedModel.predict([record])`, the path the REST API and `cairn predict` take (record to columns
  included), with probabilities too for classification, as the API answers.

Run: .venv/bin/python bench/serving.py [--rows 300]   (one thread per model, as cairn's default)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import latency_percentiles_ms

from cairn.config.schema import Business, Data, Features, Preprocessing
from cairn.model.trained import TrainedModel, as_model_columns, as_model_frame
from cairn.stages.business import business_case
from cairn.stages.features import plan_features
from cairn.stages.preprocessing import clean_table
from cairn.stages.selection import CATALOGUE, installed
from cairn.stages.training.train import build_pipeline

AMES = Path(__file__).resolve().parents[1] / "examples" / "house-prices" / "data" / "ames.csv.gz"


def prepared(problem: str) -> tuple[pd.DataFrame, object, object]:
    """The Ames rows cleaned and planned as cairn's stages would; the binary task asks "above the median price?"."""
    raw = pd.read_csv(AMES)
    target = "Sale_Price"
    if problem == "binary":
        price = raw.pop(target)
        target = "expensive"
        raw[target] = np.where(price > price.median(), "yes", "no")
    case = business_case(Business(problem=problem, target=target))
    clean, _ = clean_table(raw, target=target, spec=Preprocessing())
    plan = plan_features(clean, case=case, spec=Features(), data_spec=Data(source="ames.csv.gz"),
                         cleaning=Preprocessing(), column_types={})
    return clean, case, plan


def measure(problem: str, name: str, rows: int) -> dict[str, float]:
    table, case, plan = prepared(problem)
    pipeline = build_pipeline(CATALOGUE[name], plan, case=case, seed=0, n_jobs=1, n_rows=len(table))
    pipeline.fit(as_model_frame(table, plan.features), table[case.target].to_numpy())
    model = TrainedModel("bench", 1, problem, case.target, plan.features, pipeline)
    names = [feature.name for feature in plan.features]
    records = table[names].sample(rows, random_state=1).to_dict("records")
    frames = [as_model_frame(pd.DataFrame([record]), plan.features) for record in records]
    columns = [as_model_columns([record], plan.features) for record in records]
    classify = problem != "regression"

    def scikit_learn(inputs: object) -> None:
        pipeline.predict(inputs)
        if classify:
            pipeline.predict_proba(inputs)

    def cairn(record: dict) -> None:
        model.answer(model.inputs([record]))

    timings = {"frame": latency_percentiles_ms(scikit_learn, frames),
               "columns": latency_percentiles_ms(scikit_learn, columns),
               "cairn": latency_percentiles_ms(cairn, records)}
    return {f"{way} {label}": value for way, (p50, p99) in timings.items()
            for label, value in (("p50", p50), ("p99", p99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300, help="one-row calls timed per way (default 300)")
    parser.add_argument("--candidates", nargs="*", default=[n for n, c in CATALOGUE.items() if installed(c)])
    args = parser.parse_args()
    print(f"{'problem':<11}{'candidate':<24}{'sklearn frame p50/p99':>22}{'sklearn columns p50/p99':>25}"
          f"{'cairn p50/p99':>16}{'p99 ratio sklearn frame/cairn':>31}")
    for problem in ("regression", "binary"):
        for name in args.candidates:
            t = measure(problem, name, args.rows)
            print(f"{problem:<11}{name:<24}{t['frame p50']:>11.2f} / {t['frame p99']:<8.2f}"
                  f"{t['columns p50']:>13.2f} / {t['columns p99']:<9.2f}{t['cairn p50']:>7.2f} / {t['cairn p99']:<6.2f}"
                  f"{t['frame p99'] / t['cairn p99']:>12.1f}x", flush=True)


if __name__ == "__main__":
    main()
