"""The models the blend may draw on: each family's best trial under the family's name, and its next best trials
(training.blend_trials) under the family's name, the mark and their rank (`catboost#2`, its second best).

Two trials of one family with other parameters (deeper trees, a slower step, other samples of rows and columns)
err on different rows, much as two families do, and the greedy blend weighs them by the same out-of-fold evidence.
The search already paid for their cross-validation; what they add is a final fit each and their predict time, paid
from the time the search left (`trial_members`). Both the search under way (`CandidateSearch`) and the search done
(`Searched`) keep those trials as `others`: each holds its out-of-fold outputs, one value per training row and
class, so a search keeps none (`trials_kept`) past OUTPUTS_KEPT_AT_MOST values of them (a million rows of ten
classes would hold 80 MB a trial, a gigabyte over six families), where the final fit is confined to fewer rows
anyway and never draws on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, TypeVar

TRIAL_MARK = "#"
OUTPUTS_KEPT_AT_MOST = 2_000_000  # out-of-fold values a kept trial may hold (16 MB)

Model = TypeVar("Model", bound=Any)  # a dataclass with `best` and `others`: CandidateSearch or Searched


def with_trials(models: Mapping[str, Model]) -> dict[str, Model]:
    """Every family under its name, then each of its other kept trials as a model of its own whose best trial is
    that one."""
    library = dict(models)
    for name, model in models.items():
        for rank, other in enumerate(model.others, start=2):
            library[f"{name}{TRIAL_MARK}{rank}"] = replace(model, best=other, others=())
    return library


def family_of(member: str) -> str:
    """The family a blend member belongs to (`catboost#2` -> `catboost`)."""
    return member.split(TRIAL_MARK)[0]


def rank_of(member: str) -> int:
    """A member's rank among its family's trials: 1 for the best (named as the family)."""
    return int(member.split(TRIAL_MARK)[1]) if TRIAL_MARK in member else 1


def trials_kept(blend_trials: int, *, ensemble: bool, rows: int, classes: int) -> int:
    """How many trials besides its best a search keeps for the blend: none without an ensemble, or when their
    out-of-fold outputs (`rows` x `classes` values each) would hold more than OUTPUTS_KEPT_AT_MOST."""
    if not ensemble or rows * max(classes, 1) > OUTPUTS_KEPT_AT_MOST:
        return 0
    return blend_trials - 1
