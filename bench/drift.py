"""Benchmark for drift at scale (issue 13): a 1M-row window against stored reference statistics, beside Evidently.

1. Generates once (cached, bench/data.py's generator: Ames rows resampled with numeric jitter) a 500,000-row
   reference and a 1,000,000-row current window (another seed); both tools multiply the window's Gr_Liv_Area by 1.1
   after reading it, so one feature drifts.
2. "Training", once: cairn's reference statistics of the 500k rows (cairn.monitoring.reference), pickled.
3. Measures, each in a fresh subprocess so that its peak RSS is its own:
   a. cairn: load the statistics, read the window (pandas.read_parquet), PSI with KS or chi-square per feature,
      new levels, missing rates (WindowDrift), then the domain classifier on 5,000 + 5,000 rows; and again with
      the window read 250,000 rows at a time (what cairn needs; Evidently needs both tables whole);
   b. Evidently (its own venv, never imported into cairn's): read both files, then
      Report([DataDriftPreset(num_method="ks", cat_method="chisquare")]).run(window, reference): the same tests per
      column (its defaults at this size are Wasserstein and Jensen-Shannon);
   c. the monitor path on the 10-million-row Parquet file of bench/data.py (generated if missing): a quick project
      trained on the Ames example (in a child of its own, once), its stored baseline, then
      ``batched_window_drift`` over the file read 250,000 rows at a time: every feature, the model's predictions
      (on a uniform sample of 200,000 rows), the domain classifier. Goal: under 2 GiB.
4. Prints wall time (read and drift apart), CPU time and peak RSS of each, and the ratios. Goal from the issue:
   cairn at least 20x faster than Evidently and at most a third of its memory.

Run: .venv/bin/python bench/drift.py [--evidently-python /tmp/venv-evidently/bin/python] [--skip-10m]
Evidently's venv: python3 -m venv /tmp/venv-evidently && /tmp/venv-evidently/bin/pip install evidently 'pandas<3'
(Evidently 0.7 imports a pandas helper that pandas 3 removed). Never from pytest: Evidently alone needs GiBs.
Only the standard library is imported at the top: the Evidently child runs this same file in its own venv.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FOLDER = Path("/tmp/cairn-bench")
REFERENCE = FOLDER / "drift-reference-500k.parquet"
CURRENT = FOLDER / "drift-current-1m.parquet"
STATISTICS = FOLDER / "drift-statistics.pkl"
PROJECT = FOLDER / "drift-project"
TEN_MILLION = FOLDER / "ames-10m.parquet"
SHIFTED, FACTOR = "Gr_Liv_Area", 1.1
TARGET = "Sale_Price"
BATCH_ROWS = 250_000
EVIDENTLY_PYTHON = Path("/tmp/venv-evidently/bin/python")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def feature_kinds(path: Path) -> tuple[list[str], list[str]]:
    """(numbers, categories) of the Ames schema, the target left out."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    numbers = [f.name for f in schema if f.name != TARGET and str(f.type).startswith(("int", "double", "float"))]
    categories = [f.name for f in schema if f.name != TARGET and f.name not in numbers]
    return numbers, categories


def window(path: Path) -> Any:
    import pandas as pd

    table = pd.read_parquet(path)
    table[SHIFTED] = table[SHIFTED] * FACTOR
    return table


# children ----------------------------------------------------------------------------------------------------------
def measure_statistics() -> dict[str, Any]:
    import pickle

    import pandas as pd

    from cairn.model.trained import FeatureSpec
    from cairn.monitoring.reference import reference_statistics

    numbers, categories = feature_kinds(REFERENCE)
    features = [FeatureSpec(n, "number") for n in numbers] + [FeatureSpec(c, "category") for c in categories]
    reference = pd.read_parquet(REFERENCE)
    began = time.perf_counter()
    statistics = reference_statistics(reference, features, bins=10)
    seconds = time.perf_counter() - began
    STATISTICS.write_bytes(pickle.dumps((features, statistics)))
    return {"seconds": seconds, "pickle_mib": STATISTICS.stat().st_size / 2**20, "peak_rss_mib": peak_rss_mib()}


