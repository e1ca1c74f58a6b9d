"""The findings in words: plain-English sentences about the target, relations and column health, each ranked.

Each finding is a (priority, sentence) pair so that the stage can put what most changes a modelling decision
first. When a class is rare, a column almost constant or mostly missing, or a distribution skewed is decided by
`cairn.thresholds`, the defaults of the data-quality checks too, so the two stages agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cairn.stages.data.quality.tables import number_tallies
from cairn.stages.exploration.view import View
from cairn.thresholds import ALMOST_CONSTANT_SHARE, MOSTLY_MISSING_SHARE, RARE_CLASS_SHARE, SKEWED, VERY_SKEWED
from cairn.words import and_list, count, level, name_list, percent

STRONG_PAIR_R = 0.8
"""Feature pairs with |r| above this carry much the same information (the quality checks have no such check)."""


# (priority, sentence); lower priority numbers are read first.
_Insight = tuple[int, str]


def insights(view: View) -> list[_Insight]:
    insights: list[_Insight] = [(2, sentence) for sentence in view.sampling()]  # read before what it qualifies
    insights += _target_insights(view)
    insights += _relation_insights(view)
    insights += _column_health_insights(view)
    insights += _pair_insights(view)
    insights += _shape_insights(view)
    if not view.kinds.numeric:
        insights.append((90, "There are no numeric features: the model will rely on the categorical columns."))
    if not view.kinds.categorical:
        insights.append((90, "There are no categorical features: every feature is numeric."))
    return insights


def _target_insights(view: View) -> list[_Insight]:
    """What the target itself implies: unusable rows, then its shape (regression) or its classes."""
    found = _missing_target_insights(view)
    if view.y_numeric is not None:
        return found + _numeric_target_insights(view.target, view.y_numeric.dropna())
    return found + _class_insights(view)


def _missing_target_insights(view: View) -> list[_Insight]:
    """Rows without a target: they are lost to training and evaluation, which matters before anything else."""
    target, n_missing = view.target, int(view.table[view.target].isna().sum())
    if not n_missing:
        return []
    return [
        (
            0,
            f"{target} is missing in {count(n_missing, 'row', 'rows')} ({percent(n_missing / len(view.table))}): "
            "those rows cannot be used to train or evaluate a model.",
        )
    ]


def _numeric_target_insights(target: str, y: pd.Series) -> list[_Insight]:
    """A single-valued target leaves nothing to predict; otherwise its skew decides whether to transform it."""
    if y.nunique() <= 1:
        value = f" ({level(y.iloc[0])})" if len(y) else ""
        return [(0, f"{target} has a single value{value}: there is nothing to predict.")]
    return [_target_skew_insight(target, y)]


def _target_skew_insight(target: str, y: pd.Series) -> _Insight:
    """Whether a (log or power) transform of the target is worth trying, judged by its skewness."""
    skew = float(y.skew())
    if skew > SKEWED:
        remedy = "a log transform" if y.min() > 0 else "a power (Yeo-Johnson) transform"
        return (10, f"{target} is right-skewed (skewness {skew:.2f}): {remedy} of the target is worth trying.")
    if skew < -SKEWED:
        return (
            10,
            f"{target} is left-skewed (skewness {skew:.2f}): a power (Yeo-Johnson) transform "
            "of the target is worth trying.",
        )
    return (80, f"{target} is roughly symmetric (skewness {skew:.2f}): no target transform is needed.")


def _class_insights(view: View) -> list[_Insight]:
    """Too few classes, a binary problem with more than two, imbalance and tiny classes: each changes the setup."""
    target, counts = view.target, view.classes()
    if len(counts) <= 1:
        return [
            (
                0,
                f"{target} has {len(counts)} class{'es' if len(counts) != 1 else ''}: a classifier needs at least two.",
            )
        ]
    found: list[_Insight] = []
    if view.problem == "binary" and len(counts) != 2:
        found.append(
            (
                0,
                f"The problem is binary but {target} has {len(counts)} classes: "
                "use problem: multiclass or map the target to two classes.",
            )
        )
    found.append(_class_balance_insight(target, counts))
    found += _small_class_insights(target, counts)
    return found


def _class_balance_insight(target: str, counts: pd.Series) -> _Insight:
    """Whether the rarest class is rare enough to need stratified splits and a metric other than accuracy."""
    shares = counts / counts.sum()
    smallest, largest = shares.index[-1], shares.index[0]
    judge = "AUC or F1" if len(counts) == 2 else "macro-averaged F1"
    if shares.iloc[-1] < RARE_CLASS_SHARE:
        return (
            10,
            f"{target} is imbalanced: the rarest class {level(smallest)} holds only "
            f"{percent(shares.iloc[-1])} of rows against {percent(shares.iloc[0])} for "
            f"{level(largest)}; use stratified splits and judge models by {judge}, not accuracy.",
        )
    return (
        80,
        f"No class of {target} is rare (under {RARE_CLASS_SHARE:.0%} of rows): they range from "
        f"{percent(shares.iloc[-1])} ({level(smallest)}) to {percent(shares.iloc[0])} ({level(largest)}).",
    )


def _small_class_insights(target: str, counts: pd.Series) -> list[_Insight]:
    """Classes under 10 rows: cross-validation folds may miss them, whatever their share."""
    rare = counts[counts < 10]
    if not len(rare):
        return []
    return [
        (
            11,
            f"{count(len(rare), 'class', 'classes')} of {target} "
            f"{'has' if len(rare) == 1 else 'have'} fewer than 10 rows "
            f"({name_list([level(c) for c in rare.index], 5)}): "
            "cross-validation folds may not see them.",
        )
    ]


def _relation_insights(view: View) -> list[_Insight]:
    target, relevance, found = view.target, view.relevance, []
    if len(relevance):
        best = relevance.index[0]
        if view.y_numeric is not None:
            followers = [f"{name} (r = {relevance[name]:.2f})" for name in relevance.index[1:3]]
            tail = f", followed by {and_list(followers)}" if followers else ""
            found.append(
                (20, f"{best} has the strongest linear relation with {target} (r = {relevance[best]:.2f}){tail}.")
            )
            if abs(relevance[best]) < 0.3:
                found.append(
                    (
                        21,
                        f"No numeric feature is strongly linearly related to {target}: relations may be "
                        "non-linear or lie in the categorical columns.",
                    )
                )
        else:
            followers = [f"{name} (η = {relevance[name]:.2f})" for name in relevance.index[1:3]]
            tail = f", followed by {and_list(followers)}" if followers else ""
            found.append(
                (
                    20,
                    f"{best} separates the classes of {target} best among numeric features "
                    f"(η = {relevance[best]:.2f} on a 0-1 scale){tail}.",
                )
            )
    if view.y_numeric is not None and view.kinds.categorical:
        etas = view.categorical_relevance
        if len(etas):
            best = etas.index[0]
            found.append(
                (
                    21,
                    f"Among categorical columns, {best} explains the most of {target}'s variation "
                    f"(η = {etas.iloc[0]:.2f} on a 0-1 scale).",
                )
            )
    return found


def _column_health_insights(view: View) -> list[_Insight]:
    """Empty, constant, identifier-like, incomplete and almost-constant columns: the cheap fixes."""
    features = [*view.kinds.numeric, *view.kinds.categorical]
    missing = view.missing_share[features]
    empty = [c for c in features if missing[c] >= 1.0]
    constant, almost, odd = _columns_by_value_counts(view, [c for c in features if c not in empty])
    return [
        *_empty_column_insights(empty),
        *odd,
        *_constant_column_insights(constant),
        *_missing_value_insights(missing),
        *_almost_constant_insights(almost),
    ]


def _empty_column_insights(empty: list[str]) -> list[_Insight]:
    """Columns missing in every row: nothing to learn from, so the first thing to drop."""
    if not empty:
        return []
    verb = "is" if len(empty) == 1 else "are"
    return [(30, f"{and_list(empty)} {verb} missing in every row: drop {'it' if len(empty) == 1 else 'them'}.")]


def _columns_by_value_counts(
    view: View, names: list[str]
) -> tuple[list[tuple[str, object]], list[tuple[str, object, float]], list[_Insight]]:
    """Constant columns, almost-constant ones (with their top share) and findings on odd ones, from one count each."""
    constant: list[tuple[str, object]] = []
    almost: list[tuple[str, object, float]] = []
    odd: list[_Insight] = []
    plain = _plain_columns(view)
    for name in names:
        if name in plain:
            continue
        column = view.sample[name]
        counts = column.value_counts(dropna=True)
        counts = counts[counts > 0]  # categorical dtypes also count unused categories
        if len(counts) == 1:
            constant.append((name, counts.index[0]))
        elif len(counts) and counts.iloc[0] / len(column) >= ALMOST_CONSTANT_SHARE:
            almost.append((name, counts.index[0], counts.iloc[0] / len(column)))
        else:
            finding = _odd_column_insight(view, name, column, counts)
            if finding:
                odd.append(finding)
    return constant, almost, odd


def _plain_columns(view: View) -> set[str]:
    """Columns that are neither (almost) constant nor odd, told from counts already made (the numeric tallies, the
    categorical levels) rather than a value_counts per column, which on 5,000 columns took over a second."""
    rows, plain = len(view.sample), set()
    if not rows:
        return plain
    numeric = view.sample[view.kinds.numeric]
    tallies = number_tallies(numeric)  # the values as stored, as value_counts sees them (an infinity is a value)
    integer = {name for name, dtype in zip(numeric.columns, numeric.dtypes, strict=True)
               if pd.api.types.is_integer_dtype(dtype)}
    for name, distinct, top in zip(tallies.distinct.index, tallies.distinct, tallies.top, strict=True):
        if distinct > 1 and top / rows < ALMOST_CONSTANT_SHARE and (name not in integer or distinct != rows):
            plain.add(name)
    for name in view.kinds.categorical:
        levels = view.levels(name)
        present = int(levels.counts[[kind != "missing" for kind in levels.kinds]].sum())
        top = int(levels.counts[0]) if levels.kinds[:1] == ["level"] else 0
        if (1 < levels.n_levels <= 50 and top / rows < ALMOST_CONSTANT_SHARE
                and not (rows >= 50 and levels.n_levels >= 0.9 * present)):
            plain.add(name)
    return plain


def _odd_column_insight(view: View, name: str, column: pd.Series, counts: pd.Series) -> _Insight | None:
    """An identifier, free text or too many levels: columns a model should not take as they are."""
    if name in view.kinds.categorical and len(column) >= 50 and len(counts) >= 0.9 * column.notna().sum():
        return (
            32,
            f"{name} has a distinct value in almost every row: it looks like an identifier or "
            "free text; leave it out of the features.",
        )
    if name in view.kinds.categorical and len(counts) > 50:
        return (75, f"{name} has {len(counts):,} levels: the rarest are worth grouping before one-hot encoding.")
    if (
        name in view.kinds.numeric
        and pd.api.types.is_integer_dtype(column.dtype)
        and len(column) >= 50
        and len(counts) == len(column)
        and counts.index.max() - counts.index.min() + 1 == len(column)
    ):
        return (32, f"{name} numbers the rows one by one: it looks like an identifier; leave it out of the features.")
    return None


def _constant_column_insights(constant: list[tuple[str, object]]) -> list[_Insight]:
    """Columns with a single non-missing value: they carry no information."""
    return [
        (
            31,
            f"{name} is constant (every non-missing value is {level(value)}): it carries no information; drop it.",
        )
        for name, value in constant
    ]


def _missing_value_insights(missing: pd.Series) -> list[_Insight]:
    """The five most incomplete columns by name, the rest in one line: imputation or dropping is a choice to make."""
    incomplete = missing[(missing > 0) & (missing < 1)].sort_values(ascending=False)
    found: list[_Insight] = []
    for name, share in incomplete.iloc[:5].items():
        mostly = share > MOSTLY_MISSING_SHARE
        advice = ": consider dropping it or treating 'missing' as a level of its own" if mostly else ""
        found.append((40, f"{name} is missing in {percent(share)} of rows{advice}."))
    if len(incomplete) > 5:
        rest = incomplete.iloc[5:]
        found.append(
            (
                41,
                f"{count(len(rest), 'more column', 'more columns')} "
                f"{'has' if len(rest) == 1 else 'have'} missing values, each in at most "
                f"{percent(rest.iloc[0])} of rows.",
            )
        )
    return found


def _almost_constant_insights(almost: list[tuple[str, object, float]]) -> list[_Insight]:
    """The four most lopsided columns by name, the rest in one line: they carry little information."""
    almost = sorted(almost, key=lambda item: -item[2])
    found: list[_Insight] = [
        (60, f"{name} is almost constant: {share * 100:.1f}% of rows are {level(value)}.")
        for name, value, share in almost[:4]
    ]
    if len(almost) > 4:
        rest_names = [name for name, _, _ in almost[4:]]
        found.append(
            (
                61,
                f"{count(len(rest_names), 'more column is', 'more columns are')} almost constant "
                f"(over {ALMOST_CONSTANT_SHARE:.0%} one value): {name_list(rest_names, 8)}.",
            )
        )
    return found


def _pair_insights(view: View) -> list[_Insight]:
    """Strongly correlated feature pairs: duplicated information that destabilises linear models."""
    pairs = strong_pairs(view.correlation)
    if not pairs:
        return []
    (a, b, r), rest = pairs[0], pairs[1:]
    found: list[_Insight] = [
        (
            50,
            f"{a} and {b} are strongly correlated (r = {r:.2f}): they carry much the same "
            "information, so a linear model will split weight between them unstably.",
        )
    ]
    if rest:
        named = [f"{a} and {b} (r = {r:.2f})" for a, b, r in rest[:4]]
        more = f", and {count(len(rest) - 4, 'more pair', 'more pairs')}" if len(rest) > 4 else ""
        found.append((51, f"Also strongly correlated: {'; '.join(named)}{more}."))
    return found


def strong_pairs(correlation: pd.DataFrame) -> list[tuple[str, str, float]]:
    if correlation.empty:
        return []
    values = correlation.to_numpy()
    rows, cols = np.triu_indices_from(values, k=1)
    strong = np.abs(values[rows, cols]) > STRONG_PAIR_R
    pairs = [
        (correlation.index[i], correlation.columns[j], float(values[i, j]))
        for i, j in zip(rows[strong], cols[strong], strict=True)
    ]
    return sorted(pairs, key=lambda pair: -abs(pair[2]))


def _shape_insights(view: View) -> list[_Insight]:
    found: list[_Insight] = []
    skews = view.numbers[view.usable].skew() if view.usable else pd.Series(dtype="float64")
    # Almost-constant columns are skewed by construction; saying so twice adds nothing.
    # the largest share of one value, missing counted as a value (value_counts(normalize=True, dropna=False))
    tallies, rows = view.tallies, len(view.numbers)
    top_share = {c: max(tallies.top[c], tallies.missing[c]) / rows for c in view.usable}
    skewed = skews[(skews > VERY_SKEWED) & (pd.Series(top_share) < ALMOST_CONSTANT_SHARE)]
    skewed = skewed.sort_values(ascending=False)
    if len(skewed):
        named = [f"{name} ({value:.1f})" for name, value in skewed.iloc[:3].items()]
        found.append(
            (
                70,
                f"{count(len(skewed), 'numeric feature is', 'numeric features are')} strongly "
                f"right-skewed (skewness above {VERY_SKEWED:.0f}), led by {and_list(named)}: "
                "trees cope, linear models may want a log transform.",
            )
        )
    if view.kinds.other:
        found.append(
            (
                85,
                f"{and_list(view.kinds.other)} {'is' if len(view.kinds.other) == 1 else 'are'} "
                "neither numeric nor categorical (dates or durations) and not charted; derive numbers "
                "such as year or month from them.",
            )
        )
    return found
