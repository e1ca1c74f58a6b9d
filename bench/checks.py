"""Seconds of the data checks that run on every `cairn run`, beside what a user writes by hand for the same look.

The tests check what these checks find; how long they take is measured here, never asserted in a test (a timed
assertion fails on a busy machine, and `make test` runs two workers on two cores).

1. The quality profile (types, missing values, duplicates, outliers, leakage, ...) of the Ames example, 2,930 x 74,
   beside pandas' first look: describe(include="all"), missing counts and duplicated rows.
2. PII detection (cairn.privacy.detect_pii) on Ames, and on 1,000,000 rows of Ames with a planted e-mail and phone
   column, beside a regular-expression scan of every value of every text column for e-mails and phone numbers.

Each figure is the best of REPEATS, after one warm-up call (imports out of the timing).
Run: .venv/bin/python bench/checks.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from cairn.config.schema import Quality
from cairn.privacy import detect_pii
from cairn.stages.data.profile import profile_table

AMES = Path(__file__).resolve().parents[1] / "examples" / "house-prices" / "data" / "ames.csv.gz"
TARGET = "Sale_Price"
REPEATS = 3
PII_PATTERN = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|\+?\d[\d ()-]{7,}\d")


def best_seconds(work: Callable[[], object]) -> float:
    work()
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def cairn_profile(table: pd.DataFrame) -> object:
    return profile_table(table, target=TARGET, problem="regression", source="ames.csv.gz", fingerprint="0" * 64,
                         spec=Quality(), types={}, cv_folds=5)


def pandas_first_look(table: pd.DataFrame) -> object:
    return table.describe(include="all"), table.isna().sum(), int(table.duplicated().sum())


def regex_scan(table: pd.DataFrame) -> list[str]:
    """The columns where some value looks like an e-mail or a phone number, every value read."""
    text = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c]) and c != TARGET]
    return [c for c in text if table[c].astype(str).str.contains(PII_PATTERN).any()]


def planted_million(ames: pd.DataFrame) -> pd.DataFrame:
    big = ames.sample(1_000_000, replace=True, random_state=0).reset_index(drop=True)
    ids = np.arange(len(big))
    big["owner_email"] = [f"owner{i}@example.org" for i in ids]
    big["owner_phone"] = [f"+1 515 {i % 1000:03d} {i % 10_000:04d}" for i in ids]
    return big


def main() -> None:
    ames = pd.read_csv(AMES)
    big = planted_million(ames)
    found = sorted(p.column for p in detect_pii(big, target=TARGET))
    rows = [
        ("quality profile, Ames 2,930 x 74", best_seconds(lambda: cairn_profile(ames)),
         "pandas describe + missing + duplicates", best_seconds(lambda: pandas_first_look(ames))),
        ("detect_pii, Ames", best_seconds(lambda: detect_pii(ames, target=TARGET)),
         "regex scan of every text value", best_seconds(lambda: regex_scan(ames))),
        ("detect_pii, 1M rows (2 planted)", best_seconds(lambda: detect_pii(big, target=TARGET)),
         "regex scan of every text value", best_seconds(lambda: regex_scan(big))),
    ]
    print(f"{'check':34} {'cairn s':>8}  {'by hand':40} {'s':>8} {'cairn/hand':>10}")
    for name, ours, peer_name, peer in rows:
        print(f"{name:34} {ours:8.3f}  {peer_name:40} {peer:8.3f} {ours / peer:10.2f}")
    print(f"found on 1M rows: {', '.join(found)}; by the scan: {', '.join(regex_scan(big))}")


if __name__ == "__main__":
    main()
