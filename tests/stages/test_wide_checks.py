"""The data checks and exploration on a wide table (issue 17, item 13): thousands of columns are read in blocks,
not one pandas call per column, and say what they said column by column; the Ames example is unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.config.schema import Quality
from cairn.plots import PANELS_PER_FIGURE
from cairn.stages.data import types as types_module
from cairn.stages.data.profile import DataProfile, profile_table
from cairn.stages.data.quality import leakage, numeric_columns, values
from cairn.stages.data.quality.leakage import _feature_values, _leak_evidence, _target_values, _weak_numbers
from cairn.stages.data.quality.tables import number_tallies
from cairn.stages.data.types import BLOCK_BYTES, infer_types
from cairn.stages.exploration import explore_table
from cairn.stages.exploration.view import MAX_CHARTED_COLUMNS, _correlations_with

AMES = Path(__file__).resolve().parents[2] / "examples" / "house-prices" / "data" / "ames.csv.gz"


def profile(table: pd.DataFrame, *, target: str) -> DataProfile:
    return profile_table(table, target=target, problem="regression", source="wide.csv", fingerprint="0" * 64,
                         spec=Quality(), types={}, cv_folds=5)


@pytest.fixture(scope="module")
def wide() -> pd.DataFrame:
    """2,000 plain numbers and 400 categories, with one of each fault planted among them."""
    rng = np.random.default_rng(7)
    rows = 200
    table = pd.DataFrame({f"num_{i}": rng.normal(size=rows) for i in range(2_000)})
    table = pd.concat([table, pd.DataFrame({f"cat_{i}": rng.choice(["a", "b", "c"], size=rows)
                                            for i in range(400)})], axis=1)
    target = 3 * table["num_1"] + rng.normal(size=rows)
    spike = rng.normal(size=rows)
    spike[17] = 50.0
    planted = pd.DataFrame({
        "leak": 2 * target + 1,  # the target in another form
        "flat": 5.0,
        "mostly": np.where(np.arange(rows) < 199, 1.0, 2.0),  # 99.5% one value
        "spike": spike,
        "gappy": np.where(rng.random(rows) < 0.1, np.nan, rng.normal(size=rows)),
        "target": target,
    })
    return pd.concat([table, planted], axis=1)


def test_number_tallies_count_as_value_counts_does():
    rng = np.random.default_rng(0)
    rows = 120
    table = pd.DataFrame({
        "floats": rng.normal(size=rows), "rounded": rng.integers(0, 5, rows).astype("float64"),
        "ints": rng.integers(0, 3, rows), "small": rng.integers(0, 9, rows).astype("int32"),
        "gaps": np.where(rng.random(rows) < 0.3, np.nan, rng.integers(0, 4, rows)),
        "empty": np.full(rows, np.nan), "infinite": np.where(rng.random(rows) < 0.2, np.inf, 1.0),
        "signed_zero": np.where(rng.random(rows) < 0.5, -0.0, 0.0), "text": ["a"] * rows,
        "flags": rng.random(rows) < 0.5,
    })
    tallies = number_tallies(table)
    assert set(tallies.distinct.index) == set(table.columns) - {"text", "flags"}  # numpy numbers only
    for name in tallies.distinct.index:
        counts = table[name].value_counts(dropna=True)
        assert tallies.distinct[name] == len(counts), name
        assert tallies.top[name] == (counts.iloc[0] if len(counts) else 0), name
        assert tallies.missing[name] == table[name].isna().sum(), name
    assert tallies.distinct["signed_zero"] == 1 and tallies.distinct["infinite"] == 2


@pytest.mark.parametrize("block_bytes", [BLOCK_BYTES, 200 * 8 * 7])  # one block; blocks of 7 columns
def test_the_leak_screen_gives_the_per_column_figures_to_the_last_bit(wide, block_bytes, monkeypatch):
    monkeypatch.setattr(leakage, "BLOCK_BYTES", block_bytes)
    types = infer_types(wide, overrides={})
    numbers = numeric_columns(wide, types=types)
    positions = np.arange(len(wide))
    y, log_y = _target_values(wide["target"], problem="regression")
    folds = np.random.default_rng(3).permutation(len(positions)) % 5
    weak = _weak_numbers(numbers, y, log_y, folds=folds, positions=positions, problem="regression", target="target")
    assert len(weak) >= 1_990 and "leak" not in weak and "num_1" not in weak  # strong ones: the per-column path
    assert "gappy" not in weak  # a column with missing values too
    for name, evidence in weak.items():
        x, codes = _feature_values(wide[name], numbers[name], levels=None, positions=positions)
        assert evidence == _leak_evidence(x, codes, y, log_y, folds=folds, problem="regression"), name


@pytest.mark.parametrize("block_bytes", [BLOCK_BYTES, 200 * 8 * 7])
def test_a_wide_profile_finds_what_was_planted(wide, block_bytes, monkeypatch):
    for module in (leakage, values, types_module):  # the blocks of number columns, cut small: the same findings
        monkeypatch.setattr(module, "BLOCK_BYTES", block_bytes)
    result = profile(wide, target="target")
    by_check: dict[str, list[str]] = {}
    for finding in result.findings:
        by_check.setdefault(finding.check, []).extend(finding.columns)
    assert result.column_types["num_5"] == "number" and result.column_types["cat_5"] == "category"
    assert "leak" in by_check["target leakage"] and [f for f in result.findings
                                                     if f.check == "target leakage" and f.columns == ["leak"]
                                                     ][0].severity == "error"
    assert by_check["constant column"] == ["flat"]
    assert by_check["almost constant"] == ["mostly"]
    assert by_check["missing values"] == ["gappy"]
    spike = [f for f in result.findings if f.check == "outliers" and f.columns == ["spike"]]
    assert len(spike) == 1 and spike[0].count == 1 and spike[0].detail.endswith("the farthest is '50'")


def test_a_wide_exploration_charts_at_most_the_cap_and_names_the_planted_columns(wide):
    exploration = explore_table(wide.drop(columns="leak"), target="target", problem="regression")
    grids = [f for f in exploration.figures if f.title.startswith(("Numeric columns", "Categorical columns"))]
    assert len(grids) == 2 * -(-MAX_CHARTED_COLUMNS // PANELS_PER_FIGURE)
    assert len(exploration.figures) <= len(grids) + 4  # target, scatter, boxes, heatmap
    said = " ".join(exploration.sampled_columns)
    assert f"2,004 numeric columns: the grids chart {MAX_CHARTED_COLUMNS} of them" in said
    assert f"400 categorical columns: the grids chart {MAX_CHARTED_COLUMNS} of them" in said
    assert exploration.insights[0] == exploration.sampled_columns[0]  # said before anything it qualifies
    assert any(i.startswith("flat is constant (every non-missing value is 5)") for i in exploration.insights)
    assert "mostly is almost constant: 99.5% of rows are 1." in exploration.insights
    assert any(i.startswith("num_1 has the strongest linear relation with target") for i in exploration.insights)


def test_correlations_with_the_target_are_those_of_corrwith(wide):
    numbers = wide[["num_1", "num_2", "spike", "gappy", "flat"]].astype("float64")
    ours = _correlations_with(numbers, wide["target"].astype("float64"))
    theirs = numbers.corrwith(wide["target"].astype("float64"))
    assert np.allclose(ours.drop("flat"), theirs.drop("flat"), rtol=0, atol=1e-12)
    assert np.isnan(ours["flat"]) and ours.index.tolist() == theirs.index.tolist()


def test_ames_findings_insights_and_figures_are_those_of_the_per_column_checks():
    """Recorded from the per-column code before the block reads: the same findings, sentences and figures."""
    ames = pd.read_csv(AMES)
    result = profile(ames, target="Sale_Price")
    assert [(f.severity, f.check, f.columns, f.count) for f in result.findings] == [
        ("warn", "missing values", ["Misc_Feature"], 2824), ("warn", "missing values", ["Mas_Vnr_Type"], 1775),
        ("warn", "almost constant", ["Street"], 2918), ("warn", "almost constant", ["Utilities"], 2927),
        ("warn", "almost constant", ["Pool_Area"], 2917), ("warn", "almost constant", ["Pool_QC"], 2917),
        ("info", "stray whitespace", ["Sale_Type"], 2536), ("info", "outliers", ["Lot_Frontage"], 4),
        ("info", "outliers", ["Lot_Area"], 53), ("info", "outliers", ["Mas_Vnr_Area"], 58),
        ("info", "outliers", ["Total_Bsmt_SF"], 7), ("info", "outliers", ["First_Flr_SF"], 6),
        ("info", "outliers", ["Gr_Liv_Area"], 9), ("info", "outliers", ["Bedroom_AbvGr"], 1),
        ("info", "outliers", ["TotRms_AbvGrd"], 2), ("info", "outliers", ["Garage_Area"], 5),
        ("info", "outliers", ["Wood_Deck_SF"], 7), ("info", "outliers", ["Open_Porch_SF"], 83),
        ("info", "outliers", ["Sale_Price"], 39),
    ]
    exploration = explore_table(ames, target="Sale_Price", problem="regression")
    assert exploration.insights == [
        "Sale_Price is right-skewed (skewness 1.74): a log transform of the target is worth trying.",
        "Gr_Liv_Area has the strongest linear relation with Sale_Price (r = 0.71), followed by Garage_Cars "
        "(r = 0.65) and Garage_Area (r = 0.64).",
        "Among categorical columns, Neighborhood explains the most of Sale_Price's variation (η = 0.57 on a 0-1 "
        "scale).",
        "Misc_Feature is missing in 96% of rows: consider dropping it or treating 'missing' as a level of its own.",
        "Mas_Vnr_Type is missing in 61% of rows: consider dropping it or treating 'missing' as a level of its own.",
        "Garage_Cars and Garage_Area are strongly correlated (r = 0.89): they carry much the same information, so "
        "a linear model will split weight between them unstably.",
        "Also strongly correlated: Gr_Liv_Area and TotRms_AbvGrd (r = 0.81); Total_Bsmt_SF and First_Flr_SF "
        "(r = 0.80).",
        "Utilities is almost constant: 99.9% of rows are 'AllPub'.",
        "Street is almost constant: 99.6% of rows are 'Pave'.",
        "Pool_Area is almost constant: 99.6% of rows are 0.",
        "Pool_QC is almost constant: 99.6% of rows are 'No_Pool'.",
        "10 numeric features are strongly right-skewed (skewness above 2), led by Misc_Val (22.0), Lot_Area (12.8) "
        "and Three_season_porch (11.4): trees cope, linear models may want a log transform.",
    ]
    assert [f.title for f in exploration.figures] == [
        "Target: Sale_Price", "Sale_Price against its most correlated features",
        "Sale_Price by its most telling categorical columns", "Correlation between numeric columns",
        "Numeric columns (1-12 of 33)", "Numeric columns (13-24 of 33)", "Numeric columns (25-33 of 33)",
        "Categorical columns (1-12 of 40)", "Categorical columns (13-24 of 40)", "Categorical columns (25-36 of 40)",
        "Categorical columns (37-40 of 40)",
    ]
    assert exploration.sampled_columns == ()
