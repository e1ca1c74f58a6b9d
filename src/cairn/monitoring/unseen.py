"""Category levels a scored file holds that the training rows never had: said, as `cairn monitor` would name them.

The training levels come from the model version's monitoring baseline (every level of every row of the training
split, keyed as the drift check keys them: ``level_counts`` with the baseline's own normalisation), not from
``FeatureSpec.levels``, which keeps only the most frequent; new levels are chosen, ordered and masked by the one
function `cairn monitor` uses (``new_levels``). So the two agree on what is new, and a level differing from a known
one only in case or spacing is not new when training folded them. One difference: a model deployment refit on
every row also learned the holdout's levels, and a frequent one has its own code in its encoder; predict leaves
that one out (the model reads it as its own), monitor, which compares with the training split, names it. A rare
one the refit grouped with the rare levels, as the sentence says. A chunk costs one ``level_counts`` per category
(a factorize, then a set look-up per distinct value).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from cairn.estimators.encoder import OTHER_LEVEL, encoders_in
from cairn.monitoring.drift import NEW_LEVELS_SHOWN, statistics_of
from cairn.monitoring.reference import CategoryReference, is_numeric, level_counts, new_levels

__all__ = ["TrainingLevels", "Unseen", "training_levels", "unseen_reading"]

READINGS = {
    "rare": "as the rare levels training grouped together",
    "prior": "as the mean target of all training rows",
    "none": "as none of the levels it knows",
    # LightGBM's categorical splits: a negative code is a missing value, sent where no chosen level goes
    "split": "as a level none of its splits picks out",
    "category": "as a category it never saw",  # CatBoost's categories: its statistics' prior alone
    "code": "as a code below those of every level it knows",  # trees splitting the codes as numbers
}


@dataclass(frozen=True)
class Unseen:
    """Rows of a category input whose level the training split never had: the model still answers (see
    `reading`), and the caller says so (a scored file)."""

    name: str  # as shown: redacted and clipped by the caller
    count: int  # rows
    examples: tuple[str, ...]  # the most frequent such levels first, masked; none for a personal column
    reading: str  # what the model makes of them, e.g. "as the rare levels training grouped together"

    def sentence(self) -> str:
        rows = "1 row has a level" if self.count == 1 else f"{self.count:,} rows have levels"
        shown = (f", such as {', '.join(repr(example) for example in self.examples)}" if self.examples
                 else " (a personal column: its levels are not shown)")
        return (f"{self.name}: {rows} the training split never had{shown}; the model reads "
                f"{'it' if self.count == 1 else 'them'} {self.reading}")

    def plus(self, other: Unseen) -> Unseen:
        """Both counts, and the first examples found (this chunk's before the next's), a few at most."""
        examples = tuple(dict.fromkeys((*self.examples, *other.examples)))[:NEW_LEVELS_SHOWN]
        return replace(self, count=self.count + other.count, examples=examples)


@dataclass(frozen=True)
class TrainingLevels:
    """What a scoring checks its category inputs against: per input, the level keys of the training rows and what
    the model reads for any other. Small, so it goes once to every Dask worker beside the model."""

    keys: dict[str, frozenset[str]]
    normalize: bool  # keys with case and inner spaces folded (preprocessing.normalize_categories)
    readings: dict[str, str]
    personal: frozenset[str]  # hashed or masked as in training before the look-up; their levels never shown

    def unseen(self, table: pd.DataFrame, hidden: pd.DataFrame, *, shown: Callable[[str], str]) -> list[Unseen]:
        """The inputs of `table` with levels outside the training ones (missing values are no level): rows and
        the most frequent few, masked as monitoring masks them, then through `shown`. `hidden`: `table` with its
        personal columns protected as the model protects them (TrainedModel.protected), whose levels are counted
        and never shown."""
        found = []
        for name, known in self.keys.items():
            if name not in table.columns:
                continue
            levels = level_counts(hidden[name] if name in self.personal else table[name], normalize=self.normalize,
                                  known=known)
            new = new_levels(levels.counts, levels.spelling, known)  # as the drift report orders and masks them
            if not new:
                continue
            examples = () if name in self.personal else tuple(dict.fromkeys(
                shown(masked) for masked in list(new.values())[:NEW_LEVELS_SHOWN]))
            found.append(Unseen(shown(name), sum(levels.counts[key] for key in new), examples, self.readings[name]))
        return found


def training_levels(baseline: Any, model: Any) -> TrainingLevels | None:
    """The levels of `model`'s category inputs in its monitoring `baseline` (None: no category to check)."""
    statistics = statistics_of(baseline)
    keys = {feature.name: frozenset(reference.counts) for feature in model.features
            if feature.kind == "category" and not is_numeric(feature)
            and isinstance(reference := statistics.features.get(feature.name), CategoryReference)}
    if not keys:
        return None
    encoders = encoders_in(model.pipeline)  # walked once for the levels and every input's reading
    for encoder, _ in encoders:  # a deployment refit on every row also learned the holdout's
        if getattr(encoder, "normalize", True) == statistics.normalize:
            for name, codes in zip(encoder.categorical, encoder.codes_, strict=True):
                if name in keys:
                    keys[name] |= {key for key in codes if isinstance(key, str) and key != OTHER_LEVEL}
    personal = frozenset(pii.column for pii in getattr(model, "personal_columns", []) if pii.column in keys)
    return TrainingLevels(keys, statistics.normalize, {name: _reading_in(encoders, name) for name in keys}, personal)


def unseen_reading(pipeline: Any, name: str) -> str:
    """What the fitted `pipeline` makes of a level of `name` it never saw, as a clause ("as none of the levels it
    knows"): its encoder's reading, and for a code, its model's; each of a blend's members', when they differ."""
    return _reading_in(encoders_in(pipeline), name)


def _reading_in(encoders: list[tuple[Any, Any]], name: str) -> str:
    """`unseen_reading` from the pipeline's (encoder, model) pairs, found once for every input."""
    readings = [_reading(encoder, model, name) for encoder, model in encoders if name in encoder.categorical]
    distinct = list(dict.fromkeys(readings)) or ["as a level it never learned"]
    if len(distinct) == 1:
        return distinct[0]
    return f"{', '.join(distinct[:-1])} or {distinct[-1]} (the blend's models differ)"


def _reading(encoder: Any, model: Any, name: str) -> str:
    how = encoder.unseen_level(name)
    if how != "code":
        return READINGS[how]
    column = list(encoder.get_feature_names_out()).index(name)
    booster = getattr(model, "booster_", None)  # LightGBM: the columns it split as categories
    if booster is not None and column in (getattr(booster, "params", None) or {}).get("categorical_column", ()):
        return READINGS["split"]
    if getattr(model, "learns_codes_as_categories", False) and column in model.get_cat_feature_indices():
        return READINGS["category"]
    return READINGS["code"]
