"""Benchmarks for the spine (issue 2), each printed beside a peer measured in the same process.

1. wall time of `cairn run` on the example, cold and fully cached, beside one fit of a plain LightGBM pipeline;
2. the example's holdout MAPE beside a plain LightGBM pipeline with a log target on the same split
   (train_test_split(test_size=0.2, random_state=42));
3. one-row predict p50/p99: cairn's model in process beside the plain scikit-learn pipeline, and cairn's
   `POST /predict` over loopback.

Run: .venv/bin/python bench/spine.py   (threads: one per fit, as cairn's default)
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import lightgbm
import numpy as np
import pandas as pd
import uvicorn
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder
from timing import latency_percentiles_ms  # bench/ is on the path when a bench script runs

from cairn.project.api import Project
from cairn.serving import create_app

EXAMPLE = Path(__file__).parents[1] / "examples" / "house-prices"
TARGET = "Sale_Price"


def plain_lightgbm(table: pd.DataFrame):
    """What a careful user writes by hand: impute, ordinal-encode categories, LightGBM on log(price)."""
    categorical = [c for c in table.columns if c != TARGET and not pd.api.types.is_numeric_dtype(table[c])]
    numeric = [c for c in table.columns if c != TARGET and c not in categorical]
    encode = ColumnTransformer([
        ("numeric", SimpleImputer(strategy="median"), numeric),
        ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                      OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)),
         categorical),
    ])
    model = lightgbm.LGBMRegressor(n_estimators=600, learning_rate=0.03, num_leaves=15, n_jobs=1, verbose=-1,
                                   random_state=42)
    return TransformedTargetRegressor(make_pipeline(encode, model), func=np.log1p, inverse_func=np.expm1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    table = pd.read_csv(EXAMPLE / "data" / "ames.csv.gz")
    work = Path(tempfile.mkdtemp(prefix="cairn-bench-"))
    folder = shutil.copytree(EXAMPLE, work / "house-prices", ignore=shutil.ignore_patterns(".cairn"))
    project = Project.load(folder / "cairn.yaml")

    began = time.perf_counter()
    cold = project.run()
    cold_s = time.perf_counter() - began
    began = time.perf_counter()
    cached = project.run()
    cached_s = time.perf_counter() - began
    assert all(s.cached for s in cached.stages)

    train, holdout = train_test_split(table, test_size=0.2, random_state=42)
    peer = plain_lightgbm(table)
    began = time.perf_counter()
    peer.fit(train.drop(columns=TARGET), train[TARGET])
    peer_fit_s = time.perf_counter() - began
    truth = holdout[TARGET].to_numpy()
    peer_mape = float(np.mean(np.abs(peer.predict(holdout.drop(columns=TARGET)) - truth) / truth))

    model = project.load_model()
    # the registered model is refit on every row (deployment.refit: all_rows), holdout included: its holdout
    # score is the run's, measured on the recipe fitted without those rows (the same 80/20 split)
    cairn_mape = cold.metrics["mape"]
    records = json.loads(holdout.drop(columns=TARGET).head(300).to_json(orient="records"))  # NaN -> null
    rows = [holdout.drop(columns=TARGET).iloc[[i]] for i in range(300)]
    cairn_p50, cairn_p99 = latency_percentiles_ms(lambda r: model.predict([r]), records)
    peer_p50, peer_p99 = latency_percentiles_ms(peer.predict, rows)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(model), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        def post(record: dict) -> None:
            client.post("/predict", json=record).raise_for_status()

        http_p50, http_p99 = latency_percentiles_ms(post, records)
    server.should_exit = True
    thread.join()
    shutil.rmtree(work)

    print(f"python {sys.version.split()[0]}, LightGBM {lightgbm.__version__}, one thread per fit")
    print(f"{'measure':<44}{'cairn':>12}{'peer':>12}{'ratio':>9}")
    rows_out = [
        ("cairn run, cold (s) / one plain fit", cold_s, peer_fit_s),
        ("cairn run, all cached (s) / cold run", cached_s, cold_s),
        ("holdout MAPE (%) / plain LightGBM, log y", cairn_mape * 100, peer_mape * 100),
        ("one-row predict p50 (ms) / plain pipeline", cairn_p50, peer_p50),
        ("one-row predict p99 (ms) / plain pipeline", cairn_p99, peer_p99),
        ("POST /predict p50 (ms) / in-process cairn", http_p50, cairn_p50),
        ("POST /predict p99 (ms) / in-process cairn", http_p99, cairn_p99),
    ]
    for name, ours, theirs in rows_out:
        print(f"{name:<44}{ours:>12.3f}{theirs:>12.3f}{ours / theirs:>9.2f}")
    print(f"verdict: {cold.verdict}")


if __name__ == "__main__":
    main()
