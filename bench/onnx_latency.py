"""One-row latency of the example's pipelines exported to ONNX: onnxruntime beside cairn's own fast path.

(Not bench/onnx.py: a script named onnx.py would be imported as the onnx package itself.)

The example's default candidates (linear, lightgbm; regression with a log target) and their blend (the example's
production model: EnsembleRegressor, weights 11/17 and 6/17) are fitted on the Ames data as training builds them,
converted with `cairn.model.onnx.to_onnx` (what `cairn export --format onnx` writes), and
each answers the same records one at a time, timed call by call after a warm-up:

- `cairn`: `TrainedModel.answer(TrainedModel.inputs([record]))`, the path `POST /predict` takes (bench/serving.py);
- `ort run`: `InferenceSession.run` on feeds built beforehand (the graph alone: clipping, encoder, model, expm1);
- `ort record`: the record turned into the graph's [1, 1] feeds, then `run`: what a caller of the ONNX file pays.

One thread each (onnxruntime intra- and inter-op threads 1). It also prints the largest relative difference
between onnxruntime's predictions and cairn's over 500 rows (the stated tolerance is 1e-5).

Run: .venv/bin/python bench/onnx_latency.py [--rows 300]   (needs the onnx extra: pip install -e '.[onnx]')
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import prepared
from timing import latency_percentiles_ms

from cairn.estimators.blends import EnsembleRegressor
from cairn.model.inputs import as_model_frame
from cairn.model.onnx import TOLERANCE_RTOL, onnx_inputs, to_onnx
from cairn.model.trained import TrainedModel
from cairn.stages.selection import CATALOGUE
from cairn.stages.training.train import build_pipeline


def measure(name: str, rows: int) -> dict[str, float]:
    import onnxruntime as ort

    table, case, plan = prepared("regression")
    fitted = []
    for member in ("lightgbm", "linear") if name == "blend" else (name,):
        pipeline = build_pipeline(CATALOGUE[member], plan, case=case, seed=0, n_jobs=1, n_rows=len(table))
        fitted.append(pipeline.fit(as_model_frame(table, plan.features), table[case.target].to_numpy()))
    if name == "blend":  # as the example's production model: the greedy ensemble of both, weights as it chose
        pipeline = EnsembleRegressor()
        pipeline.estimators_, pipeline.weights_ = fitted, np.array([11 / 17, 6 / 17])
    model = TrainedModel("bench", 1, "regression", case.target, plan.features, pipeline)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(to_onnx(model).SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [feature.name for feature in plan.features]
    numbers = {feature.name for feature in plan.features if feature.kind == "number"}
    records = table[names].sample(rows, random_state=1).to_dict("records")
    feeds = [onnx_inputs(model, [record]) for record in records]

    def fed(record: dict) -> dict[str, np.ndarray]:
        """A record as the graph's feeds, in plain Python as a caller would write it."""
        out = {}
        for key in names:
            value = record.get(key)
            if key in numbers:
                out[key] = np.array([[np.nan if value is None else value]], dtype=np.float64)
            else:
                out[key] = np.array([["" if value is None or value != value else str(value)]], dtype=object)
        return out

    timings = {"cairn": latency_percentiles_ms(lambda record: model.answer(model.inputs([record])), records),
               "ort run": latency_percentiles_ms(lambda feed: session.run(None, feed), feeds),
               "ort record": latency_percentiles_ms(lambda record: session.run(None, fed(record)), records)}
    sample = table[names].sample(500, random_state=2)
    answered = session.run(None, onnx_inputs(model, sample))[0]
    expected = model.predict(sample)
    result = {f"{way} {label}": value for way, (p50, p99) in timings.items()
              for label, value in (("p50", p50), ("p99", p99))}
    result["max rel diff"] = float(np.max(np.abs(answered - expected) / np.abs(expected)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300, help="one-row calls timed per way (default 300)")
    parser.add_argument("--candidates", nargs="*", default=["linear", "lightgbm", "blend"])
    args = parser.parse_args()
    print(f"{'candidate':<12}{'cairn p50/p99 ms':>18}{'ort run p50/p99':>18}{'ort record p50/p99':>21}"
          f"{'max rel diff':>14}  (tolerance {TOLERANCE_RTOL:g})")
    for name in args.candidates:
        t = measure(name, args.rows)
        print(f"{name:<12}{t['cairn p50']:>9.3f} / {t['cairn p99']:<6.3f}{t['ort run p50']:>9.3f} / "
              f"{t['ort run p99']:<6.3f}{t['ort record p50']:>11.3f} / {t['ort record p99']:<7.3f}"
              f"{t['max rel diff']:>12.1e}", flush=True)


if __name__ == "__main__":
    main()
