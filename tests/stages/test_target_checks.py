"""The target before anything is trained: a target with nothing to learn is refused, class labels are counted as
preprocessing reads them, and every message about rows and classes is correct English for one and for many."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cairn.config.schema import Preprocessing, Quality
from cairn.errors import DataError
from cairn.stages.data.checks import check_fits_problem, stop_on_quality
from cairn.stages.data.profile import DataProfile, Finding, profile_table
from cairn.stages.data.quality import duplicate_rows, missing_target, mostly_empty_rows, text_levels, too_few_rows
from cairn.stages.data.quality.target import target_labels
from cairn.stages.data.quality.wording import plural
from cairn.stages.data.types import default_mask
from cairn.stages.preprocessing import clean_table


def refusal(table: pd.DataFrame, problem: str, target: str = "y") -> str:
    with pytest.raises(DataError) as caught:
        check_fits_problem(table, target=target, problem=problem)
    return str(caught.value)


# --- #7: nothing to learn ------------------------------------------------------------------------------------------


def test_a_constant_regression_target_is_refused_naming_column_and_value():
    table = pd.DataFrame({"area": range(40), "Sale_Price": [150_000] * 40})
    text = refusal(table, "regression", target="Sale_Price")
    assert text.splitlines()[0] == ("The target column 'Sale_Price' is 150000 in every one of its 40 rows, so there "
                                    "is nothing to learn: any model would predict it exactly and look perfect.")
    assert "got the single value 150000 in all 40 rows" in text
    assert "Fix: check that business.target names the column to predict" in text


def test_a_constant_target_stored_as_floats_or_text_numbers_is_refused():
    assert "is 150000 in every one of its 3 rows" in refusal(pd.DataFrame({"y": [150_000.0] * 3}), "regression")
    assert "is 2.5 in every one of its 4 rows" in refusal(pd.DataFrame({"y": ["2.5"] * 4}), "regression")
    with_gaps = pd.DataFrame({"y": [7.0, None, 7.0, None]})
    assert "is 7 in every one of its 2 rows" in refusal(with_gaps, "regression")


def test_a_target_that_varies_passes():
    check_fits_problem(pd.DataFrame({"y": [150_000] * 39 + [150_001]}), target="y", problem="regression")
    check_fits_problem(pd.DataFrame({"y": ["no", "yes"]}), target="y", problem="binary")


def test_one_row_is_left_to_the_too_few_rows_check():
    check_fits_problem(pd.DataFrame({"y": [150_000]}), target="y", problem="regression")


def test_a_single_class_names_the_label_and_its_count():
    text = refusal(pd.DataFrame({"y": ["yes"] * 4 + [None]}), "binary")
    assert text.splitlines()[0] == ("The target column 'y' has one class only: every labelled row (4) is 'yes', so "
                                    "there is nothing to tell apart.")
    assert "expected at least two classes; got 1 class, 'yes' (4)" in text
    assert "not only 'yes'" in text
    assert "has one class only" in refusal(pd.DataFrame({"y": ["a"] * 9}), "multiclass")


# --- #11: labels that differ by white space (or spelling) are one class -------------------------------------------


def test_labels_differing_by_white_space_are_one_class():
    labels = target_labels(pd.Series(["no"] * 5 + ["no "] * 12 + ["yes"] * 6 + [" N/A", None]))
    assert labels.values.value_counts().to_dict() == {"no": 17, "yes": 6}
    assert labels.values.isna().sum() == 2
    assert labels.trimmed == 12 and labels.respelled == {}
    assert labels.notes() == ["trimmed white space around 12 target labels"]
    assert target_labels(pd.Series(["no ", "yes"])).notes() == ["trimmed white space around 1 target label"]


def test_labels_differing_by_case_are_read_as_the_usual_spelling_when_normalised():
    column = pd.Series(["Yes"] * 8 + ["yes"] * 2 + ["YES "] + ["No"] * 9)
    labels = target_labels(column)
    assert labels.values.value_counts().to_dict() == {"No": 9, "Yes": 11}
    assert labels.respelled == {"yes": "Yes", "YES": "Yes"} and labels.respelled_rows == 3
    assert labels.notes() == ["trimmed white space around 1 target label",
                              "read 3 target labels written another way as the usual spelling: 'yes' as 'Yes', "
                              "'YES' as 'Yes'"]
    kept = target_labels(column, normalize=False)
    assert kept.values.value_counts().to_dict() == {"No": 9, "Yes": 8, "yes": 2, "YES": 1}


def test_numbers_and_booleans_are_left_alone():
    numbers = pd.Series([1, 0, 1])
    assert target_labels(numbers).values is numbers
    assert target_labels(pd.Series([True, False])).notes() == []


def test_a_padded_label_does_not_make_a_third_binary_class():
    table = pd.DataFrame({"y": ["no"] * 5 + ["no "] * 3 + ["yes"] * 4})
    check_fits_problem(table, target="y", problem="binary")
    text = refusal(pd.DataFrame({"y": ["yes", "yes ", " yes"]}), "binary")
    assert "has one class only (once white space around labels is trimmed)" in text
    assert "got 1 class, 'yes' (3)" in text


def test_too_many_binary_classes_are_named_with_their_counts():
    table = pd.DataFrame({"y": ["no"] * 6 + ["no "] * 4 + ["yes"] * 7 + ["maybe"] * 2})
    text = refusal(table, "binary")
    assert text.splitlines()[0] == ("The target column 'y' has 3 classes (once white space around labels is "
                                    "trimmed), not two: 'no' (10), 'yes' (7), 'maybe' (2).")
    assert "use problem: multiclass" in text


def test_preprocessing_trims_target_labels_and_says_so():
    raw = pd.DataFrame({"x": range(20), "y": ["no"] * 6 + ["no "] * 12 + ["yes", "Yes"]})
    clean, report = clean_table(raw, target="y", spec=Preprocessing())
    assert clean["y"].value_counts().to_dict() == {"no": 18, "yes": 2}
    assert "trimmed white space around 12 target labels" in report.notes()
    assert "read 1 target label written another way as the usual spelling: 'Yes' as 'yes'" in report.notes()


def test_preprocessing_leaves_a_numeric_target_and_its_notes_alone():
    raw = pd.DataFrame({"x": range(4), "y": [1.0, 2.0, 3.0, 4.0]})
    clean, report = clean_table(raw, target="y", spec=Preprocessing())
    assert clean["y"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert report.notes() == ["4 rows in, 4 rows kept for training"]


def test_the_quality_checks_count_classes_after_trimming():
    table = pd.DataFrame({"x": range(200), "y": ["a"] * 120 + ["b"] * 76 + ["b "] * 4})
    findings = too_few_rows(table, target="y", problem="binary", cv_folds=5, mask=default_mask)
    assert findings == []  # 'b ' is four rows of 'b', not a class of four


# --- #14: wording for one and for many -----------------------------------------------------------------------------


def test_plural_for_one_and_many():
    assert [plural(1, "class"), plural(6, "class"), plural(1, "row"), plural(2, "row"), plural(1_000, "box")] == [
        "1 class", "6 classes", "1 row", "2 rows", "1,000 boxes"]
    assert plural(3, "child", "children") == "3 children"


def test_too_few_rows_for_one_row_and_for_many():
    one = too_few_rows(pd.DataFrame({"y": [1.0]}), target="y", problem="regression", cv_folds=5, mask=default_mask)
    assert one[0].detail == ("1 row with a y gives 0 rows per fold of 5-fold cross-validation; scores need about "
                             "100 rows (or set training.cv lower)")
    many = too_few_rows(pd.DataFrame({"y": range(6)}), target="y", problem="regression", cv_folds=5,
                        mask=default_mask)
    assert many[0].detail.startswith("6 rows with a y give 1 row per fold of 5-fold")
    more = too_few_rows(pd.DataFrame({"y": range(12)}), target="y", problem="regression", cv_folds=5,
                        mask=default_mask)
    assert more[0].detail.startswith("12 rows with a y give 2 rows per fold")


def test_rare_classes_for_one_class_and_for_many():
    one = too_few_rows(pd.DataFrame({"y": ["a"] * 200 + ["b"] * 3}), target="y", problem="binary", cv_folds=5,
                       mask=default_mask)
    assert one[0].detail == ("1 class of y has fewer rows than 5-fold cross-validation and a holdout need (6): "
                             "'b' (3); merge rare classes or collect more rows, or set training.rare_classes to drop "
                             "or merge")
    labels = ["a"] * 200 + [letter for letter in "bcdefg" for _ in range(2)]
    many = too_few_rows(pd.DataFrame({"y": labels}), target="y", problem="multiclass", cv_folds=5,
                        mask=default_mask)
    assert many[0].detail.startswith("6 classes of y have fewer rows than 5-fold cross-validation and a holdout "
                                     "need (6): 'b' (2), 'c' (2), 'd' (2) and 3 more")


def test_rare_classes_warn_while_two_classes_are_left_to_learn():
    labels = ["a"] * 100 + ["b"] * 50 + ["c"] * 4
    dropped = too_few_rows(pd.DataFrame({"y": labels}), target="y", problem="multiclass", cv_folds=5,
                           mask=default_mask, rare_classes="drop")
    assert [(f.severity, f.count, f.example) for f in dropped] == [("warn", 4, "c")]
    assert "set aside from training" in dropped[0].detail
    alone = too_few_rows(pd.DataFrame({"y": labels[:100] + labels[150:]}), target="y", problem="binary",
                         cv_folds=5, mask=default_mask, rare_classes="drop")
    assert alone[0].severity == "error" and "no class is left to learn (left: 'a' (100))" in alone[0].detail


def test_missing_target_for_one_row_and_for_many():
    one = missing_target(pd.DataFrame({"y": [1.0, None, 2.0]}), target="y")
    assert one[0].detail == "1 row has no y; it is left out of training"
    many = missing_target(pd.DataFrame({"y": [None, None, 2.0]}), target="y")
    assert many[0].detail == "2 rows have no y; they are left out of training"


def test_duplicates_and_empty_rows_for_one_and_for_many():
    def duplicates(table: pd.DataFrame) -> str:
        return duplicate_rows(table, levels=text_levels(table), target="y")[0].detail

    assert duplicates(pd.DataFrame({"x": [1, 1, 2], "y": [5, 5, 6]})).startswith("1 row repeats an earlier row")
    assert duplicates(pd.DataFrame({"x": [1, 1, 1], "y": [5, 5, 5]})).startswith("2 rows repeat an earlier row")
    measured = pd.DataFrame({"x": np.arange(100.0) / 7, "y": np.arange(100.0) ** 2})  # every value its own
    assert duplicates(pd.concat([measured, measured.head(2)])).endswith("auto or drop removes them")
    assert duplicates(pd.concat([measured, measured.head(1)])).endswith("auto or drop removes it")
    # two values per column: repeats are what chance gives, so they are likely distinct records
    coarse = pd.DataFrame({"x": [1, 2] * 20, "y": [5, 5, 6, 6] * 10})
    assert duplicates(coarse).endswith(
        "chance alone would give about 67 pairs of identical rows against the 180 seen, so they are likely "
        "distinct records, and preprocessing.duplicates: auto keeps them (drop removes them)")
    # one continuous column: its copies do not vouch for themselves (a review: they were kept)
    priced = pd.DataFrame({"a": np.tile(["y", "n"], 50), "b": np.repeat(["y", "n"], 50), "y": np.arange(100.0)})
    assert duplicates(pd.concat([priced, priced.head(5)])).endswith("auto or drop removes them")
    empty = pd.DataFrame({"a": [None, 1, None], "b": [None, 2, None], "c": [1, 3, 4]})
    assert mostly_empty_rows(empty, spec=Quality())[0].detail.startswith("2 rows miss more than 50% of their values")
    assert mostly_empty_rows(empty.iloc[:2], spec=Quality())[0].detail.startswith(
        "1 row misses more than 50% of its values")


def _blocking(findings: list[Finding]) -> DataProfile:
    return DataProfile(rows=1, columns=1, fingerprint="0" * 64, source="s", column_types={}, findings=findings)


def test_the_stop_message_for_one_finding_and_for_many():
    rows = Finding("error", "too few rows", ["y"], 1, "1 row with a y gives 0 rows per fold")
    with pytest.raises(DataError) as caught:
        stop_on_quality(_blocking([rows]), fail_on=["error"])
    text = str(caught.value)
    assert text.startswith("The data has 1 quality finding that stops the run")
    assert "y: expected enough rows for cross-validation (too few rows, error); got 1 row with a y gives" in text
    assert "expected no too few rows" not in text
    other = Finding("error", "odd thing", ["x"], 2, "x is odd")
    with pytest.raises(DataError) as caught:
        stop_on_quality(_blocking([rows, other]), fail_on=["error"])
    text = str(caught.value)
    assert text.startswith("The data has 2 quality findings that stop the run")
    assert "x: expected no odd thing finding (odd thing, error); got x is odd." in text


def test_a_one_row_table_gets_the_corrected_stop_message():
    table = pd.DataFrame({"x": [1.0], "y": [150_000.0]})
    profile = profile_table(table, target="y", problem="regression", source="s", fingerprint="0" * 64,
                            spec=Quality(), types={}, cv_folds=5)
    with pytest.raises(DataError) as caught:
        stop_on_quality(profile, fail_on=["error"])
    assert "y: expected enough rows for cross-validation (too few rows, error); got 1 row with a y gives 0 rows " \
           "per fold" in str(caught.value)


def test_column_messages_for_one_and_for_many():
    def details(table: pd.DataFrame, check: str) -> list[str]:
        profile = profile_table(table, target="y", problem="regression", source="s", fingerprint="0" * 64,
                                spec=Quality(), types={}, cv_folds=2)
        return [finding.detail for finding in profile.findings if finding.check == check]

    numbers = [str(i) for i in range(60)]
    one_word = pd.DataFrame({"n": numbers + ["lots"], "y": range(61)})
    assert "n is mostly numbers but 1 value is not, such as 'lots'; it becomes missing" in details(one_word,
                                                                                                  "mixed types")
    two_words = pd.DataFrame({"n": numbers + ["lots", "lots"], "y": range(62)})
    assert "n is mostly numbers but 2 values are not, such as 'lots'; they become missing" in details(two_words,
                                                                                                     "mixed types")
    towns = ["Ames"] * 30 + ["Story"] * 30
    one_off = details(pd.DataFrame({"town": towns + ["AMES"], "y": range(61)}), "inconsistent spellings")
    assert one_off and "1 row differs from the usual spelling" in one_off[0]
    two_off = details(pd.DataFrame({"town": towns + ["AMES", "ames"], "y": range(62)}), "inconsistent spellings")
    assert two_off and "2 rows differ from the usual spelling" in two_off[0]
    assert two_off[0].startswith("town writes 1 value in several ways")


def test_conflicting_and_near_duplicates_for_one_and_for_many():
    def detail(table: pd.DataFrame, check: str) -> str:
        profile = profile_table(table, target="y", problem="regression", source="s", fingerprint="0" * 64,
                                spec=Quality(), types={}, cv_folds=2)
        return next(finding.detail for finding in profile.findings if finding.check == check)

    base = {"x": [float(i) for i in range(50)], "y": [float(i) for i in range(50)]}
    one = pd.DataFrame({"x": base["x"] + [1.0], "y": base["y"] + [99.0]})
    assert detail(one, "conflicting duplicates").startswith("1 row (2.0%) repeats the features")
    two = pd.DataFrame({"x": base["x"] + [1.0, 2.0], "y": base["y"] + [99.0, 98.0]})
    assert detail(two, "conflicting duplicates").startswith("2 rows (3.8%) repeat the features")
    near_one = pd.DataFrame({"x": base["x"] + [1.0000001], "y": base["y"] + [1.0]})
    assert detail(near_one, "near duplicates").startswith("1 row equals an earlier row")
    assert detail(near_one, "near duplicates").endswith("it is not an exact copy, so preprocessing keeps it")
    near_two = pd.DataFrame({"x": base["x"] + [1.0000001, 2.0000001], "y": base["y"] + [1.0, 2.0]})
    assert detail(near_two, "near duplicates").startswith("2 rows equal an earlier row")
    assert detail(near_two, "near duplicates").endswith("they are not exact copies, so preprocessing keeps them")


def test_rare_classes_merged_into_other_or_set_aside_when_still_too_few():
    labels = ["a"] * 100 + ["b"] * 50 + ["c"] * 4 + ["d"] * 3
    merged = too_few_rows(pd.DataFrame({"y": labels}), target="y", problem="multiclass", cv_folds=5,
                          mask=default_mask, rare_classes="merge")
    assert merged[0].severity == "warn" and "merged into one 'other' class (training" in merged[0].detail
    few = too_few_rows(pd.DataFrame({"y": labels[:-3]}), target="y", problem="multiclass", cv_folds=5,
                       mask=default_mask, rare_classes="merge")
    assert few[0].severity == "warn" and "still too few, so they are set aside" in few[0].detail


def test_a_quantity_is_not_classes():
    """Housing prices under problem: multiclass trained 197 classes, set 360 of 546 rows aside and scored 0.03."""
    rng = np.random.default_rng(0)
    prices = pd.DataFrame({"price": rng.integers(200, 1_900, size=546) * 100})
    said = refusal(prices, "multiclass", target="price")
    assert "distinct numbers in 546 rows: a quantity, not classes" in said and "use problem: regression" in said
    ratings = pd.DataFrame({"stars": rng.integers(1, 11, size=500) / 2})  # 0.5 to 5 in halves: ten classes
    check_fits_problem(ratings, target="stars", problem="multiclass")
    codes = pd.DataFrame({"job": rng.integers(0, 60, size=20_000)})  # 60 occupation codes, many rows each
    check_fits_problem(codes, target="job", problem="multiclass")


def test_a_header_read_as_a_number_is_not_the_target_spelt_as_text():
    """A spreadsheet's header cell 2020 is the number 2020: a target '2020' is not in the data (a clean error, not
    a KeyError later), and the error says how to name it."""
    said = refusal(pd.DataFrame({2020: [1.0, 2.0, 3.0], "area": [1, 2, 3]}), "regression", target="2020")
    assert "The target column '2020' is not in the data: its header is the number 2020, not text." in said
    assert "write the header as text in the file" in said


def test_duplicates_auto_keeps_repeats_chance_explains_and_drops_double_loaded_records():
    """Survey-like rows (a few values per column) repeat by chance: distinct people, kept. A copy of a row of
    measurements cannot happen by chance: a double load, dropped. `drop` and `keep` do as they say."""
    rng = np.random.default_rng(3)
    survey = pd.DataFrame({"colour": rng.choice(["black", "white"], 2000), "sex": rng.choice(["f", "m"], 2000),
                           "age": rng.integers(18, 30, 2000), "employed": rng.choice(["yes", "no"], 2000),
                           "y": rng.choice(["yes", "no"], 2000)})
    repeats = int(survey.duplicated().sum())
    assert repeats > 1000
    kept, report = clean_table(survey, target="y", spec=Preprocessing(), problem="binary")
    assert len(kept) == 2000 and (report.duplicates_dropped, report.duplicates_kept) == (0, repeats)
    assert any(note.startswith(f"kept {repeats:,} exact duplicate rows: with so few values per column, chance")
               for note in report.notes()), report.notes()
    dropped, report = clean_table(survey, target="y", spec=Preprocessing(duplicates="drop"), problem="binary")
    assert len(dropped) == 2000 - repeats and report.duplicates_dropped == repeats
    measured = pd.DataFrame({"area": rng.normal(1500, 300, 500), "age": rng.integers(1900, 2010, 500),
                             "y": rng.normal(2e5, 5e4, 500)})
    loaded_twice = pd.concat([measured, measured.sample(7, random_state=1)], ignore_index=True)
    clean, report = clean_table(loaded_twice, target="y", spec=Preprocessing())
    assert len(clean) == 500 and (report.duplicates_dropped, report.duplicates_kept) == (7, 0)
    assert "dropped 7 exact duplicate rows" in report.notes()
    clean, report = clean_table(loaded_twice, target="y", spec=Preprocessing(duplicates="keep"))
    assert len(clean) == 507 and report.duplicates_dropped == 0