def measure_cairn() -> dict[str, Any]:
    import pickle

    from cairn.monitoring.domain import domain_drift
    from cairn.monitoring.drift import WindowDrift

    began = time.perf_counter()
    features, statistics = pickle.loads(STATISTICS.read_bytes())
    current = window(CURRENT)
    read_s = time.perf_counter() - began
    began = time.perf_counter()
    counts = WindowDrift(statistics, features, sample_rows=5_000)
    counts.add(current)
    report = counts.report(threshold=0.2)
    drift_s = time.perf_counter() - began
    began = time.perf_counter()
    assert counts.sample is not None
    domain = domain_drift(statistics.sample, counts.sample, features=features, seed=0)
    domain_s = time.perf_counter() - began
    assert domain is not None
    return {"read_s": read_s, "drift_s": drift_s, "domain_s": domain_s, "cpu_s": cpu_seconds(),
            "peak_rss_mib": peak_rss_mib(), "columns": len(report.features),
            "drifted": [f.feature for f in report.drifted], "domain_auc": domain.auc,
            "domain_top": domain.top[0][0] if domain.top else None}


def measure_cairn_batched() -> dict[str, Any]:
    """As ``measure_cairn``, the window read 250,000 rows at a time: memory holds one batch, never the window."""
    import pickle

    import pyarrow.parquet as pq

    from cairn.monitoring.domain import domain_drift
    from cairn.monitoring.drift import WindowDrift

    began = time.perf_counter()
    features, statistics = pickle.loads(STATISTICS.read_bytes())
    counts = WindowDrift(statistics, features, sample_rows=5_000)
    for batch in pq.ParquetFile(CURRENT).iter_batches(batch_size=BATCH_ROWS):
        table = batch.to_pandas()
        table[SHIFTED] = table[SHIFTED] * FACTOR
        counts.add(table)
    report = counts.report(threshold=0.2)
    drift_s = time.perf_counter() - began
    began = time.perf_counter()
    assert counts.sample is not None
    domain = domain_drift(statistics.sample, counts.sample, features=features, seed=0)
    domain_s = time.perf_counter() - began
    assert domain is not None
    return {"read_s": 0.0, "drift_s": drift_s, "domain_s": domain_s, "cpu_s": cpu_seconds(),
            "peak_rss_mib": peak_rss_mib(), "columns": len(report.features),
            "drifted": [f.feature for f in report.drifted], "domain_auc": domain.auc}


def measure_evidently() -> dict[str, Any]:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numbers, categories = feature_kinds(REFERENCE)
    began = time.perf_counter()
    reference = pd.read_parquet(REFERENCE)
    current = window(CURRENT)
    read_s = time.perf_counter() - began
    began = time.perf_counter()
    definition = DataDefinition(numerical_columns=numbers, categorical_columns=categories)
    report = Report([DataDriftPreset(num_method="ks", cat_method="chisquare")])
    result = report.run(Dataset.from_pandas(current, data_definition=definition),
                        Dataset.from_pandas(reference, data_definition=definition))
    drift_s = time.perf_counter() - began
    found = result.dict()
    return {"read_s": read_s, "drift_s": drift_s, "cpu_s": cpu_seconds(), "peak_rss_mib": peak_rss_mib(),
            "metrics": len(found.get("metrics", []))}


def quick_project() -> Path:
    """The Ames example with one cheap candidate, trained once (kept between runs)."""
    import yaml

    from cairn.project.api import Project

    config_path = PROJECT / "cairn.yaml"
    if not (PROJECT / ".cairn").exists():
        shutil.rmtree(PROJECT, ignore_errors=True)
        shutil.copytree(HERE.parent / "examples" / "house-prices", PROJECT, ignore=shutil.ignore_patterns(".cairn"))
        config = yaml.safe_load(config_path.read_text())
        config["models"] = {**config.get("models", {}), "candidates": ["lightgbm"]}
        config["exploration"] = {**config.get("exploration", {}), "enabled": False}
        config["evaluation"] = {**config.get("evaluation", {}), "bootstrap": 200, "explain": "none",
                                "latency_samples": 50}
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        Project.load(config_path).run()
    return config_path


def measure_monitor_10m() -> dict[str, Any]:
    import pyarrow.parquet as pq

    from cairn.monitoring.drift import batched_window_drift
    from cairn.project.api import Project

    project = Project.load(quick_project())
    model = project.load_model()
    baseline = project.monitoring_baseline(model.version)
    names = [feature.name for feature in model.features]
    began = time.perf_counter()
    source = pq.ParquetFile(TEN_MILLION)
    batches = (batch.to_pandas() for batch in source.iter_batches(batch_size=BATCH_ROWS, columns=names))
    report = batched_window_drift(baseline, batches, model=model, total_rows=source.metadata.num_rows)
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "cpu_s": cpu_seconds(), "peak_rss_mib": peak_rss_mib(), "rows": report.current_rows,
            "model": model.name, "drifted": [f.feature for f in report.drifted],
            "prediction_psi": report.predictions[0].psi if report.predictions else None,
            "domain_auc": report.domain.auc if report.domain else None}


