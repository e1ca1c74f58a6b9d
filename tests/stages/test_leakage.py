"""Leakage told apart: a column computed from the target (alone or by arithmetic with another) is an error naming
the columns and the formula; a strong legitimate predictor such as a list price is a warning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.config.schema import Quality
from cairn.stages.data.profile import DataProfile, Finding, profile_table
from cairn.stages.data.quality.formulas import MAX_PAIR_FITS, target_formulas

AMES = Path(__file__).resolve().parents[2] / "examples" / "house-prices" / "data" / "ames.csv.gz"
TARGET = "Sale_Price"


def profile(table: pd.DataFrame, **options) -> DataProfile:
    return profile_table(table, target=TARGET, problem="regression", source="ames.csv.gz", fingerprint="0" * 64,
                         spec=Quality(), types={}, cv_folds=5, **options)


def leaks(result: DataProfile) -> dict[tuple[str, ...], Finding]:
    return {tuple(f.columns): f for f in result.findings if f.check == "target leakage"}


@pytest.fixture(scope="module")
def ames() -> pd.DataFrame:
    return pd.read_csv(AMES)


def list_price(sale_price: pd.Series, seed: int = 5) -> pd.Series:
    """An asking price the sale ended within ±5% of: known before the sale."""
    return (sale_price / np.random.default_rng(seed).uniform(0.95, 1.05, len(sale_price))).round(-2)


def test_untouched_example_has_no_leak(ames):
    assert leaks(profile(ames)) == {}
    search = target_formulas(ames.select_dtypes("number").drop(columns=[TARGET]), ames[TARGET].to_numpy(float),
                             target=TARGET)
    assert search.formulas == [] and 0 < search.pair_fits <= MAX_PAIR_FITS


def test_price_per_square_foot_is_an_error_naming_both_columns_and_the_formula(ames):
    table = ames.assign(Price_per_SqFt=(ames[TARGET] / ames["Gr_Liv_Area"]).round(2))
    found = leaks(profile(table))
    assert list(found) == [("Price_per_SqFt", "Gr_Liv_Area")]  # neither alone gives the price away
    finding = found["Price_per_SqFt", "Gr_Liv_Area"]
    assert finding.severity == "error"
    assert "Price_per_SqFt × Gr_Liv_Area = Sale_Price, R² 1.000 on 2,930 rows" in finding.detail


def test_the_midpoint_of_a_low_and_a_high_quote_is_an_error_naming_both(ames):
    """A new-user trial: MASS Cars93's Price is the mean of Min.Price and Max.Price; renamed, it went unflagged."""
    spread = ames[TARGET] * np.random.default_rng(2).uniform(0.05, 0.3, len(ames))
    table = ames.assign(Low_Quote=(ames[TARGET] - spread).round(), High_Quote=(ames[TARGET] + spread).round())
    found = leaks(profile(table))
    [pair] = [columns for columns in found if len(columns) == 2]
    assert set(pair) == {"Low_Quote", "High_Quote"} and found[pair].severity == "error"
    assert "(Low_Quote + High_Quote) / 2 = Sale_Price, R² 1.000" in found[pair].detail.replace(
        "(High_Quote + Low_Quote)", "(Low_Quote + High_Quote)")


def test_price_as_a_percentage_of_the_list_price_is_an_error_and_the_list_price_a_warning(ames):
    asking = list_price(ames[TARGET])
    table = ames.assign(List_Price=asking, Sale_Pct=(100 * ames[TARGET] / asking).round(2))
    found = leaks(profile(table))
    assert set(found) == {("Sale_Pct", "List_Price"), ("List_Price",)}
    formula = found["Sale_Pct", "List_Price"]
    assert formula.severity == "error" and "Sale_Pct × List_Price / 100 = Sale_Price, R² 1.000" in formula.detail
    assert found["List_Price",].severity == "warn"


def test_a_list_price_within_five_percent_is_a_warning_with_its_evidence(ames):
    finding = leaks(profile(ames.assign(List_Price=list_price(ames[TARGET]))))["List_Price",]
    assert finding.severity == "warn"
    assert "predicts Sale_Price very well on its own, but not exactly" in finding.detail
    assert "monotone fit R² 0.99" in finding.detail and "errors a share of the value" in finding.detail
    assert "known when predicting" in finding.detail


def test_a_noisy_copy_of_the_target_is_an_error(ames):
    rng = np.random.default_rng(11)
    noise = rng.normal(0, np.sqrt(0.005 * ames[TARGET].var()), len(ames))
    copy = (ames[TARGET] + noise).round()
    r2 = 1 - np.sum((ames[TARGET] - copy) ** 2) / np.sum((ames[TARGET] - ames[TARGET].mean()) ** 2)
    assert 0.994 < r2 < 0.996
    finding = leaks(profile(ames.assign(Valuation=copy)))["Valuation",]
    assert finding.severity == "error" and "errors of one size at every value" in finding.detail


def test_a_dropped_column_of_a_formula_is_a_note(ames):
    table = ames.assign(Price_per_SqFt=ames[TARGET] / ames["Gr_Liv_Area"])
    finding = leaks(profile(table, drop_columns=["Price_per_SqFt"]))["Price_per_SqFt", "Gr_Liv_Area"]
    assert finding.severity == "info" and "data.drop_columns" in finding.detail


@pytest.mark.parametrize("formula, written", [
    (lambda a, b: a / b, "a / b = y"), (lambda a, b: a + b, "a + b = y"), (lambda a, b: a - b, "a - b = y"),
    (lambda a, b: (a + b) / 2, "(a + b) / 2 = y")])
def test_wide_tables_are_screened_with_a_bounded_number_of_pair_fits(formula, written):
    rng = np.random.default_rng(4)
    rows, width = 3_000, 200
    columns = {f"c{i:03d}": rng.lognormal(3, 0.5, rows) for i in range(width - 2)}
    a, b = rng.lognormal(5, 0.4, rows), rng.lognormal(3, 0.4, rows)
    y = formula(a, b)
    table = pd.DataFrame({**columns, "a": a, "b": b})
    search = target_formulas(table, y, target="y")
    assert [f.text for f in search.formulas] == [written]
    assert search.pair_fits <= MAX_PAIR_FITS < width * (width - 1) // 20  # not the 119,400 fits of every pair


def test_a_column_constant_within_each_class_is_an_error_and_a_close_one_a_warning(ames):
    band = pd.qcut(ames[TARGET], 4, labels=["low", "mid", "high", "top"]).astype(str)
    code = band.map({"low": 7, "mid": 3, "high": 9, "top": 1})
    rng = np.random.default_rng(2)
    blurred = code.where(rng.random(len(ames)) > 0.01, rng.choice([7, 3, 9, 1], len(ames)))  # 1% a random code
    table = ames.drop(columns=[TARGET]).assign(Band=band, Code=code, Blurred=blurred)
    result = profile_table(table, target="Band", problem="multiclass", source="ames.csv.gz", fingerprint="0" * 64,
                           spec=Quality(), types={}, cv_folds=5)
    found = leaks(result)
    assert found["Code",].severity == "error" and "out-of-fold AUC 1.000" in found["Code",].detail
    assert found["Blurred",].severity == "warn"
