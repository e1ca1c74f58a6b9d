"""Stage 4, exploration: the charts and plain-English findings a person reads before trusting a model.

The stage is a pure function of the cleaned table: it draws figures as PNG (base64, so the report can inline them
and stay a single offline file) and states what the data says in sentences, most important first. Plots use a
seeded sample of at most ``max_rows`` rows so that a 10-million-row table explores as fast as Ames; missing
shares and class counts are cheap and come from the whole table.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cairn.errors import DataError
from cairn.model.inputs import parsed_numbers
from cairn.plots import PANELS_PER_FIGURE, Figure
from cairn.stages.exploration.figures import figures as _figures
from cairn.stages.exploration.insights import insights as _insights
from cairn.stages.exploration.view import View, column_kinds, is_numeric
from cairn.words import name_list

__all__ = ["PANELS_PER_FIGURE", "PROBLEMS", "Exploration", "Figure", "explore_table"]

logger = logging.getLogger(__name__)

PROBLEMS = ("regression", "binary", "multiclass")


@dataclass(frozen=True)
class Exploration:
    """What stage 4 found: figures to look at and sentences to read, most important first."""

    figures: list[Figure]
    insights: list[str]  # plain-English sentences, most important first
    n_rows: int
    n_columns: int
    sampled_rows: int  # rows actually used for plots (<= max_rows)
    sampled_columns: tuple[str, ...] = ()  # what was charted or paired when a column cap applied, in words


def explore_table(
    table: pd.DataFrame, *, target: str, problem: str, max_rows: int = 200_000, seed: int = 42,
    column_types: Mapping[str, str] | None = None, left_out: Sequence[str] = ()
) -> Exploration:
    """Chart every column and state what matters for modelling ``target``.

    Sampling, not the full table, feeds the plots and statistics: beyond a few hundred thousand rows a histogram
    or a correlation does not change, but the time to draw it does. Columns are capped the same way: beyond
    MAX_CHARTED_COLUMNS of a kind the grids chart the most related to the target, and beyond
    MAX_CORRELATED_COLUMNS only those are paired (`sampled_columns` says so).
    """
    _check_arguments(table, target=target, problem=problem, max_rows=max_rows)
    table = table.drop(columns=[c for c in left_out if c in table.columns and c != target])  # data.drop_columns
    table = _written_numbers_read(table, target=target, column_types=column_types)
    n_rows, n_columns = table.shape
    sample = table.sample(n=max_rows, random_state=seed) if n_rows > max_rows else table
    if n_rows == 0:
        return Exploration(
            figures=[],
            insights=["The table has no rows: there is nothing to explore."],
            n_rows=0,
            n_columns=n_columns,
            sampled_rows=0,
        )
    view = _view(table, sample, target=target, problem=problem, seed=seed, column_types=column_types)
    figures, insights = _figures_and_insights(view)
    return Exploration(figures=figures, insights=insights, n_rows=n_rows, n_columns=n_columns, sampled_rows=len(sample),
                       sampled_columns=tuple(view.sampling()))


def _check_arguments(table: pd.DataFrame, *, target: str, problem: str, max_rows: int) -> None:
    """Raise before any work on arguments that would fail later with a less helpful message."""
    if problem not in PROBLEMS:
        raise ValueError(
            f"The problem parameter of explore_table must be one of {', '.join(PROBLEMS)}. Got {problem!r} instead."
        )
    if max_rows < 1:
        raise ValueError(f"The max_rows parameter of explore_table must be >= 1. Got {max_rows!r} instead.")
    if target not in table.columns:
        raise DataError.single(
            "The target column is not in the table.",
            where=f"column {target!r}",
            expected="a column of the cleaned table",
            got=name_list([str(c) for c in table.columns], 8),
            fix="set business.target to one of the table's columns",
        )
    if problem == "regression" and not is_numeric(table[target].dtype):
        raise DataError.single(
            "A regression target must be numeric.",
            where=f"column {target!r}",
            expected="numbers",
            got=f"dtype {table[target].dtype}",
            fix="use problem: binary or multiclass, or convert the column to numbers in preprocessing",
        )


def _written_numbers_read(table: pd.DataFrame, *, target: str, column_types: Mapping[str, str] | None
                          ) -> pd.DataFrame:
    """Numbers the data stage read from text ('$45,200') as numbers, as the features read them: as text they
    were a category of as many levels as rows, 'an identifier to leave out', while they drove the target."""
    written = [c for c in table.columns if c != target and (column_types or {}).get(str(c)) == "number"
               and not is_numeric(table[c].dtype)]
    if not written:
        return table
    return table.assign(**{str(c): parsed_numbers(table[c], "text_number") for c in written})


def _view(table: pd.DataFrame, sample: pd.DataFrame, *, target: str, problem: str, seed: int,
          column_types: Mapping[str, str] | None = None) -> View:
    """The table seen as features of each kind, logged so that a slow run shows what it was given."""
    kinds = column_kinds(table, target, column_types)
    view = View(table=table, sample=sample, target=target, problem=problem, kinds=kinds, seed=seed)
    logger.info(
        "Exploring %d rows x %d columns (%d sampled): %d numeric, %d categorical features",
        *table.shape,
        len(sample),
        len(kinds.numeric),
        len(kinds.categorical),
    )
    return view


def _figures_and_insights(view: View) -> tuple[list[Figure], list[str]]:
    """The figures and the sentences, most important first, with numpy's warnings on odd columns silenced."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        insights = _insights(view)
        figures = list(_figures(view))
    return figures, [text for _, text in sorted(insights, key=lambda i: i[0])]
