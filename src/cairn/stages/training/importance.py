"""Optional feature selection (`features.select`): a LightGBM fitted on each CV fold's training rows ranks the
input columns, and only the inputs that matter reach the models.

`permutation` (the sound choice) shuffles each input's encoded columns on the fold's validation rows, which the
booster never saw, and measures how much the primary metric degrades; an input whose shuffling does not hurt
the score carries nothing the model can use on new rows. `gain` credits each input with the split gain on the
fold's fitting rows: fast, but measured on the rows the model fitted, so noise with many distinct values earns
a share too.

Each fold's encoder and booster see only that fold's fit rows, so no input is chosen on rows it is later scored
on. Derived features are always kept, with every input they read: the pipeline computes them from those inputs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from cairn.config.schema import FeatureSelection
from cairn.expr import parse
from cairn.metrics.scoring import lower_is_better
from cairn.stages.selection import CATALOGUE, make_estimator
from cairn.stages.training.crossval import TrainingData, model_outputs, preprocessor, score_outputs

log = logging.getLogger(__name__)

SELECTION_PARAMS = {"n_estimators": 200, "learning_rate": 0.1}  # fixed: a ranking, not a tuned model
SEPARATORS = ("_", "=", "~")  # between an input's name and what the encoder made of it
LISTED = 12  # names shown per note line
BATCH_BYTES = 64 << 20  # permuted copies of the validation rows predicted at once

MEASURE = {
    "permutation": "permutation importance on validation folds",
    "gain": "LightGBM split gain on each fold's fitting rows",
}
SHARE_OF = {"permutation": "of the positive permutation importance", "gain": "of the out-of-fold gain"}


@dataclass(frozen=True)
class Selection:
    kept: list[str]  # input features (FeatureSpec names), in the plan's order
    dropped: dict[str, str]  # input -> why
    shares: dict[str, float]  # input or derived feature -> share of the total positive importance (0 if none)
    spec: FeatureSelection
    forced: dict[str, str]  # input kept below the threshold -> the derived feature that reads it
    importances: dict[str, float] | None = None  # mean over folds: metric degradation (permutation) or gain share

    def notes(self) -> list[str]:
        total = len(self.kept) + len(self.dropped)
        measure = MEASURE.get(self.spec.method, self.spec.method)
        if not self.shares:
            return [f"feature selection by {measure}: no input improved the score, so all {total} inputs are kept"]
        limits = f"min_share {self.spec.min_share:.2%}"
        if self.spec.max_features is not None:
            limits += f", max_features {self.spec.max_features}"
        lines = [f"feature selection by {measure}: kept {len(self.kept)} of {total} inputs ({limits})"]
        top = sorted(self.kept, key=lambda name: -self.shares.get(name, 0.0))[:LISTED]
        lines.append("most important: " + ", ".join(f"{name} {self.shares.get(name, 0.0):.1%}" for name in top))
        if self.dropped:
            names = list(self.dropped)
            more = f" and {len(names) - LISTED} more" if len(names) > LISTED else ""
            lines.append("dropped by importance: " + ", ".join(
                f"{name} ({self.shares.get(name, 0.0):.2%})" for name in names[:LISTED]) + more)
        lines += [f"kept {name} below the threshold: derived {by} reads it" for name, by in self.forced.items()]
        return lines


def select_features(data: TrainingData, spec: FeatureSelection) -> Selection:
    """Inputs whose importance is above zero and whose share of the total positive importance reaches
    `spec.min_share`, then the best `spec.max_features`; at least one, plus every input a derived feature
    reads."""
    plan = data.plan
    inputs = [f.name for f in plan.features]
    reads = {name: parse(name, text, known_columns=inputs).columns for name, text in plan.derived.items()}
    owners = inputs + list(plan.derived)
    if spec.method == "gain":
        importance = _gain_shares(data, owners=owners)
    else:
        importance = _permutation_importance(data, owners=owners)
    positive = sum(value for value in importance.values() if value > 0)
    if not importance or positive <= 0:
        return Selection(inputs, {}, {}, spec, {}, importance or None)
    shares = {name: max(value, 0.0) / positive for name, value in importance.items()}
    ranked = sorted(inputs, key=lambda name: -importance[name])  # stable: ties keep the plan's order
    chosen = [name for name in ranked if importance[name] > 0 and shares[name] >= spec.min_share] or ranked[:1]
    if spec.max_features is not None:
        chosen = chosen[:spec.max_features]
    forced = {column: derived for derived, columns in reads.items() for column in columns if column not in chosen}
    kept = [name for name in inputs if name in chosen or name in forced]
    dropped = {}
    share_of = SHARE_OF.get(spec.method, "of the importance")
    for name in ranked:
        if name in kept:
            continue
        if importance[name] <= 0 and spec.method == "gain":
            dropped[name] = "no out-of-fold gain (not above zero)"
        elif importance[name] <= 0:
            dropped[name] = (f"permutation importance {importance[name]:.3g} in validation {data.primary} (not "
                             "above zero): shuffling it did not hurt the score")
        elif shares[name] < spec.min_share:
            dropped[name] = f"{shares[name]:.2%} {share_of} (below min_share)"
        else:
            dropped[name] = f"{shares[name]:.2%} {share_of} (beyond max_features {spec.max_features})"
    return Selection(kept, dropped, shares, spec, forced, importance)


def _fold_model(data: TrainingData, fit_rows: np.ndarray):
    """The fold's encoder and a LightGBM fitted on its fit rows, with the encoded column names."""
    target = data.target_for_fit(data.y[fit_rows])
    encode = preprocessor(data.plan, scale=False, one_hot=False)
    encoded = np.asarray(encode.fit_transform(data.X.iloc[fit_rows], target), dtype="float64")
    model = make_estimator(CATALOGUE["lightgbm"], case=data.case, seed=data.seed, n_jobs=data.n_jobs,
                           n_rows=len(fit_rows), params=SELECTION_PARAMS)
    model.fit(encoded, target)
    names = [str(column) for column in encode.named_steps["encode"].get_feature_names_out()]
    return encode, model, names


