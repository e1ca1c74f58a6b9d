"""The rare-class plan and preprocessing applying it: rows set aside or pooled, numbers as labels, the errors."""

import pandas as pd
import pytest

from cairn.config.schema import Preprocessing
from cairn.errors import DataError
from cairn.stages.data.rare_classes import apply_rare_classes, rare_classes
from cairn.stages.preprocessing import clean_table


def table(labels: list) -> pd.DataFrame:
    return pd.DataFrame({"x": range(len(labels)), "y": labels})


def test_drop_sets_the_rows_aside_and_counts_them():
    raw = table(["a"] * 10 + ["b"] * 8 + ["c"] * 2 + [None])
    clean, report = clean_table(raw, target="y", spec=Preprocessing(), problem="multiclass", cv=3)
    assert clean["y"].value_counts().to_dict() == {"a": 10, "b": 8}
    assert report.rows_out == 18 and "set aside 2 rows of 1 class with fewer than 4 rows" in " ".join(report.notes())


def test_merge_pools_numbers_as_labels_into_other():
    plan = rare_classes(pd.Series([1] * 10 + [2] * 8 + [3] * 2 + [4] * 2), cv=3, policy="merge")
    assert (plan.merged, plan.left, plan.set_aside) == ({"3": 2, "4": 2}, {"1": 10, "2": 8, "other": 4}, {})
    merged = apply_rare_classes(table([1] * 10 + [2] * 8 + [3] * 2 + [4] * 2), target="y", plan=plan)
    assert merged["y"].value_counts().to_dict() == {"1": 10, "2": 8, "other": 4}


def test_merge_sets_aside_an_other_class_still_too_small():
    plan = rare_classes(pd.Series(["a"] * 10 + ["b"] * 8 + ["c"] * 2), cv=3, policy="merge")
    assert plan.set_aside == {"other": 2} and not plan.nothing_to_learn
    assert len(apply_rare_classes(table(["a"] * 10 + ["b"] * 8 + ["c"] * 2), target="y", plan=plan)) == 18


@pytest.mark.parametrize("labels, policy, words", [
    (["a"] * 10 + ["b"] * 8 + ["c"] * 2, "fail", "set training.rare_classes to drop or merge"),
    (["a"] * 10 + ["c"] * 2, "drop", "no class is left to learn")])
def test_errors_name_the_classes_and_counts(labels, policy, words):
    with pytest.raises(DataError) as caught:
        clean_table(table(labels), target="y", spec=Preprocessing(), problem="multiclass", cv=3, rare_classes=policy)
    assert "'c' (2)" in str(caught.value) and words in str(caught.value)
