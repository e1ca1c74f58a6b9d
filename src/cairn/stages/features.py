"""Stage 5, feature engineering: which columns feed the model, how each is encoded, how the target is shaped."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cairn.config.schema import Data, Features, Preprocessing
from cairn.errors import ConfigError
from cairn.model import FeatureSpec
from cairn.stages.business import BusinessCase
from cairn.transformers import TabularEncoder

ID_NAME = re.compile(r"(^|_)(id|uuid|guid|key)$", re.IGNORECASE)


@dataclass(frozen=True)
class FeaturePlan:
    features: list[FeatureSpec]
    dropped: dict[str, str]  # column -> why it is not a feature
    target_transform: str  # none | log
    target_skew: float | None
    impute_numeric: str
    impute_categorical: str
    clip_outliers: float | None  # IQR factor, or None
    max_onehot_levels: int
    notes: list[str] = field(default_factory=list)

    @property
    def numeric(self) -> list[str]:
        return [f.name for f in self.features if f.kind == "number"]

    @property
    def categorical(self) -> list[str]:
        return [f.name for f in self.features if f.kind == "category"]


def plan_features(table: pd.DataFrame, *, case: BusinessCase, spec: Features, data_spec: Data,
                  cleaning: Preprocessing) -> FeaturePlan:
    dropped: dict[str, str] = {case.target: "the target"}
    unknown = [c for c in [*spec.drop, *data_spec.drop_columns] if c not in table.columns]
    if unknown:
        raise ConfigError.single(
            "A column to drop is not in the data.", where="features.drop / data.drop_columns",
            expected="column names of the data", got=", ".join(unknown), fix="check the spelling of the column",
        )
    for name in [*spec.drop, *data_spec.drop_columns]:
        dropped[name] = "dropped in cairn.yaml"
    features: list[FeatureSpec] = []
    rows = len(table)
    for name in table.columns:
        if name in dropped:
            continue
        column = table[name]
        distinct = column.nunique(dropna=True)
        if distinct <= 1:
            dropped[name] = "constant"
            continue
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        if rows >= 50 and distinct == rows and (not numeric or ID_NAME.search(str(name))
                                                or _is_sequence(column)):
            dropped[name] = "an identifier (unique per row)"
            continue
        if numeric:
            example = column.dropna().median()
            features.append(FeatureSpec(str(name), "number", float(example)))
        else:
            counts = column.astype("string").value_counts()
            levels = tuple(str(level) for level in counts.index[:200])
            features.append(FeatureSpec(str(name), "category", levels[0], levels))
    target_transform, skew = _target_transform(table[case.target], case=case, spec=spec)
    notes = [f"{sum(f.kind == 'number' for f in features)} numeric and "
             f"{sum(f.kind == 'category' for f in features)} categorical features"]
    notes += [f"left out {name}: {why}" for name, why in dropped.items() if name != case.target]
    if target_transform == "log":
        notes.append(f"log-transformed the target (skewness {skew:.2f}); predictions are transformed back")
    clip = cleaning.outliers.factor if cleaning.outliers.method == "iqr" and cleaning.outliers.action == "clip" else None
    return FeaturePlan(features=features, dropped=dropped, target_transform=target_transform, target_skew=skew,
                       impute_numeric=cleaning.impute_numeric, impute_categorical=cleaning.impute_categorical,
                       clip_outliers=clip, max_onehot_levels=spec.max_onehot_levels, notes=notes)


def _is_sequence(column: pd.Series) -> bool:
    values = column.dropna()
    return bool(pd.api.types.is_integer_dtype(values) and (values.diff().dropna() == 1).mean() > 0.95)


def _target_transform(target: pd.Series, *, case: BusinessCase, spec: Features) -> tuple[str, float | None]:
    if case.problem != "regression":
        return "none", None
    values = pd.to_numeric(target, errors="coerce").dropna()
    skew = float(values.skew())
    if spec.target_transform == "log":
        if (values <= -1).any():
            raise ConfigError.single(
                "The target cannot be log-transformed.", where="features.target_transform",
                expected="a target above -1 for log", got=f"minimum {values.min():g}", fix="use none or auto",
            )
        return "log", skew
    if spec.target_transform == "auto" and (values > 0).all() and skew > 0.75:
        return "log", skew
    return "none", skew


def build_encoder(plan: FeaturePlan, *, scale: bool, one_hot: bool) -> TabularEncoder:
    """Numbers: impute (with missing flags), clip, maybe scale; categories: clean, group rare levels, encode."""
    return TabularEncoder(tuple(plan.numeric), tuple(plan.categorical), impute=plan.impute_numeric,
                          missing_level=plan.impute_categorical == "missing_level", clip_iqr=plan.clip_outliers,
                          scale=scale, one_hot=one_hot, max_levels=plan.max_onehot_levels)


def log1p_target(values: np.ndarray) -> np.ndarray:
    return np.log1p(values)


def expm1_target(values: np.ndarray) -> np.ndarray:
    return np.expm1(values)
