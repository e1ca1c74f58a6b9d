"""Classes too rare to cross-validate, and what `training.rare_classes` does with them.

Real multiclass data has classes with a handful of rows. Stratified cross-validation needs a row of every class in
each fold and one more for the holdout, so a class with at most `cv` rows cannot be scored. The AutoML tools carry
on without it, and so does cairn by default: such classes are set aside from training (`drop`) or pooled into one
`other` class (`merge`) and named with their counts; `fail` stops the run. Only when fewer than two classes are
left to learn is it an error whatever the setting. The data checks report the plan and preprocessing applies it,
so both read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

OTHER = "other"
"""The class rare classes are pooled into under `training.rare_classes: merge`."""


def rows_needed(cv: int) -> int:
    """Rows a class needs: one in each of the `cv` folds and one for the holdout."""
    return cv + 1


@dataclass(frozen=True)
class RareClasses:
    """Which classes are too rare and what becomes of them: `rare` maps each to its rows, `set_aside` are the
    classes left out of training (under merge, only a pooled `other` still too small), `left` the classes learnt."""

    policy: str
    needed: int
    rare: dict[str, int] = field(default_factory=dict)
    set_aside: dict[str, int] = field(default_factory=dict)
    merged: dict[str, int] = field(default_factory=dict)
    left: dict[str, int] = field(default_factory=dict)

    @property
    def nothing_to_learn(self) -> bool:
        return len(self.left) < 2

    def named(self, classes: dict[str, int]) -> str:
        return ", ".join(f"'{label}' ({count:,})" for label, count in classes.items())

    def notes(self) -> list[str]:
        notes = []
        if self.merged:
            notes.append(f"merged {len(self.merged)} classes with fewer than {self.needed} rows into '{OTHER}' "
                         f"(training.rare_classes: merge): {self.named(self.merged)}")
        if self.set_aside:
            rows = sum(self.set_aside.values())
            notes.append(f"set aside {rows:,} rows of {len(self.set_aside)} "
                         f"{'class' if len(self.set_aside) == 1 else 'classes'} with fewer than {self.needed} rows, "
                         f"too few to cross-validate (training.rare_classes: {self.policy}): "
                         f"{self.named(self.set_aside)}; the model never predicts them")
        return notes


def rare_classes(labels: pd.Series, *, cv: int, policy: str) -> RareClasses:
    """The plan for the labelled rows' classes (missing labels ignored)."""
    counts = {str(label): int(count) for label, count in labels.dropna().astype(str).value_counts().items()}
    needed = rows_needed(cv)
    rare = {label: count for label, count in counts.items() if count < needed}
    left = {label: count for label, count in counts.items() if count >= needed}
    set_aside, merged = dict(rare), {}
    if policy == "merge" and rare:
        merged, set_aside = dict(rare), {}
        pooled = sum(rare.values()) + left.pop(OTHER, 0)
        if pooled >= needed:
            left[OTHER] = pooled
        else:
            set_aside = {OTHER: pooled}
    return RareClasses(policy, needed, rare, set_aside, merged, left)


def apply_rare_classes(table: pd.DataFrame, *, target: str, plan: RareClasses) -> pd.DataFrame:
    """The rows to train on: rare classes merged into `other` or set aside, as the plan says."""
    if not plan.rare:
        return table
    labels = table[target]
    text = labels.astype(str).where(labels.notna())
    if plan.merged:
        pooled = text.isin(list(plan.merged)).to_numpy()
        labels = labels.astype(object) if labels.dtype == object else labels.astype(str).where(labels.notna())
        table = table.assign(**{target: labels.where(~pooled, OTHER)})  # numbers as labels become text
        text = table[target].astype(str).where(table[target].notna())
    keep = ~text.isin(list(plan.set_aside)).to_numpy()
    return table.loc[keep].reset_index(drop=True)
