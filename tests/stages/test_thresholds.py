"""Data quality and exploration judge a table by one set of thresholds (cairn.thresholds): a table just past
a line is flagged by both stages, one just short of it by neither."""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pandas as pd
import pytest

from cairn import thresholds
from cairn.config.schema import Quality
from cairn.stages import data
from cairn.stages.data.profile import DataProfile, profile_table
from cairn.stages.exploration import explore_table, figures, insights

ROWS = 1000


def profile(table: pd.DataFrame, *, target: str, problem: str) -> DataProfile:
    return profile_table(table, target=target, problem=problem, source="table", fingerprint="0" * 64,
                         spec=Quality(), types={}, cv_folds=5)


def explore(table: pd.DataFrame, *, target: str, problem: str) -> list[str]:
    return explore_table(table, target=target, problem=problem).insights


def checks(result: DataProfile, column: str) -> dict[str, str]:
    """The quality findings about one column, as check name -> severity."""
    return {finding.check: finding.severity for finding in result.findings if finding.columns == [column]}


def test_quality_defaults_are_the_shared_thresholds():
    """The quality checks read data.quality; its defaults must be the values exploration reads."""
    spec = Quality()
    assert spec.imbalance_warn == thresholds.RARE_CLASS_SHARE
    assert spec.near_constant == thresholds.ALMOST_CONSTANT_SHARE
    assert spec.missing_warn == thresholds.MOSTLY_MISSING_SHARE


def test_exploration_reads_the_shared_objects():
    assert insights.RARE_CLASS_SHARE is thresholds.RARE_CLASS_SHARE
    assert insights.ALMOST_CONSTANT_SHARE is figures.ALMOST_CONSTANT_SHARE is thresholds.ALMOST_CONSTANT_SHARE
    assert insights.MOSTLY_MISSING_SHARE is data.MOSTLY_MISSING_SHARE is thresholds.MOSTLY_MISSING_SHARE
    assert insights.SKEWED is figures.SKEWED is thresholds.SKEWED
    assert insights.VERY_SKEWED is thresholds.VERY_SKEWED


def test_thresholds_import_nothing_from_cairn():
    """So that the config schema can take its defaults from them without an import cycle."""
    tree = ast.parse(inspect.getsource(thresholds))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert [name for name in imported if name.split(".")[0] == "cairn" and name != "cairn.errors"] == []


def near(share: float, step: int) -> int:
    """A count of rows `step` rows away from `share` of them."""
    return round(share * ROWS) + step


@pytest.mark.parametrize(("step", "flagged"), [(-1, True), (1, False)])
def test_a_rare_class(step: int, flagged: bool):
    """One row fewer than the rare-class share is flagged by both stages; one row more by neither."""
    rare = near(thresholds.RARE_CLASS_SHARE, step)
    assert (rare / ROWS < thresholds.RARE_CLASS_SHARE) is flagged
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.normal(size=ROWS), "label": ["yes"] * rare + ["no"] * (ROWS - rare)})
    assert ("class imbalance" in checks(profile(table, target="label", problem="binary"), "label")) is flagged
    said = explore(table, target="label", problem="binary")
    assert any(text.startswith("label is imbalanced") for text in said) is flagged
    assert any(text.startswith("No class of label is rare") for text in said) is not flagged


@pytest.mark.parametrize("kind", ["number", "text"])
@pytest.mark.parametrize(("step", "flagged"), [(1, True), (-1, False)])
def test_an_almost_constant_column(kind: str, step: int, flagged: bool):
    """One row more of the top value than the almost-constant share is flagged by both; one row fewer by neither."""
    others = ROWS - near(thresholds.ALMOST_CONSTANT_SHARE, step)
    assert ((ROWS - others) / ROWS >= thresholds.ALMOST_CONSTANT_SHARE) is flagged
    rng = np.random.default_rng(1)
    values = np.concatenate([np.zeros(ROWS - others), np.arange(1.0, others + 1)])
    column = values if kind == "number" else [f"v{value:.0f}" for value in values]
    table = pd.DataFrame({"y": rng.normal(size=ROWS), "mostly": column})
    assert ("almost constant" in checks(profile(table, target="y", problem="regression"), "mostly")) is flagged
    said = explore(table, target="y", problem="regression")
    assert any(text.startswith("mostly is almost constant") for text in said) is flagged


@pytest.mark.parametrize(("step", "flagged"), [(1, True), (-1, False)])
def test_a_mostly_missing_column(step: int, flagged: bool):
    """One row more missing than the mostly-missing share is flagged by both; one row fewer by neither."""
    missing = near(thresholds.MOSTLY_MISSING_SHARE, step)
    assert (missing / ROWS > thresholds.MOSTLY_MISSING_SHARE) is flagged
    rng = np.random.default_rng(2)
    gaps = rng.normal(size=ROWS)
    gaps[:missing] = np.nan
    table = pd.DataFrame({"y": rng.normal(size=ROWS), "gaps": gaps})
    severity = checks(profile(table, target="y", problem="regression"), "gaps")["missing values"]
    assert (severity == "warn") is flagged
    said = [text for text in explore(table, target="y", problem="regression") if text.startswith("gaps is missing")]
    assert len(said) == 1 and ("consider dropping it" in said[0]) is flagged
