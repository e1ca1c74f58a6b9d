"""Data quality on the real Ames data: nothing blocks the untouched example, and every fault planted in a copy is
found by the right check, with the right severity, column and count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.config.schema import ColumnRule, Quality
from cairn.stages.data.profile import DataProfile, Finding, profile_table

AMES = Path(__file__).resolve().parents[2] / "examples" / "house-prices" / "data" / "ames.csv.gz"
TARGET = "Sale_Price"


def profile(table: pd.DataFrame, *, target: str = TARGET, problem: str = "regression", spec: Quality | None = None,
            types: dict[str, str] | None = None, cv_folds: int = 5, **options) -> DataProfile:
    return profile_table(table, target=target, problem=problem, source="ames.csv.gz", fingerprint="0" * 64,
                         spec=spec or Quality(), types=types or {}, cv_folds=cv_folds, **options)


def found(result: DataProfile, check: str, column: str | None = None) -> list[Finding]:
    return [f for f in result.findings if f.check == check and (column is None or f.columns == [column])]


def one(result: DataProfile, check: str, column: str | None = None) -> Finding:
    matches = found(result, check, column)
    assert len(matches) == 1, (check, column, [f.columns for f in found(result, check)])
    return matches[0]


@pytest.fixture(scope="module")
def ames() -> pd.DataFrame:
    return pd.read_csv(AMES)


@pytest.fixture(scope="module")
def ames_profile(ames) -> DataProfile:
    return profile(ames)  # its seconds: bench/checks.py


# --- untouched Ames ------------------------------------------------------------------------------------------------


def test_untouched_ames_blocks_nothing(ames_profile):
    result = ames_profile
    assert result.blocking(["error"]) == []
    assert not found(result, "target leakage")
    assert {f.check for f in result.blocking(["error", "warn"])} == {"missing values", "almost constant"}


def test_untouched_ames_findings_are_true_of_the_data(ames_profile):
    result = ames_profile
    serious = {(f.severity, f.check, tuple(f.columns), f.count) for f in result.findings if f.severity != "info"}
    assert serious == {
        ("warn", "missing values", ("Misc_Feature",), 2824),  # 'None' (no feature) read as missing by pandas
        ("warn", "missing values", ("Mas_Vnr_Type",), 1775),
        ("warn", "almost constant", ("Street",), 2918),
        ("warn", "almost constant", ("Utilities",), 2927),
        ("warn", "almost constant", ("Pool_Area",), 2917),
        ("warn", "almost constant", ("Pool_QC",), 2917),
    }
    assert {f.check for f in result.findings if f.severity == "info"} == {"stray whitespace", "outliers"}
    assert one(result, "stray whitespace", "Sale_Type").count == 2536  # 'WD ' with a trailing space
    assert one(result, "outliers", "Lot_Area").example == "215245"
    assert one(result, "outliers", "Gr_Liv_Area").count == 9
    assert not found(result, "outliers", "Year_Built")
    assert not found(result, "duplicate rows") and not found(result, "near duplicates")
    assert result.column_types["Central_Air"] == "boolean" and result.column_types[TARGET] == "number"
    assert (result.rows, result.columns) == (2930, 74)


def test_notes_summarise_for_the_progress_display(ames_profile):
    result = ames_profile
    notes = result.notes()
    assert notes[:4] == ["read 2,930 rows x 74 columns from ames.csv.gz", "fingerprint 000000000000",
                         "types: 39 category, 34 number, 1 boolean", "quality: 0 errors, 6 warnings, 13 notes"]
    assert notes[4] == "warn: Misc_Feature is missing in 96.4% of rows (2,824)"
    assert len(notes) == 10


def test_findings_are_ordered_errors_first(ames):
    planted = ames.assign(Appraisal=ames[TARGET] * 1.01)
    severities = [f.severity for f in profile(planted).findings]
    assert severities == sorted(severities, key=["error", "warn", "info"].index)


# --- planted faults ------------------------------------------------------------------------------------------------

RULES = Quality(rules={"Garage_Area": ColumnRule(max=2000)})


@pytest.fixture(scope="module")
def planted(ames) -> pd.DataFrame:
    table = ames.copy()
    rng = np.random.default_rng(0)
    table["Appraisal"] = (table[TARGET] * 1.01 + rng.normal(0, 2000, len(table))).round()
    table["Sale_Price_log"] = np.log(table[TARGET])
    table["Lot_Area_Text"] = table["Lot_Area"].map("{:,}".format)
    north_ames = table.index[table["Neighborhood"] == "North_Ames"]
    table.loc[north_ames[:5], "Neighborhood"] = "north_ames "
    table.loc[north_ames[5:10], "Neighborhood"] = "NORTH_AMES"
    table.loc[30:35, "Fence"] = "N/A"
    table.loc[36:39, "Fence"] = "NA"
    table.loc[40:42, "Fence"] = ""
    table.loc[50, "Gr_Liv_Area"] = -1200
    table.loc[60, "Year_Built"] = 2031
    table.loc[70:71, "Garage_Area"] = 9999
    kept = {TARGET, "Neighborhood", "Lot_Area", "Year_Sold"}
    table.loc[100:114, [c for c in table.columns if c not in kept]] = np.nan
    exact = table.loc[2000:2039]
    conflicting = table.loc[2100:2109].assign(**{TARGET: table.loc[2100:2109, TARGET] + 25_000})
    return pd.concat([table, exact, conflicting], ignore_index=True)


@pytest.fixture(scope="module")
def planted_profile(planted) -> DataProfile:
    return profile(planted, spec=RULES)


def test_a_leaked_column_is_an_error(planted_profile, planted):
    leak = one(planted_profile, "target leakage", "Appraisal")
    assert leak.severity == "error" and leak.count == len(planted)
    assert "predicts the target almost perfectly" in leak.detail and "|r| with Sale_Price 1.000" in leak.detail


def test_a_column_named_like_the_target_is_an_error(planted_profile):
    leak = one(planted_profile, "target leakage", "Sale_Price_log")
    assert leak.severity == "error"
    assert "|r| with log(Sale_Price) 1.000" in leak.detail


def test_only_the_planted_columns_leak(planted_profile):
    assert {f.columns[0] for f in found(planted_profile, "target leakage")} == {"Appraisal", "Sale_Price_log"}


def test_exact_and_conflicting_duplicates(planted_profile):
    exact = one(planted_profile, "duplicate rows")
    assert (exact.severity, exact.count) == ("warn", 40)
    assert "rows 2,931, 2,932, 2,933" in exact.detail
    conflicting = one(planted_profile, "conflicting duplicates")
    assert (conflicting.severity, conflicting.columns, conflicting.count) == ("warn", [TARGET], 10)


def test_numbers_stored_as_text(planted_profile, planted):
    finding = one(planted_profile, "numbers as text", "Lot_Area_Text")
    assert finding.severity == "warn" and finding.count == planted["Lot_Area_Text"].count()
    assert "," in finding.example and "100% of its values read as numbers" in finding.detail
    assert planted_profile.column_types["Lot_Area_Text"] == "number"


def test_spellings_of_one_neighborhood(planted_profile):
    finding = one(planted_profile, "inconsistent spellings", "Neighborhood")
    assert (finding.severity, finding.count) == ("warn", 10)
    assert "'North_Ames' (433), 'north_ames ' (5), 'NORTH_AMES' (5)" in finding.detail


def test_missing_value_markers_are_named(planted_profile):
    finding = one(planted_profile, "missing-value markers", "Fence")
    assert (finding.severity, finding.count) == ("warn", 13)
    assert "'N/A' (6), 'NA' (4), '' (3)" in finding.detail


def test_implausible_area_and_year(planted_profile):
    area = one(planted_profile, "implausible values", "Gr_Liv_Area")
    assert (area.severity, area.count, area.example) == ("warn", 1, "-1200")
    assert "an area cannot be negative (row 51)" in area.detail
    year = one(planted_profile, "implausible values", "Year_Built")
    assert (year.severity, year.count, year.example) == ("warn", 1, "2031")


def test_mostly_empty_rows(planted_profile):
    finding = one(planted_profile, "mostly empty rows")
    assert (finding.severity, finding.count) == ("warn", 15)
    assert "rows 101, 102, 103" in finding.detail


def test_a_rule_violation_is_an_error(planted_profile):
    finding = one(planted_profile, "out of range", "Garage_Area")
    assert (finding.severity, finding.count, finding.example) == ("error", 2, "9999")
    assert "(max 2,000)" in finding.detail


def test_planted_errors_block_the_run(planted_profile):
    blocking = planted_profile.blocking(["error"])
    assert {(f.check, f.columns[0]) for f in blocking} == {
        ("target leakage", "Appraisal"), ("target leakage", "Sale_Price_log"), ("out of range", "Garage_Area")}
    assert planted_profile.notes()[3].startswith("quality: 3 errors, 14 warnings, ")
    assert planted_profile.notes()[-1] == "... and 9 more warnings (see the report)"  # the 3 errors come first


def test_dropped_columns_do_not_block(planted):
    result = profile(planted, spec=RULES, drop_columns=["Appraisal", "Sale_Price_log"])
    assert {f.severity for f in found(result, "target leakage")} == {"info"}
    assert "data.drop_columns" in one(result, "target leakage", "Appraisal").detail


def test_names_like_the_target(ames):
    rng = np.random.default_rng(1)
    table = ames.assign(Sale_Price_per_sqft=ames[TARGET] / ames["Gr_Liv_Area"],
                        SalePrice2=rng.permutation(ames[TARGET].to_numpy()),
                        Sale_Type_Code=ames["Sale_Type"].str.strip())
    result = profile(table)
    assert one(result, "target leakage", "Sale_Price_per_sqft").severity == "error"  # derived, if not perfectly
    assert one(result, "target leakage", "SalePrice2").severity == "warn"  # named so, but unrelated
    assert not found(result, "target leakage", "Sale_Type_Code")


def test_a_target_copy_is_named_like_the_target(ames):
    table = ames.rename(columns={TARGET: "target"}).assign(target_copy=lambda t: t["target"].astype(str))
    result = profile(table, target="target")
    assert one(result, "target leakage", "target_copy").severity == "error"


# --- more checks ---------------------------------------------------------------------------------------------------


def test_near_duplicates(ames):
    copies = ames.loc[:4].assign(Neighborhood=lambda t: t["Neighborhood"].str.upper(),
                                 Lot_Area=lambda t: t["Lot_Area"] + 1)
    result = profile(pd.concat([ames, copies], ignore_index=True))
    finding = one(result, "near duplicates")
    assert (finding.severity, finding.count) == ("info", 5)
    assert not found(result, "duplicate rows")


def test_mixed_types(ames):
    rng = np.random.default_rng(2)
    lot_size = ames["Lot_Area"].map("{:,}".format).to_numpy(dtype=object)
    lot_size[:20] = "unknown"
    zone = np.where(rng.random(len(ames)) < 0.4, rng.integers(1, 9, len(ames)).astype(str), ames["MS_Zoning"])
    result = profile(ames.assign(Lot_Size=lot_size, Zone=zone))
    words = one(result, "mixed types", "Lot_Size")
    assert (words.severity, words.count, words.example) == ("warn", 20, "unknown")
    assert result.column_types["Lot_Size"] == "number"
    both = one(result, "mixed types", "Zone")
    assert both.severity == "warn" and "mixes numbers" in both.detail
    assert both.count == int(pd.Series(zone).str.fullmatch(r"\d").sum())


def test_dates_in_the_future_break_a_not_future_rule(ames):
    sold_on = pd.to_datetime(dict(year=ames["Year_Sold"], month=ames["Mo_Sold"], day=1)).dt.strftime("%Y-%m-%d")
    sold_on.iloc[:2] = "2031-01-01"
    spec = Quality(rules={"Sold_On": ColumnRule(not_future=True), "Year_Built": ColumnRule(min=1900, not_future=True)})
    result = profile(ames.assign(Sold_On=sold_on), spec=spec)
    future = one(result, "out of range", "Sold_On")
    assert (future.severity, future.count, future.example) == ("error", 2, "2031-01-01")
    assert one(result, "dates as text", "Sold_On").severity == "info"
    early = one(result, "out of range", "Year_Built")
    assert early.count == int((ames["Year_Built"] < 1900).sum()) and early.example == "1872"


def test_settings_naming_missing_columns_are_errors(ames):
    result = profile(ames, spec=Quality(rules={"Lot_Aera": ColumnRule(min=0)}), types={"Neighbourhood": "category"})
    unknown = found(result, "unknown column")
    assert [(f.severity, f.columns) for f in unknown] == [("error", ["Neighbourhood"]), ("error", ["Lot_Aera"])]
    assert "did you mean 'Lot_Area'?" in unknown[1].detail


def test_a_bad_type_override_is_a_warning(ames):
    result = profile(ames, types={"Neighborhood": "number"})
    assert one(result, "type override", "Neighborhood").severity == "warn"
    assert result.column_types["Neighborhood"] == "number"


def test_every_shown_value_goes_through_mask(planted):
    def mask(column: str, value: object) -> str:
        return "<hidden>" if column in {"Neighborhood", "Fence", "Lot_Area_Text"} else str(value)[:40]

    result = profile(planted, spec=RULES, mask=mask)
    for check, column in (("inconsistent spellings", "Neighborhood"), ("missing-value markers", "Fence"),
                          ("numbers as text", "Lot_Area_Text")):
        finding = one(result, check, column)
        assert finding.example == "<hidden>"
        assert "north_ames" not in finding.detail.lower() and "N/A" not in finding.detail
        assert "9,600" not in finding.detail


# --- classification and small data ---------------------------------------------------------------------------------


def test_binary_target_from_ames(ames):
    table = ames.assign(Expensive=np.where(ames[TARGET] > ames[TARGET].median(), "yes", "no"))
    honest = profile(table.drop(columns=[TARGET]), target="Expensive", problem="binary")
    assert honest.blocking(["error"]) == [] and not found(honest, "class imbalance")
    leaky = profile(table, target="Expensive", problem="binary")
    assert [f.columns for f in leaky.blocking(["error"])] == [[TARGET]]
    assert "out-of-fold AUC 1.000" in one(leaky, "target leakage", TARGET).detail


def test_imbalanced_classes(ames):
    luxury = ames[TARGET] > ames[TARGET].quantile(0.975)
    result = profile(ames.assign(Luxury=luxury).drop(columns=[TARGET]), target="Luxury", problem="binary")
    finding = one(result, "class imbalance", "Luxury")
    assert (finding.severity, finding.count, finding.example) == ("warn", int(luxury.sum()), "True")
    assert result.blocking(["error"]) == []


def test_multiclass_target_from_ames(ames):
    band = pd.qcut(ames[TARGET], 4, labels=["low", "mid", "high", "top"]).astype(str)
    result = profile(ames.assign(Band=band).drop(columns=[TARGET]), target="Band", problem="multiclass")
    assert result.blocking(["error"]) == []
    leaky = profile(ames.assign(Band=band), target="Band", problem="multiclass")
    assert [f.columns for f in leaky.blocking(["error"])] == [[TARGET]]


def test_too_few_rows_for_cross_validation(ames):
    result = profile(ames.head(60))
    finding = one(result, "too few rows", TARGET)
    assert (finding.severity, finding.count) == ("error", 60)
    assert "12 rows per fold" in finding.detail
    assert not found(profile(ames.head(60), cv_folds=3), "too few rows")


def test_a_class_smaller_than_the_folds(ames):
    table = ames.head(200).assign(Kind=["a"] * 197 + ["b"] * 3).drop(columns=[TARGET])
    result = profile(table, target="Kind", problem="binary")
    finding = one(result, "too few rows", "Kind")
    assert (finding.severity, finding.count, finding.example) == ("error", 3, "b")
    assert one(result, "class imbalance", "Kind").count == 3


def test_costly_checks_sample_large_tables():
    rng = np.random.default_rng(3)
    rows = 120_000
    y = rng.gamma(2.0, 50_000, rows)
    table = pd.DataFrame({"price": y, "leak": y * 2 + rng.normal(0, 10, rows), "noise": rng.normal(size=rows),
                          "group": rng.choice(list("abcdef"), rows)})
    result = profile(table, target="price")
    leak = one(result, "target leakage", "leak")
    assert leak.count == 100_000 and "seeded sample of 100,000 of 120,000 rows" in leak.detail
    assert [f.columns for f in result.blocking(["error"])] == [["leak"]]


def test_the_imbalance_advice_names_metrics_of_the_problem_and_a_tiny_share_never_reads_as_none():
    """Binary problems are judged by ROC AUC, F1 or recall; multiclass by macro F1, balanced accuracy or log loss
    (ROC AUC, F1 and recall are one class's view); 6 rows of 52,519 are 0.011%, not 0.0%."""
    from cairn.config.schema import Quality
    from cairn.stages.data.quality.target import class_imbalance
    from cairn.stages.data.types import default_mask

    labels = ["Dog"] * 40_000 + ["Cat"] * 12_513 + ["Pig"] * 6
    table = pd.DataFrame({"species": labels})
    [multiclass] = class_imbalance(table, target="species", problem="multiclass", spec=Quality(), mask=default_mask)
    assert multiclass.detail.endswith("is 0.011% of rows (6 of 52,519); judge the model by macro_f1, "
                                       "balanced_accuracy or log_loss, not accuracy")
    binary = pd.DataFrame({"y": ["no"] * 97 + ["yes"] * 3})
    [finding] = class_imbalance(binary, target="y", problem="binary", spec=Quality(), mask=default_mask)
    assert finding.detail.endswith("is 3.0% of rows (3 of 100); judge the model by roc_auc, f1 or recall, not "
                                    "accuracy")
