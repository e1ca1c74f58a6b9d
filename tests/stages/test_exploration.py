"""Stage 4: every column is charted, the findings are true of the data, and odd tables do not crash it."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.errors import DataError
from cairn.stages.exploration import PANELS_PER_FIGURE, Exploration, explore_table

AMES = Path(__file__).resolve().parents[2] / "examples" / "house-prices" / "data" / "ames.csv.gz"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def ames() -> pd.DataFrame:
    return pd.read_csv(AMES)


@pytest.fixture(scope="module")
def ames_run(ames) -> tuple[Exploration, float]:
    started = time.perf_counter()
    exploration = explore_table(ames, target="Sale_Price", problem="regression")
    return exploration, time.perf_counter() - started


def panels(exploration: Exploration, kind: str) -> int:
    """Columns covered by the grid figures of one kind, read from titles like 'Numeric columns (1-12 of 33)'."""
    covered = 0
    for figure in exploration.figures:
        match = re.fullmatch(rf"{kind} columns \((\d+)-(\d+) of (\d+)\)", figure.title)
        if match:
            first, last, _ = map(int, match.groups())
            assert last - first + 1 <= PANELS_PER_FIGURE
            covered += last - first + 1
    return covered


def insight(exploration: Exploration, start: str) -> str:
    found = [text for text in exploration.insights if text.startswith(start)]
    assert found, f"no insight starts with {start!r}; got {exploration.insights}"
    return found[0]


def test_ames_explores_fast(ames_run):
    _, seconds = ames_run
    assert seconds < 15, f"explore_table took {seconds:.1f} s on Ames"


def test_ames_charts_every_column(ames, ames_run):
    exploration, _ = ames_run
    numeric = ames.drop(columns="Sale_Price").select_dtypes("number").shape[1]
    categorical = ames.select_dtypes(["object", "string", "category", "bool"]).shape[1]
    assert (numeric, categorical) == (33, 40)
    assert panels(exploration, "Numeric") == numeric
    assert panels(exploration, "Categorical") == categorical
    assert (exploration.n_rows, exploration.n_columns, exploration.sampled_rows) == (2930, 74, 2930)
    titles = [figure.title for figure in exploration.figures]
    assert titles[:4] == [
        "Target: Sale_Price",
        "Sale_Price against its most correlated features",
        "Sale_Price by its most telling categorical columns",
        "Correlation between numeric columns",
    ]
    for figure in exploration.figures:
        assert base64.b64decode(figure.png_base64).startswith(PNG_SIGNATURE)
        assert figure.caption.endswith(".") and not figure.png_base64.startswith("data:")
    heatmap = exploration.figures[3]
    assert "the 30 most related to Sale_Price" in heatmap.caption  # 33 numeric features > 30
    assert "Garage_Cars and Garage_Area (r = 0.89)" in heatmap.caption


def test_ames_insights_state_what_matters_first(ames_run):
    exploration, _ = ames_run
    assert exploration.insights[0] == (
        "Sale_Price is right-skewed (skewness 1.74): a log transform of the target is worth trying."
    )
    assert exploration.insights[1].startswith(
        "Gr_Liv_Area has the strongest linear relation with Sale_Price (r = 0.71), followed by Garage_Cars (r = 0.65)"
    )
    assert "Neighborhood explains the most of Sale_Price's variation" in exploration.insights[2]
    assert insight(exploration, "Misc_Feature is missing in 96% of rows")
    assert insight(exploration, "Garage_Cars and Garage_Area are strongly correlated (r = 0.89)")
    assert insight(exploration, "Pool_QC is almost constant: 99.6% of rows are 'No_Pool'.")
    assert insight(exploration, "Pool_Area is almost constant: 99.6% of rows are 0.")
    # Misc_Val, Three_season_porch and Kitchen_AbvGr are 95-99% one value: under the shared almost-constant line
    # of 99% (cairn.thresholds) they are not almost constant, so the skew finding names them instead.
    skewed = insight(exploration, "10 numeric features are strongly right-skewed")
    assert "Misc_Val (22.0)" in skewed and "Lot_Area (12.8)" in skewed


def test_sampling_is_capped_and_seeded(ames):
    table = ames[["Sale_Price", "Gr_Liv_Area", "Lot_Area", "Year_Built", "Neighborhood", "Pool_QC"]]
    first = explore_table(table, target="Sale_Price", problem="regression", max_rows=400, seed=3)
    second = explore_table(table, target="Sale_Price", problem="regression", max_rows=400, seed=3)
    other = explore_table(table, target="Sale_Price", problem="regression", max_rows=400, seed=4)
    assert (first.n_rows, first.sampled_rows) == (2930, 400)
    assert first.insights == second.insights
    assert [f.png_base64 for f in first.figures] == [f.png_base64 for f in second.figures]
    assert first.insights != other.insights


def test_binary_target_reports_imbalance_and_class_boxes():
    rng = np.random.default_rng(0)
    n = 2000
    churned = rng.random(n) < 0.04  # rarer than the 5% of cairn.thresholds.RARE_CLASS_SHARE
    table = pd.DataFrame(
        {
            "tenure_months": np.where(churned, rng.normal(6, 3, n), rng.normal(30, 10, n)),
            "monthly_fee": rng.normal(50, 10, n),
            "plan": pd.Series(rng.choice(["basic", "plus", "pro"], n), dtype="str"),
            "churn": pd.Series(np.where(churned, "yes", "no"), dtype="str"),
        }
    )
    exploration = explore_table(table, target="churn", problem="binary")
    first = exploration.insights[0]
    assert first.startswith("churn is imbalanced: the rarest class 'yes' holds only 4.5% of rows")
    assert "AUC or F1" in first
    assert insight(exploration, "tenure_months separates the classes of churn best")
    titles = [figure.title for figure in exploration.figures]
    assert titles[:2] == ["Target: churn", "Numeric features by class of churn"]
    assert panels(exploration, "Numeric") == 2 and panels(exploration, "Categorical") == 1


def test_multiclass_with_few_rows_per_class_is_flagged():
    table = pd.DataFrame({"x": np.arange(60.0), "species": ["a"] * 30 + ["b"] * 28 + ["c"] * 2})
    exploration = explore_table(table, target="species", problem="multiclass")
    assert insight(exploration, "1 class of species has fewer than 10 rows ('c')")
    assert insight(exploration, "species is imbalanced: the rarest class 'c' holds only 3.3% of rows")


def test_awkward_columns_do_not_crash_and_are_named():
    n = 300
    rng = np.random.default_rng(1)
    table = pd.DataFrame(
        {
            "price": rng.lognormal(10, 0.3, n),
            "all_missing_number": np.full(n, np.nan),
            "all_missing_text": pd.Series([None] * n, dtype="str"),
            "constant_number": np.full(n, 7),
            "constant_text": pd.Series(["same"] * n, dtype="str"),
            "with_gaps": np.where(rng.random(n) < 0.25, np.nan, rng.normal(size=n)),
            "flag": rng.random(n) < 0.5,
            "grade": pd.Categorical(rng.choice(["A", "B", "C"], n)),
            "nullable_int": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(0, 5, n)), dtype="Int64"),
            "row_id": np.arange(n),
            "sold_on": pd.date_range("2020-01-01", periods=n, freq="D"),
            "with_inf": np.where(rng.random(n) < 0.05, np.inf, rng.normal(size=n)),
        }
    )
    exploration = explore_table(table, target="price", problem="regression")
    assert insight(exploration, "all_missing_number and all_missing_text are missing in every row: drop them.")
    assert insight(exploration, "constant_number is constant (every non-missing value is 7)")
    assert insight(exploration, "constant_text is constant (every non-missing value is 'same')")
    assert insight(exploration, "with_gaps is missing in 2")
    assert insight(exploration, "row_id numbers the rows one by one")
    assert insight(exploration, "sold_on is neither numeric nor categorical")
    numeric = ["all_missing_number", "constant_number", "with_gaps", "nullable_int", "row_id", "with_inf"]
    categorical = ["all_missing_text", "constant_text", "flag", "grade"]
    assert panels(exploration, "Numeric") == len(numeric)
    assert panels(exploration, "Categorical") == len(categorical)


@pytest.mark.parametrize("columns", [["label", "colour"], ["x1", "x2"], []])
def test_tables_without_numeric_or_categorical_features(columns):
    rng = np.random.default_rng(2)
    data = {
        name: (rng.choice(["r", "g"], 50) if name in ("label", "colour") else rng.normal(size=50)) for name in columns
    }
    table = pd.DataFrame({**data, "y": rng.normal(size=50)})
    exploration = explore_table(table, target="y", problem="regression")
    assert exploration.figures[0].title == "Target: y"
    if "x1" not in columns:
        assert "There are no numeric features: the model will rely on the categorical columns." in exploration.insights
        assert panels(exploration, "Numeric") == 0
    if "label" not in columns:
        assert "There are no categorical features: every feature is numeric." in exploration.insights
        assert panels(exploration, "Categorical") == 0


def test_empty_and_single_valued_targets():
    empty = explore_table(pd.DataFrame({"x": [], "y": []}, dtype="float64"), target="y", problem="regression")
    assert (empty.n_rows, empty.figures) == (0, [])
    flat = explore_table(pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [5.0, 5.0, 5.0]}), target="y", problem="regression")
    assert flat.insights[0] == "y has a single value (5): there is nothing to predict."
    one_class = explore_table(pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "a"]}), target="y", problem="binary")
    assert one_class.insights[0] == "y has 1 class: a classifier needs at least two."
    unlabelled = explore_table(
        pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [1.0, np.nan, 3.0, 2.0]}), target="y", problem="regression"
    )
    assert unlabelled.insights[0].startswith("y is missing in 1 row (25%)")


def test_bad_arguments_are_named():
    table = pd.DataFrame({"x": [1.0, 2.0], "label": ["a", "b"]})
    with pytest.raises(DataError, match="'price'"):
        explore_table(table, target="price", problem="regression")
    with pytest.raises(DataError, match="regression target must be numeric"):
        explore_table(table, target="label", problem="regression")
    with pytest.raises(ValueError, match="problem parameter of explore_table"):
        explore_table(table, target="x", problem="ranking")


def test_no_pyplot_global_state():
    """The object API only: importing pyplot would register figures globally and pick a GUI backend."""
    code = (
        "import sys, pandas as pd; from cairn.stages.exploration import explore_table; "
        "explore_table(pd.DataFrame({'x': [1.0, 2.0, 3.0], 'c': ['a', 'b', 'a'], 'y': [1.0, 3.0, 2.0]}), "
        "target='y', problem='regression'); print('matplotlib.pyplot' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_a_wide_table_is_explored_within_caps_that_say_what_was_charted():
    """Issue 17, item 13: 5,000 columns drew 420 figures in 116 s. Beyond the caps the grids chart the columns most
    related to the target, the correlations pair only those, and the insights say so; figures stay few."""
    from cairn.stages.exploration.view import MAX_CHARTED_COLUMNS, MAX_CORRELATED_COLUMNS, View, column_kinds

    rng = np.random.default_rng(3)
    rows, numeric, categorical = 80, MAX_CORRELATED_COLUMNS + 50, MAX_CHARTED_COLUMNS + 20
    table = pd.DataFrame({f"num_{i}": rng.normal(size=rows) for i in range(numeric)})
    for i in range(categorical):
        table[f"cat_{i}"] = rng.choice(["a", "b", "c"], size=rows)
    table["target"] = 5 * table["num_7"] + 3 * (table["cat_4"] == "a") + rng.normal(size=rows) * 0.1
    exploration = explore_table(table, target="target", problem="regression")

    grids = [f for f in exploration.figures if " columns (" in f.title]
    per_kind = -(-MAX_CHARTED_COLUMNS // PANELS_PER_FIGURE)
    assert len(grids) == 2 * per_kind and len(exploration.figures) <= 2 * per_kind + 4
    assert grids[0].title == f"Numeric columns (1-12 of {MAX_CHARTED_COLUMNS} charted of {numeric})"
    view = View(table=table, sample=table, target="target", problem="regression",
                kinds=column_kinds(table, "target"), seed=42)
    assert "num_7" in view.charted_numeric and "cat_4" in view.charted_categorical  # the telling ones
    assert len(view.correlation) == MAX_CORRELATED_COLUMNS and "num_7" in view.correlation
    numeric_sentence = insight(exploration, f"{numeric} numeric columns: the grids chart {MAX_CHARTED_COLUMNS}")
    assert "most related to target" in numeric_sentence
    insight(exploration, f"{categorical} categorical columns: the grids chart {MAX_CHARTED_COLUMNS}")
    pairs = insight(exploration, f"Correlations between numeric columns are computed for the "
                                 f"{MAX_CORRELATED_COLUMNS} most related")
    assert f"of {numeric}" in pairs
    assert list(exploration.sampled_columns) == exploration.insights[:3]  # read first, and kept for the notes
    assert insight(exploration, "num_7 has the strongest linear relation").startswith("num_7")


def test_a_narrow_table_charts_every_column_and_says_nothing_about_sampling(ames_run):
    exploration, _ = ames_run
    assert exploration.sampled_columns == ()
    assert not any("to keep exploration bounded" in text for text in exploration.insights)


def test_a_date_read_from_text_is_no_category_and_dropped_columns_are_not_explored():
    """The data stage types a text date as a date: exploration does not call it a category that explains the
    target nor an identifier to leave out; a column in data.drop_columns (a leak the user dropped) is not named
    as the target's strongest relation."""
    rng = np.random.default_rng(0)
    rows = 600
    days = pd.date_range("2015-01-01", periods=rows, freq="D")
    table = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "temp": rng.normal(size=rows),
                          "leak": np.arange(rows, dtype=float)})
    table["riders"] = table["leak"] * 2 + table["temp"] + rng.normal(scale=0.1, size=rows)
    plain = explore_table(table, target="riders", problem="regression")
    assert any("date" in line for line in plain.insights if "identifier" in line or "categorical" in line)
    typed = explore_table(table, target="riders", problem="regression",
                          column_types={"date": "date", "temp": "number", "leak": "number"}, left_out=["leak"])
    for line in typed.insights:
        assert "leak" not in line
        assert not ("date" in line and ("identifier" in line or "Among categorical" in line)), line
    assert any("date is neither numeric nor categorical" in line for line in typed.insights)
    money = pd.DataFrame({"income": [f"${v:,.0f}" for v in rng.integers(20_000, 90_000, rows)]})
    money["spend"] = money["income"].str.replace(r"[$,]", "", regex=True).astype(float) * 0.1 + rng.normal(size=rows)
    read = explore_table(money, target="spend", problem="regression", column_types={"income": "number"})
    assert any("income" in line and "linear" in line for line in read.insights), read.insights
    assert not any("income" in line and ("identifier" in line or "categorical" in line) for line in read.insights)
