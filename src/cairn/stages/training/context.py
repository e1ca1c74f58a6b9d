"""What every step of one training stage reads and none changes: the case, the settings, the budget, the clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cairn.config.schema import Training
from cairn.stages.business import BusinessCase
from cairn.stages.training.budget import Budget


@dataclass(frozen=True)
class Context:
    case: BusinessCase
    spec: Training
    seed: int
    budget: Budget
    started: float  # time.perf_counter() when the stage began: deadlines and the budget count from here
    progress: Callable[[str], None]

    @property
    def primary(self) -> str:
        return self.case.primary_metric

    @property
    def replay(self) -> dict[str, int] | None:
        """The recorded plan (training.tuning.plan), when the run replays one instead of planning from the clock."""
        return self.spec.tuning.plan

    def elapsed(self) -> float:
        return time.perf_counter() - self.started
