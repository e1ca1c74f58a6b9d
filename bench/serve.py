"""What GET /metrics costs a one-record POST /predict: the example's LightGBM served with and without metrics.

The model is bench/explain.py's (LightGBM fitted by cairn on the Ames rows as the house-price example plans them).
`create_app(model)` and `create_app(model, metrics=False)` are served in turn, one at a time, on a loopback port
(uvicorn in a thread of this process, as bench/explain.py serves), in alternating rounds so that drift in the
machine's load falls on both alike. One httpx client sends one-record bodies; every call is timed on its own.

Goal (issue 14): metrics cost the one-row p99 no more than 0.1 ms.

Run: .venv/bin/python bench/serve.py [--rows 500] [--rounds 6]   (one thread, as cairn's default; under a minute)
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # pinned before numpy and LightGBM load
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse
import math
import sys
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from explain import example_lightgbm
from timing import served

from cairn.serving import create_app

GOAL_P99_COST_MS = 0.1


def timed_calls_ms(http: httpx.Client, bodies: list[bytes]) -> list[float]:
    timings = []
    for body in bodies:
        began = time.perf_counter()
        http.post("/predict", content=body, headers={"Content-Type": "application/json"}).raise_for_status()
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def main() -> None:
    import json

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=500, help="one-record calls per round and way (default 500)")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds (default 6)")
    arguments = parser.parse_args()
    model, table = example_lightgbm()
    records = [{key: value for key, value in record.items() if not (isinstance(value, float) and math.isnan(value))}
               for record in table[model.feature_names].sample(arguments.rows, random_state=1).to_dict("records")]
    bodies = [json.dumps(record).encode() for record in records]
    timings: dict[str, list[float]] = {"with /metrics": [], "without": []}
    scraped = ""
    for round_number in range(arguments.rounds):
        ways = ["with /metrics", "without"] if round_number % 2 == 0 else ["without", "with /metrics"]
        for way in ways:  # one server at a time: two in one process would share its GIL
            with served(create_app(model, metrics=way == "with /metrics")) as url, \
                    httpx.Client(base_url=url) as http:
                timed_calls_ms(http, bodies[:50])  # warm-up
                timings[way] += timed_calls_ms(http, bodies)
                if way == "with /metrics":
                    scraped = http.get("/metrics").text
    calls = arguments.rows * arguments.rounds
    print(f"{'way':<16}{'p50 ms':>9}{'p99 ms':>9}   ({calls} one-record POST /predict each, LightGBM, Ames)")
    figures = {}
    for way, values in timings.items():
        p50, p99 = (float(value) for value in np.percentile(values, (50, 99)))
        figures[way] = (p50, p99)
        print(f"{way:<16}{p50:>9.3f}{p99:>9.3f}")
    cost_p50 = figures["with /metrics"][0] - figures["without"][0]
    cost_p99 = figures["with /metrics"][1] - figures["without"][1]
    print(f"cost of metrics: p50 {cost_p50:+.3f} ms, p99 {cost_p99:+.3f} ms: "
          f"{'meets' if cost_p99 <= GOAL_P99_COST_MS else 'misses'} the {GOAL_P99_COST_MS:g} ms goal")
    counted = next(line for line in scraped.splitlines()
                   if line.startswith('cairn_requests_total{route="/predict",status="200"}'))
    print(f"scraped from the last server with metrics (its warm-up included): {counted}")


if __name__ == "__main__":
    main()