def _columns_of(names: list[str], owners: list[str]) -> dict[str, list[int]]:
    """Encoded column positions per owner."""
    columns: dict[str, list[int]] = {name: [] for name in owners}
    for position, column in enumerate(names):
        owner = owner_of(column, owners)
        if owner is None:
            log.warning("feature selection: encoded column %s matches no input", column)
        else:
            columns[owner].append(position)
    return columns


def _gain_shares(data: TrainingData, *, owners: list[str]) -> dict[str, float]:
    """Each owner's share of a fold's total gain, averaged over folds; empty when no fold split at all."""
    per_fold = []
    for fit_rows, _ in data.split.folds:
        _, model, names = _fold_model(data, fit_rows)
        gain = model.booster_.feature_importance("gain")
        credited = {name: float(gain[positions].sum()) for name, positions in _columns_of(names, owners).items()}
        total = sum(credited.values())
        if total > 0:
            per_fold.append({name: value / total for name, value in credited.items()})
    if not per_fold:
        return {}
    return {name: float(np.mean([fold[name] for fold in per_fold])) for name in owners}


def _permutation_importance(data: TrainingData, *, owners: list[str]) -> dict[str, float]:
    """Per owner, how much the primary metric degrades on each fold's validation rows when its encoded columns
    are shuffled together (one seeded permutation of the rows per fold), averaged over folds. Positive: the
    input helps on rows the model never saw."""
    sign = -1.0 if lower_is_better(data.primary) else 1.0  # importance = sign * (baseline - shuffled)
    per_fold = []
    for fold, (fit_rows, valid_rows) in enumerate(data.split.folds):
        encode, model, names = _fold_model(data, fit_rows)
        valid = np.asarray(encode.transform(data.X.iloc[valid_rows]), dtype="float64")
        y_valid = data.y[valid_rows]
        baseline = score_outputs(data.primary, y_valid, model_outputs(model, valid, data=data), data=data)
        shuffled_rows = valid[np.random.default_rng(data.seed + fold).permutation(len(valid_rows))]
        columns = {name: positions for name, positions in _columns_of(names, owners).items() if positions}
        degradation = dict.fromkeys(owners, 0.0)
        batch = max(1, BATCH_BYTES // max(valid.nbytes, 1))  # owners whose shuffled copies are predicted at once
        pending = list(columns.items())
        for start in range(0, len(pending), batch):
            chunk = pending[start:start + batch]
            stacked = np.tile(valid, (len(chunk), 1))
            for index, (_, positions) in enumerate(chunk):
                block = slice(index * len(valid), (index + 1) * len(valid))
                stacked[block, positions] = shuffled_rows[:, positions]
            outputs = model_outputs(model, stacked, data=data)
            for index, (name, _) in enumerate(chunk):
                shuffled = score_outputs(data.primary, y_valid, outputs[index * len(valid):(index + 1) * len(valid)],
                                         data=data)
                degradation[name] = sign * (baseline - shuffled)
        per_fold.append(degradation)
    if not per_fold:
        return {}
    return {name: float(np.mean([fold[name] for fold in per_fold])) for name in owners}


def owner_of(encoded: str, owners: list[str]) -> str | None:
    """The input an encoded column comes from: the longest name it equals or extends with a separator
    (`age`, `age_missing`, `sold_month`, `colour=red`, `street~target`)."""
    matches = [name for name in owners
               if encoded == name or any(encoded.startswith(name + sep) for sep in SEPARATORS)]
    return max(matches, key=len, default=None)
