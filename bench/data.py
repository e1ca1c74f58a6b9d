"""Benchmark for larger-than-memory data (issue 3): cairn's out-of-core read beside plain pandas.

1. Generates once (cached) a 10-million-row Parquet file with the Ames schema: rows of the example's ames.csv.gz
   drawn with replacement, numeric columns jittered by 5% of their standard deviation, written one row group at
   a time so generation stays far below 2 GiB.
2. Measures, each in a fresh subprocess so that its peak RSS is its own:
   a. cairn: `read_source` with the DuckDB profile of every column and a 500,000-row reproducible sample;
   b. pandas: `pd.read_parquet(path)` then `describe(include="all")`.
3. Prints wall time and peak RSS of both and their ratios. Goal: cairn under 2 GiB peak RSS.

Run: .venv/bin/python bench/data.py [--rows 10000000] [--path /tmp/cairn-bench/ames-10m.parquet]
Never from pytest: the pandas side alone needs many GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

AMES = Path(__file__).parents[1] / "examples" / "house-prices" / "data" / "ames.csv.gz"
DEFAULT_PATH = Path("/tmp/cairn-bench/ames-10m.parquet")
CHUNK_ROWS = 500_000
SAMPLE_ROWS = 500_000
GOAL_MIB = 2048


def generate(path: Path, *, rows: int, seed: int = 0) -> None:
    """Resampled Ames rows with numeric jitter, one row group per chunk, written to a temp name then renamed."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    ames = pd.read_csv(AMES)
    numeric = [c for c in ames.columns if pd.api.types.is_numeric_dtype(ames[c])]
    scale = {c: 0.05 * float(ames[c].std()) for c in numeric}
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    schema = pa.Schema.from_pandas(ames, preserve_index=False)
    with pq.ParquetWriter(partial, schema, compression="snappy") as writer:
        for start in range(0, rows, CHUNK_ROWS):
            count = min(CHUNK_ROWS, rows - start)
            chunk = ames.iloc[rng.integers(0, len(ames), count)].reset_index(drop=True)
            for column in numeric:
                jittered = chunk[column] + rng.normal(0, scale[column], count)
                if ames[column].min() >= 0:
                    jittered = jittered.clip(lower=0)
                if pd.api.types.is_integer_dtype(ames[column]):
                    jittered = jittered.round().astype(ames[column].dtype)
                chunk[column] = jittered
            writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))
    partial.rename(path)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def cpu_seconds() -> float:
    """User + system time: unlike wall time, barely moved by other work on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_cairn(path: Path) -> dict[str, float]:
    from cairn.config.schema import Data
    from cairn.stages.data import read_source

    began = time.perf_counter()
    read = read_source(Data(source=str(path), sample_rows=SAMPLE_ROWS), base_dir=path.parent, seed=42)
    seconds = time.perf_counter() - began
    assert read.profile is not None and len(read.table) == SAMPLE_ROWS
    return {"seconds": seconds, "cpu_seconds": cpu_seconds(), "peak_rss_mib": peak_rss_mib(), "rows": read.total_rows,
            "columns_profiled": len(read.profile.columns), "duplicate_rows": read.profile.duplicate_rows}


def measure_pandas(path: Path) -> dict[str, float]:
    import pandas as pd

    began = time.perf_counter()
    table = pd.read_parquet(path)
    summary = table.describe(include="all")
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "cpu_seconds": cpu_seconds(), "peak_rss_mib": peak_rss_mib(), "rows": len(table),
            "columns_profiled": summary.shape[1], "duplicate_rows": float("nan")}


def run_child(kind: str, path: Path) -> dict[str, float] | str:
    """One measurement in a fresh interpreter; its own report on stdout, or why it died."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--measure", kind, "--path", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"failed (exit {done.returncode}) after {time.perf_counter() - began:.0f} s: {tail}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--measure", choices=["cairn", "pandas"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        result = measure_cairn(args.path) if args.measure == "cairn" else measure_pandas(args.path)
        print(json.dumps(result))
        return

    if not args.path.exists():
        print(f"generating {args.rows:,} rows into {args.path} ...", file=sys.stderr)
        began = time.perf_counter()
        generate(args.path, rows=args.rows)
        print(f"  done in {time.perf_counter() - began:.0f} s, peak RSS {peak_rss_mib():,.0f} MiB",
              file=sys.stderr)
    size_mib = args.path.stat().st_size / 2**20
    results = {kind: run_child(kind, args.path) for kind in ("cairn", "pandas")}

    load = os.getloadavg()[0]
    print(f"\n{args.path} ({size_mib:,.0f} MiB on disk); load average {load:.1f} on {os.cpu_count()} cores\n")
    print(f"{'':44} {'wall s':>8} {'CPU s':>8} {'peak RSS MiB':>13}")
    labels = {"cairn": f"cairn read_source (profile + {SAMPLE_ROWS:,} sample)",
              "pandas": "pandas read_parquet + describe(include=all)"}
    for kind, result in results.items():
        if isinstance(result, str):
            print(f"{labels[kind]:44} {result}")
        else:
            print(f"{labels[kind]:44} {result['seconds']:8.1f} {result['cpu_seconds']:8.1f} "
                  f"{result['peak_rss_mib']:13,.0f}")
    cairn, pandas = results["cairn"], results["pandas"]
    if isinstance(cairn, dict) and isinstance(pandas, dict):
        print(f"{'ratio cairn / pandas':44} {cairn['seconds'] / pandas['seconds']:8.2f} "
              f"{cairn['cpu_seconds'] / pandas['cpu_seconds']:8.2f} "
              f"{cairn['peak_rss_mib'] / pandas['peak_rss_mib']:13.2f}")
    if isinstance(cairn, dict):
        verdict = "met" if cairn["peak_rss_mib"] < GOAL_MIB else "MISSED"
        print(f"\ngoal cairn peak RSS < {GOAL_MIB:,} MiB: {verdict} ({cairn['peak_rss_mib']:,.0f} MiB; "
              f"{cairn['rows']:,} rows, {cairn['columns_profiled']} columns profiled, "
              f"{cairn['duplicate_rows']:,} duplicate rows)")


if __name__ == "__main__":
    main()
