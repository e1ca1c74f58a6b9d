"""Stage 1, business understanding: the problem, the target and what 'good enough to ship' means."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cairn.config.schema import Business, Constraints, Cost, SuccessCriterion
from cairn.metrics.catalogue import metrics_for


@dataclass(frozen=True)
class BusinessCase:
    problem: str
    target: str
    objective: str
    primary_metric: str
    success: list[SuccessCriterion]
    constraints: Constraints
    positive_class: Any = None  # binary: business.positive_class as written; training resolves the default
    cost: Cost | None = None

    @property
    def reported_metrics(self) -> list[str]:
        return metrics_for(self.problem, [self.primary_metric] + [c.metric for c in self.success])

    def describe(self) -> list[str]:
        notes = [f"{self.problem} on '{self.target}'; cairn optimises {self.primary_metric}"]
        notes += [f"ships only if {c.text()}" for c in self.success]
        if self.constraints.predict_p99_ms:
            notes.append(f"one prediction must take under {self.constraints.predict_p99_ms:g} ms (p99)")
        if self.constraints.train_budget_minutes:
            minutes = self.constraints.train_budget_minutes
            notes.append(f"training must finish within {minutes:g} minute{'' if minutes == 1 else 's'}")
        return notes



def business_case(spec: Business) -> BusinessCase:
    return BusinessCase(problem=spec.problem, target=spec.target, objective=spec.objective,
                        primary_metric=spec.primary_metric, success=list(spec.success),
                        constraints=spec.constraints, positive_class=spec.positive_class, cost=spec.cost)