def train_project() -> dict[str, Any]:
    """The quick project trained in a child of its own, so that training never counts in the monitor's memory."""
    began = time.perf_counter()
    quick_project()
    return {"seconds": time.perf_counter() - began}


MEASURES = {"statistics": measure_statistics, "cairn": measure_cairn, "cairn-batched": measure_cairn_batched,
            "evidently": measure_evidently, "project": train_project,
            "monitor-10m": measure_monitor_10m}


def run_child(kind: str, python: Path) -> dict[str, Any] | str:
    """One measurement in a fresh interpreter; its report on stdout, or why it died."""
    began = time.perf_counter()
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                   "PYTHONPATH": str(HERE.parent / "src")}
    done = subprocess.run([str(python), __file__, "--measure", kind], capture_output=True, text=True,
                          env=environment)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"failed (exit {done.returncode}) after {time.perf_counter() - began:.0f} s: {tail}"
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def generate_missing(skip_10m: bool) -> None:
    sys.path.insert(0, str(HERE))
    from data import generate  # bench/data.py

    for path, rows, seed in ((REFERENCE, 500_000, 1), (CURRENT, 1_000_000, 2),
                             *(() if skip_10m else ((TEN_MILLION, 10_000_000, 0),))):
        if not path.exists():
            print(f"generating {rows:,} rows into {path} ...", file=sys.stderr)
            generate(path, rows=rows, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evidently-python", type=Path, default=EVIDENTLY_PYTHON)
    parser.add_argument("--skip-10m", action="store_true", help="leave out the 10M-row monitor path")
    parser.add_argument("--measure", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(MEASURES[args.measure]()))
        return

    generate_missing(args.skip_10m)
    results: dict[str, dict[str, Any] | str] = {"statistics": run_child("statistics", Path(sys.executable))}
    results["cairn"] = run_child("cairn", Path(sys.executable))
    results["cairn-batched"] = run_child("cairn-batched", Path(sys.executable))
    results["evidently"] = run_child("evidently", args.evidently_python)
    if not args.skip_10m:
        results["project"] = run_child("project", Path(sys.executable))
        results["monitor-10m"] = run_child("monitor-10m", Path(sys.executable))
    load = os.getloadavg()[0]
    print(f"\n500,000 reference rows, 1,000,000 window rows (Ames schema, {SHIFTED} x{FACTOR} in the window); "
          f"load average {load:.1f} on {os.cpu_count()} cores\n")
    print(json.dumps(results, indent=1))
    cairn, evidently = results["cairn"], results["evidently"]
    print(f"\n{'':52} {'read s':>7} {'drift s':>8} {'CPU s':>7} {'peak RSS MiB':>13}")
    rows = (("cairn WindowDrift (+ domain classifier)", cairn),
            ("cairn, window read in batches (read inside drift)", results["cairn-batched"]),
            ("Evidently DataDriftPreset (ks, chi2)", evidently))
    for label, result in rows:
        if isinstance(result, str):
            print(f"{label:52} {result}")
            continue
        drift = f"{result['drift_s']:.1f}" + (f"+{result['domain_s']:.1f}" if "domain_s" in result else "")
        print(f"{label:52} {result['read_s']:7.1f} {drift:>8} {result['cpu_s']:7.1f} {result['peak_rss_mib']:13,.0f}")
    if isinstance(cairn, dict) and isinstance(evidently, dict):
        print(f"{'Evidently / cairn (drift alone; with the domain classifier)':52} "
              f"{evidently['drift_s'] / cairn['drift_s']:7.0f}x "
              f"{evidently['drift_s'] / (cairn['drift_s'] + cairn['domain_s']):7.0f}x "
              f"memory {cairn['peak_rss_mib'] / evidently['peak_rss_mib']:.2f} of Evidently's")
    ten = results.get("monitor-10m")
    if isinstance(ten, dict):
        print(f"{'monitor path, 10M-row Parquet (batches of 250k)':52} {ten['seconds']:16.1f} {ten['cpu_s']:7.1f} "
              f"{ten['peak_rss_mib']:13,.0f}  (goal < 2,048 MiB)")
    elif ten is not None:
        print(f"monitor path, 10M-row Parquet: {ten}")


if __name__ == "__main__":
    main()
