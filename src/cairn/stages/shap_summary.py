"""The global explanation of the chosen model: mean |contribution| per input on a sample of the holdout, and the
points the report draws its summary (beeswarm) and dependence plots from.

Beside permutation importance, which says how much the metric suffers when an input is shuffled, this says how
far each input moves the answers, on the explained scale (cairn.explain). Bounded in time: one row is explained
first and timed, then a second one alone, when twice the first fits: the first paid for loading shap and building
the model's explainer (kept for the model), the second is what one more row costs. The rest of the sample is sized
from that so the whole fits `BUDGET_S` or its share of the training budget (sampled explanations, such as kNN's,
are far slower per row than the boosters' exact ones; a forest's explainer is slow to build: on diamonds at one
minute the first row took 1.05 s, shap's import 0.5 s of it, and 3 s were allowed: timed from the first row alone,
ten rows looked unaffordable, and one row was all the summary had).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cairn.errors import CairnError
from cairn.model.trained import TrainedModel

log = logging.getLogger(__name__)

MAX_ROWS = 2_000
PROBE = 1  # rows explained first, whatever the time: the summary is never empty
BUDGET_S = 15.0
BUDGET_SHARE = 0.05
"""Of the training budget the explanation may take when that is less than BUDGET_S: an 18 s budget allows 0.9 s,
so the whole run stays near the budget the user set (issue 17, item 13); five minutes or more allow BUDGET_S."""
TOP_EFFECTS = 8  # inputs drawn in the summary
POINTS = 400  # points per input kept for the plots


@dataclass(frozen=True)
class InputEffect:
    """One input's contributions on the sampled rows, with the value each row had (numbers as floats)."""

    name: str
    kind: str  # "number" | "category"
    contributions: tuple[float, ...]
    values: tuple[Any, ...]


@dataclass(frozen=True)
class ShapSummary:
    importance: list[tuple[str, float]]  # mean |contribution| per input, largest first
    scale: str  # what the contributions add up to ("log1p(Sale_Price)", "log-odds of bad", ...)
    rows: int  # holdout rows explained
    effects: list[InputEffect] = field(default_factory=list)  # the top inputs, for the plots
    note: str = ""


def shap_summary(model: TrainedModel, holdout: pd.DataFrame, *, seed: int, budget_s: float = math.inf
                 ) -> tuple[ShapSummary | None, str]:
    """The summary, or None and the reason it could not be made (the `shap` extra missing, say). `budget_s` is the
    training budget: the rows explained fit BUDGET_S or BUDGET_SHARE of it, whichever is less."""
    allowed_s = min(BUDGET_S, BUDGET_SHARE * budget_s) if math.isfinite(budget_s) and budget_s > 0 else BUDGET_S
    order = np.random.default_rng(seed).permutation(len(holdout))[:MAX_ROWS]
    sample = holdout.iloc[order]
    began = time.perf_counter()
    try:
        first = model.explain(sample.iloc[:PROBE])
    except CairnError as error:
        return None, f"no mean |SHAP|: {error.headline} ({error.problems[0].fix if error.problems else ''})"
    except TypeError as error:  # a model cairn did not build
        return None, f"no mean |SHAP|: {error}"
    except Exception as error:  # a bug in cairn.explain: logged with its traceback, but no run is lost to it
        log.exception("could not explain the chosen model")
        return None, f"no mean |SHAP|: explaining the model failed ({type(error).__name__})"
    parts = [first]
    first_s = time.perf_counter() - began
    second = sample.iloc[PROBE:PROBE + 1]
    if len(second) and 2 * first_s <= allowed_s:  # the second row costs at most what the first did
        parts.append(model.explain(second))
        per_row_s = max(time.perf_counter() - began - first_s, 1e-6)
        more = int(max(0.0, allowed_s - (time.perf_counter() - began)) / per_row_s)
        rest = sample.iloc[PROBE + 1:PROBE + 1 + more]
        parts += [model.explain(rest)] if len(rest) else []
    contributions = np.concatenate([_chosen(part) for part in parts])
    frame = pd.concat([part.frame() for part in parts])
    magnitude = np.abs(np.concatenate([part.contributions for part in parts])).mean(axis=(0, 2))
    importance = sorted(((name, float(value)) for name, value in zip(first.inputs, magnitude, strict=True)),
                        key=lambda pair: -pair[1])
    kinds = {feature.name: feature.kind for feature in model.features}
    position = {name: index for index, name in enumerate(first.inputs)}
    effects = [InputEffect(name, kinds.get(name, "number"),
                           tuple(float(v) for v in contributions[:POINTS, position[name]]),
                           tuple(_plain(v) for v in frame[name].to_numpy()[:POINTS]))
               for name, _ in importance[:TOP_EFFECTS]]
    rows = len(contributions)
    note = "" if rows == min(len(holdout), MAX_ROWS) else f"mean |SHAP| on {rows:,} of {len(holdout):,} holdout " \
        f"rows, to stay within " + (f"{BUDGET_S:.0f} s" if allowed_s == BUDGET_S else
                                    f"{allowed_s:.1f} s ({BUDGET_SHARE:.0%} of the training budget)")
    scale = first.scales[0] if len(first.scales) == 1 else "each row's predicted class"
    return ShapSummary(importance[:20], scale, rows, effects, note), note


def _chosen(explained: Any) -> np.ndarray:
    """(rows, inputs): each row's contributions to its own answer (a multiclass row: its predicted class)."""
    picked: np.ndarray = explained.contributions[np.arange(len(explained)), :, explained.chosen]
    return picked


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return value if isinstance(value, float | int) else str(value)
