"""What every step of one training stage reads and none changes (but for its memo): the case, the settings, the
budget, the clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cairn.config.schema import Training
from cairn.stages.business import BusinessCase
from cairn.stages.training.budget import STOP_SHARE, Budget


@dataclass(frozen=True)
class Context:
    case: BusinessCase
    spec: Training
    seed: int
    budget: Budget
    started: float  # time.perf_counter() when the stage began: deadlines and the budget count from here
    progress: Callable[[str], None]
    # What one stage recomputes only when its inputs change (the deadline's blend, `standing.refitted`); it lives
    # and dies with the stage, so one run's results are never held after it nor read by another.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def primary(self) -> str:
        return self.case.primary_metric

    @property
    def replay(self) -> dict[str, int] | None:
        """The recorded plan (training.tuning.plan), when the run replays one instead of planning from the clock."""
        return self.spec.tuning.plan

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def seconds_to_stop(self) -> float:
        """Seconds until the safety stop's share of the budget (STOP_SHARE): what the final fit, the runner-up's
        refit and the curves that choose between them may still spend; negative once past it."""
        return self.budget.seconds * STOP_SHARE - self.elapsed()
