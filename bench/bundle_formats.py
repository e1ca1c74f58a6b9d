"""How to store the fitted pipeline inside a model bundle: joblib (cairn's choice) beside skops' trusted-type format.

Both are measured on the house-price example's registered pipeline (a blend of ridge and LightGBM on cairn's
encoder, as tests/fixtures/model-0.1.0.joblib holds it): bytes on disk, time to load, and the one-row answer
after loading through cairn's serving path. skops refuses any type not listed as trusted, so it is loaded with
cairn.estimators' classes and the libraries' own named as trusted; the types it had to be told are printed.

Run: .venv/bin/python bench/bundle_formats.py   (pip install skops first; it is not a cairn dependency)
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import joblib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import latency_percentiles_ms

from cairn.hashing import sha256_bytes
from cairn.model.bundle import load_bundle

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def median_ms(action, repeat: int = 15) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        times.append((time.perf_counter() - began) * 1000)
    return float(np.median(times))


def main() -> None:
    import skops.io as sio

    saved = (FIXTURES / "model-0.1.0.joblib").read_bytes()
    model = load_bundle(sha256_bytes(saved), {sha256_bytes(saved): saved}.__getitem__, what="fixture", legacy=True)
    records = json.loads((FIXTURES / "model-0.1.0-answers.json").read_text())["records"]
    buffer = io.BytesIO()
    joblib.dump(model.pipeline, buffer, compress=3)
    as_joblib = buffer.getvalue()
    as_skops = sio.dumps(model.pipeline, compression=8)
    untrusted = sio.get_untrusted_types(data=as_skops)
    print(f"skops had to be told to trust {len(untrusted)} types: {', '.join(untrusted)}")
    rows = []
    for name, data, load in (("joblib", as_joblib, lambda d: joblib.load(io.BytesIO(d))),
                             ("skops", as_skops, lambda d: sio.loads(d, trusted=untrusted))):
        try:
            load_ms = median_ms(lambda d=data, f=load: f(d))
        except Exception as error:
            print(f"{name}: {len(data):,} bytes; loading fails: {type(error).__name__}: {error}")
            continue
        model.pipeline, model._answer = load(data), None
        answers = model.predict(records)
        p50, p99 = latency_percentiles_ms(lambda record: model.predict([record]), records * 8)
        rows.append((name, len(data), load_ms, p50, p99, answers))
    print(f"{'format':8} {'bytes':>9} {'load ms':>9} {'one-row p50/p99 ms':>20}")
    for name, size, load_ms, p50, p99, _ in rows:
        print(f"{name:8} {size:>9,} {load_ms:>9.1f} {p50:>9.2f} / {p99:.2f}")
    if len(rows) == 2:
        same = np.allclose(rows[0][5], rows[1][5], rtol=1e-12, atol=0)
        print(f"answers identical: {same}; load ratio skops/joblib {rows[1][2] / rows[0][2]:.1f}x")


if __name__ == "__main__":
    main()
