"""Column types come from the values: numbers stored as text, dates, yes/no answers and identifiers are recognised,
and data.types overrides win."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.stages.data.types import (
    ColumnType,
    column_kind,
    infer_types,
    name_tokens,
    parse_text_dates,
    parse_text_number,
    parse_text_numbers,
)

AMES = Path(__file__).resolve().parents[2] / "examples" / "house-prices" / "data" / "ames.csv.gz"
ROWS = 200


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1,250", 1250.0),
        ("$3.4k", 3400.0),
        ("12%", 0.12),
        ("(1,000)", -1000.0),
        ("-$5", -5.0),
        ("$-3", -3.0),
        ("\u20ac1.5M", 1_500_000.0),
        ("USD 1,200.50", 1200.5),
        ("2.5e3", 2500.0),
        (" 7 ", 7.0),
        ("1,234,567.89", 1234567.89),
        (".5", 0.5),
        ("2bn", 2e9),
        (3, 3.0),
        (2.5, 2.5),
        (np.int64(4), 4.0),
    ],
)
def test_numbers_written_by_people_are_read(text, number):
    assert parse_text_number(text) == pytest.approx(number)


@pytest.mark.parametrize("text", ["abc", "1,25", "12 000", "", "N/A", "(5", "--5", "1.2.3", "5 apples", None,
                                  float("nan"), True, np.bool_(False), [1]])
def test_anything_else_is_not_a_number(text):
    assert parse_text_number(text) is None


def test_a_column_is_parsed_once_per_distinct_value():
    column = pd.Series(["1,250", "$3.4k", None, "1,250", "n/a", "12%"])
    parsed = parse_text_numbers(column)
    assert parsed.dtype == "float64"
    assert parsed.iloc[[0, 1, 3, 5]].tolist() == pytest.approx([1250.0, 3400.0, 1250.0, 0.12])
    assert parsed.iloc[[2, 4]].isna().all()
    assert parse_text_numbers(pd.Series([1, 2, 3])).tolist() == [1.0, 2.0, 3.0]


def test_name_tokens_split_case_underscores_and_digits():
    assert name_tokens("SalePrice2") == ["sale", "price", "2"]
    assert name_tokens("Sale_Price_log") == ["sale", "price", "log"]
    assert name_tokens("CustomerID") == ["customer", "id"]
    assert name_tokens("BsmtFin_SF_1") == ["bsmt", "fin", "sf", "1"]


@pytest.fixture(scope="module")
def mixed_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    days = pd.date_range("2020-01-01", periods=ROWS, freq="D")
    words = ["good", "bad", "house", "roof", "leaks", "nice", "garden", "big", "quiet"]
    return pd.DataFrame({
        "price_text": [f"${v:,}" for v in rng.integers(1_000, 90_000, ROWS)],
        "mostly_numbers": [f"{v:,}" for v in rng.integers(1_000, 90_000, ROWS - 5)] + ["unknown"] * 5,
        "share": [f"{v}%" for v in rng.integers(0, 100, ROWS)],
        "iso_day": days.strftime("%Y-%m-%d"),
        "us_day": days.strftime("%m/%d/%Y"),
        "eu_day": days.strftime("%d/%m/%Y"),
        "two_formats": list(days[: ROWS // 2].strftime("%Y-%m-%d")) + list(days[ROWS // 2:].strftime("%d %b %Y")),
        "yes_no": rng.choice(["Y", "N"], ROWS),
        "answered": rng.choice(["Yes", "No", None], ROWS),
        "zero_one": rng.integers(0, 2, ROWS),
        "flag": rng.choice([True, False], ROWS),
        "token": [f"{value:016x}-{i}" for i, value in enumerate(rng.integers(0, 2**62, ROWS))],
        "row_number": np.arange(1000, 1000 + ROWS),
        "customer_id": rng.integers(0, 10**9, ROWS),
        "comment": [" ".join(rng.choice(words, 8)) for _ in range(ROWS)],
        "color": rng.choice(["red", "green", "blue"], ROWS),
        "zip": rng.choice(["01234", "02139", "10001", "90210"], ROWS),
        "nothing": [None] * ROWS,
        "only_markers": ["N/A"] * ROWS,
        "stamp": days,
        "x": rng.normal(size=ROWS),
    })


@pytest.fixture(scope="module")
def mixed_types(mixed_table) -> dict[str, ColumnType]:
    return infer_types(mixed_table, overrides={})


@pytest.mark.parametrize(
    ("column", "kind", "stored"),
    [
        ("price_text", "number", "text"),
        ("mostly_numbers", "number", "text"),
        ("share", "number", "text"),
        ("iso_day", "date", "text"),
        ("us_day", "date", "text"),
        ("eu_day", "date", "text"),
        ("two_formats", "date", "text"),
        ("yes_no", "boolean", "text"),
        ("answered", "boolean", "text"),
        ("zero_one", "boolean", "number"),
        ("flag", "boolean", "boolean"),
        ("token", "id", "text"),
        ("row_number", "id", "number"),
        ("customer_id", "id", "number"),
        ("comment", "text", "text"),
        ("color", "category", "text"),
        ("zip", "category", "text"),
        ("nothing", "empty", "empty"),
        ("only_markers", "empty", "text"),
        ("stamp", "date", "date"),
        ("x", "number", "number"),
    ],
)
def test_kinds_are_read_from_values(mixed_types, column, kind, stored):
    assert (mixed_types[column].kind, mixed_types[column].stored) == (kind, stored)
    assert not mixed_types[column].overridden


def test_type_details_say_why(mixed_types):
    assert mixed_types["price_text"].detail.startswith("numbers stored as text ('$")
    assert mixed_types["price_text"].example.startswith("$")
    assert mixed_types["price_text"].stored_as_text and mixed_types["price_text"].convertible == 1.0
    assert mixed_types["mostly_numbers"].convertible == pytest.approx((ROWS - 5) / ROWS)
    assert mixed_types["zip"].detail == "codes of digits with leading zeros ('01234')"
    assert mixed_types["row_number"].detail == "integer sequence, unique per row"
    assert "named like an identifier" in mixed_types["customer_id"].detail
    assert mixed_types["iso_day"].formats == ("ISO8601",)
    assert mixed_types["us_day"].formats == ("%m/%d/%Y",)  # 01/02 reads month first when nothing says otherwise
    assert mixed_types["eu_day"].formats == ("%d/%m/%Y",)  # 25/01 can only be day first
    assert mixed_types["two_formats"].formats == ("ISO8601", "%d %b %Y")
    assert mixed_types["two_formats"].detail == "dates stored as text (ISO 8601, d b Y)"


def test_overrides_win_and_keep_the_share_that_reads(mixed_table):
    types = infer_types(mixed_table, overrides={"color": "text", "mostly_numbers": "number", "comment": "date",
                                                "zero_one": "category"})
    assert (types["color"].kind, types["color"].overridden) == ("text", True)
    assert types["color"].detail == "set in data.types (values look like category)"
    assert types["mostly_numbers"].kind == "number" and types["mostly_numbers"].overridden
    assert types["comment"].kind == "date" and types["comment"].convertible == 0.0
    assert types["zero_one"].kind == "category"


def test_every_value_shown_goes_through_mask(mixed_table):
    types = infer_types(mixed_table, overrides={}, mask=lambda column, value: "***")
    assert types["price_text"].detail == "numbers stored as text ('***', '***')"
    assert types["price_text"].example == "***"
    assert types["zip"].example == "***"
    assert types["yes_no"].detail == "yes/no answers (***, ***)"


def test_dates_read_with_the_chosen_formats():
    dates = parse_text_dates(pd.Series(["2010-05-01", "12 Jun 2011", "soon", None]), ["ISO8601", "%d %b %Y"])
    assert dates.iloc[0] == pd.Timestamp("2010-05-01") and dates.iloc[1] == pd.Timestamp("2011-06-12")
    assert dates.iloc[2:].isna().all()


def test_ames_types():
    ames = pd.read_csv(AMES)
    types = infer_types(ames, overrides={})
    kinds = pd.Series({name: column_type.kind for name, column_type in types.items()})
    assert kinds.value_counts().to_dict() == {"category": 39, "number": 34, "boolean": 1}
    assert kinds["Central_Air"] == "boolean"  # Y/N
    assert kinds["Sale_Price"] == kinds["Lot_Area"] == kinds["Longitude"] == "number"
    assert kinds["Neighborhood"] == "category"
    assert column_kind(ames["Central_Air"]) == "boolean"
    assert not any(column_type.stored_as_text for column_type in types.values())


def test_odd_columns_do_not_crash():
    table = pd.DataFrame({
        "objects": [1, "1", 2.5, None, "x"] * 4,
        "categorical": pd.Categorical(["a", "b", "a", "c", None] * 4),
        "nullable": pd.array([1, None, 3, 4, 5] * 4, dtype="Int64"),
        "aware": pd.date_range("2020-01-01", periods=20, tz="Europe/Paris"),
        "inf": [math.inf, 1.0, 2.0, -math.inf, 3.0] * 4,
    })
    types = infer_types(table, overrides={})
    assert types["categorical"].kind == "category"
    assert types["nullable"].kind == "number"
    assert types["aware"].kind == "date"
    assert types["objects"].kind == "category"


def test_text_nearly_unique_per_row_named_as_a_number_is_an_identifier_but_a_count_is_not():
    """seattlepets: license_number ('S115823', 99.96% distinct) was a category of 52,000 levels."""
    rows = 400
    licences = [f"S{100_000 + i}" for i in range(rows - 2)] + ["S100000", "S100001"]  # 99.5% distinct
    table = pd.DataFrame({"license_number": licences, "number_of_views": np.arange(rows) * 3 + 1,
                          "animal_name": [f"pet{i % 120}" for i in range(rows)], "sku_num": licences,
                          "NO2": [f"{i % 390 / 7:.3f} ppb" for i in range(rows)],
                          "street_no_name": [f"{i % 397} Main St" for i in range(rows)]})
    types = infer_types(table, overrides={})
    assert types["sku_num"].kind == "id"
    assert types["NO2"].kind != "id" and types["street_no_name"].kind == "category"  # no number word last
    assert types["license_number"].kind == "id" and "named like an identifier" in types["license_number"].detail
    assert types["number_of_views"].kind == "number"  # numbers so named stay numbers
    assert types["animal_name"].kind == "category"


def test_a_postal_code_is_a_category_not_a_quantity():
    """seattlepets' zip_code read as numbers, and '98126-2920' became missing; zip_count stays a number."""
    rows = 300
    table = pd.DataFrame({"zip_code": [str(98_100 + i % 40) if i % 50 else "98126-2920" for i in range(rows)],
                          "billing_zip": [98_100 + i % 40 for i in range(rows)],
                          "zip_count": [i % 17 for i in range(rows)]})
    types = infer_types(table, overrides={})
    assert types["zip_code"].kind == "category" and "postal code" in types["zip_code"].detail
    assert types["billing_zip"].kind == "category" and types["zip_count"].kind == "number"
    assert infer_types(table, overrides={"billing_zip": "number"})["billing_zip"].kind == "number"
