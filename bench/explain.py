"""One-row explanation latency of the example's LightGBM model, beside its one-row prediction (issue 12).

The model: LightGBM fitted by cairn on all the Ames rows as the house-price example plans them (its features,
target_transform auto, which is log for MAPE; native categories). Four ways to answer one record, each timed call
by call after a warm-up (bench/timing.py):

- `predict in process`: `TrainedModel.predict([record])`;
- `explain in process`: `TrainedModel.explain([record])`, LightGBM's own TreeSHAP (`pred_contrib`);
- `POST /predict` and `POST /explain`: the same over HTTP, uvicorn on a loopback port, one httpx client.

Goal: `POST /explain` p99 under 10 ms.

Run: .venv/bin/python bench/explain.py [--rows 300]   (one thread, as cairn's default; under a minute)
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # pinned before numpy and LightGBM load
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse
import math
import sys
from pathlib import Path

import httpx
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import latency_percentiles_ms, served

from cairn.config.schema import Business, Data, Features, Preprocessing
from cairn.model.trained import TrainedModel, as_model_frame
from cairn.serving import create_app
from cairn.stages.business import business_case
from cairn.stages.features import plan_features
from cairn.stages.preprocessing import clean_table
from cairn.stages.selection import CATALOGUE
from cairn.stages.training.train import build_pipeline

AMES = Path(__file__).resolve().parents[1] / "examples" / "house-prices" / "data" / "ames.csv.gz"
GOAL_P99_MS = 10.0


def example_lightgbm() -> tuple[TrainedModel, pd.DataFrame]:
    raw = pd.read_csv(AMES)
    case = business_case(Business(problem="regression", target="Sale_Price",
                                  success=[{"metric": "mape", "below": 0.1}]))  # type: ignore[list-item]
    clean, _ = clean_table(raw, target=case.target, spec=Preprocessing(outliers={"method": "none"}))
    plan = plan_features(clean, case=case, spec=Features(), data_spec=Data(source="ames.csv.gz"),
                         cleaning=Preprocessing(), column_types={})
    pipeline = build_pipeline(CATALOGUE["lightgbm"], plan, case=case, seed=42, n_jobs=1, n_rows=len(clean))
    pipeline.fit(as_model_frame(clean, plan.features), clean[case.target].to_numpy())
    return TrainedModel("house-prices", 1, "regression", case.target, plan.features, pipeline), clean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300, help="one-row calls timed per way (default 300)")
    rows = parser.parse_args().rows
    model, table = example_lightgbm()
    records = [{key: value for key, value in record.items() if not (isinstance(value, float) and math.isnan(value))}
               for record in table[model.feature_names].sample(rows, random_state=1).to_dict("records")]
    results = {"predict in process": latency_percentiles_ms(lambda r: model.predict([r]), records),
               "explain in process": latency_percentiles_ms(lambda r: model.explain([r]), records)}
    with served(create_app(model)) as url, httpx.Client(base_url=url, timeout=30) as http:
        for path in ("/predict", "/explain"):
            def call(record: dict, path: str = path) -> None:
                http.post(path, json=record).raise_for_status()

            results[f"POST {path}"] = latency_percentiles_ms(call, records)
    print(f"{'way':<22}{'p50 ms':>9}{'p99 ms':>9}   ({rows} one-row calls each, LightGBM, Ames, log target)")
    for way, (p50, p99) in results.items():
        print(f"{way:<22}{p50:>9.2f}{p99:>9.2f}")
    p99 = results["POST /explain"][1]
    print(f"POST /explain p99 {p99:.2f} ms: {'meets' if p99 < GOAL_P99_MS else 'misses'} the {GOAL_P99_MS:g} ms goal")


if __name__ == "__main__":
    main()
