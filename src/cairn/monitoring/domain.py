"""Multivariate drift: can a classifier tell the current rows from the reference rows?

Per-feature tests miss a change in how features go together (large houses on small lots). A domain classifier
sees all of them at once: LightGBM (few trees, one thread) learns to label each row "reference" or "current", and
its out-of-fold AUC says how well it can. 0.5 is a coin toss, no drift; 1.0 means every row gives itself away.
The features with the most split gain are the ones that separate the two. Both sides are read as the model reads
them (categories keyed by the encoder's ``clean_text``), so spelling alone never separates them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cairn.estimators.text_values import factorized
from cairn.model.inputs import FeatureSpec
from cairn.monitoring.reference import feature_values, is_numeric

__all__ = ["DomainDrift", "domain_drift"]

FOLDS = 3
TREES = 40
MIN_ROWS = 30  # per side: fewer and three folds say nothing
NO_DRIFT_AUC = 0.55
STRONG_AUC = 0.7
TOP_SHOWN = 3
MIN_GAIN_SHARE = 0.05


@dataclass(frozen=True)
class DomainDrift:
    """The classifier's out-of-fold AUC, the features that separate the two sides most, and a plain sentence."""

    auc: float
    top: list[tuple[str, float]]  # (feature, share of the split gain), most separating first
    reference_rows: int
    current_rows: int
    sentence: str
    shared_rows: int = 0  # current rows identical to a reference row, left out of the classifier

    @property
    def drifted(self) -> bool:
        return self.auc >= STRONG_AUC

    def to_dict(self) -> dict[str, Any]:
        return {"auc": self.auc, "top": [{"feature": name, "gain_share": share} for name, share in self.top],
                "reference_rows": self.reference_rows, "current_rows": self.current_rows,
                "shared_rows": self.shared_rows, "drifted": self.drifted, "sentence": self.sentence}


def _encoded(reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[FeatureSpec], *, normalize: bool,
             reference_parsed: bool = False) -> np.ndarray:
    """Both sides stacked as one float matrix: numbers as the model parses them, categories as codes of their
    cleaned level over the union of both sides (NaN for missing)."""
    from cairn.estimators.encoder import clean_text, one_spelling

    columns = []
    for feature in features:
        values = np.concatenate([feature_values(reference, feature, parsed=reference_parsed),
                                 feature_values(current, feature)])
        if is_numeric(feature):
            columns.append(values)
            continue
        codes, uniques = factorized(values)
        # a whole number pandas read as a float (a chunk with a gap) is one level, so spelling never tells apart
        keys = [one_spelling(clean_text(value, normalize=normalize)) for value in uniques]
        key_codes = {key: index for index, key in enumerate(dict.fromkeys(k for k in keys if k is not None))}
        lookup = np.array([key_codes.get(key, -1) if key is not None else -1 for key in keys] + [-1], dtype="float64")
        coded = lookup[np.where(codes < 0, len(uniques), codes)]
        coded[coded < 0] = np.nan
        columns.append(coded)
    return np.column_stack(columns) if columns else np.empty((len(reference) + len(current), 0))


def domain_drift(reference: pd.DataFrame, current: pd.DataFrame, *, features: Sequence[FeatureSpec],
                 normalize: bool = True, seed: int = 0, reference_parsed: bool = False) -> DomainDrift | None:
    """Out-of-fold AUC of LightGBM telling ``current`` rows from ``reference`` rows (None when either side has
    fewer than ``MIN_ROWS`` rows, or there is no feature). Callers sample both sides (5,000 rows each: ~1 s)."""
    import lightgbm
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    features = [feature for feature in features if feature.name in reference.columns
                and feature.name in current.columns]
    if min(len(reference), len(current)) < MIN_ROWS or not features:
        return None
    matrix = _encoded(reference, current, features, normalize=normalize, reference_parsed=reference_parsed)
    # a row on both sides (the training file checked against itself) cannot say where it came from, and seen on
    # one side in training and the other in test it votes the wrong way (AUC well below 0.5): left out of current
    hashes = pd.util.hash_pandas_object(pd.DataFrame(matrix), index=False).to_numpy()
    fresh = np.concatenate([np.ones(len(reference), dtype=bool),
                            ~np.isin(hashes[len(reference):], hashes[:len(reference)])])
    shared = int(np.count_nonzero(~fresh))
    if int(np.count_nonzero(fresh)) - len(reference) < MIN_ROWS:
        return DomainDrift(auc=0.5, top=[], reference_rows=len(reference), current_rows=len(current),
                           sentence=f"{shared:,} of the {len(current):,} current rows sampled are training rows: "
                                    "nothing to tell apart, no drift across features.", shared_rows=shared)
    matrix = matrix[fresh]
    label = np.concatenate([np.zeros(len(reference)), np.ones(len(matrix) - len(reference))])
    categorical = [index for index, feature in enumerate(features) if not is_numeric(feature)]
    scores = np.zeros(len(label))
    gain = np.zeros(len(features))
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    for train, test in folds.split(matrix, label):
        classifier = lightgbm.LGBMClassifier(n_estimators=TREES, learning_rate=0.1, num_leaves=15,
                                             min_child_samples=20, subsample=0.8, subsample_freq=1,
                                             colsample_bytree=0.8, n_jobs=1, random_state=seed, verbose=-1)
        classifier.fit(matrix[train], label[train], categorical_feature=categorical or "auto")
        scores[test] = np.asarray(classifier.predict_proba(matrix[test]))[:, 1]
        gain += classifier.booster_.feature_importance(importance_type="gain")
    auc = float(roc_auc_score(label, scores))
    total = float(gain.sum())
    shares = gain / total if total > 0 else gain
    order = np.argsort(-shares, kind="stable")
    top = [(features[i].name, float(shares[i])) for i in order[:TOP_SHOWN] if shares[i] >= MIN_GAIN_SHARE]
    return DomainDrift(auc=auc, top=top, reference_rows=len(reference), current_rows=len(current),
                       sentence=_sentence(auc, top), shared_rows=shared)


def _sentence(auc: float, top: list[tuple[str, float]]) -> str:
    named = ", ".join(f"{name} ({share:.0%} of the gain)" for name, share in top)
    if not math.isfinite(auc) or auc < NO_DRIFT_AUC:
        return (f"A classifier cannot tell the current rows from the training rows (AUC {auc:.2f}, 0.5 is a coin "
                "toss): no drift across features.")
    if auc < STRONG_AUC:
        return (f"A classifier tells the current rows from the training rows a little better than chance (AUC "
                f"{auc:.2f}): a mild shift" + (f", mostly in {named}." if named else "."))
    return (f"A classifier tells the current rows from the training rows (AUC {auc:.2f}): the data has shifted"
            + (f", above all in {named}." if named else "."))
