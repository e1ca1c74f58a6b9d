"""Stage 5, feature engineering: which columns feed the model, how each is encoded, how the target is shaped."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from cairn.config.schema import Data, Features, Preprocessing
from cairn.errors import ConfigError
from cairn.estimators.encoder import LEVEL_SLOPES, DerivedColumns, TabularEncoder
from cairn.expr import parse
from cairn.model.trained import FeatureSpec
from cairn.stages.business import BusinessCase

# Metrics a model fitted on log(target) serves well: relative errors, and the absolute error (the back-transformed
# log model predicts about the median). RMSE and R² reward the mean, which the back-transform underestimates.
LOG_FRIENDLY_METRICS = frozenset({"mape", "rmsle", "mae"})
LEFT_OUT = {"id": "an identifier (unique per row)", "empty": "empty", "text": "free text (many unique values)"}


@dataclass(frozen=True)
class FeaturePlan:
    features: list[FeatureSpec]
    dropped: dict[str, str]  # column -> why it is not a feature
    target_transform: str  # none | log
    target_skew: float | None
    cleaning: Preprocessing  # imputation, spelling and outlier settings the encoder applies
    derived: dict[str, str]  # name -> expression, computed inside the pipeline from the inputs
    max_onehot_levels: int
    notes: list[str] = field(default_factory=list)
    power_transform: str = "auto"  # auto: Yeo-Johnson for skewed numbers in models that scale
    bins: dict[str, int] = field(default_factory=dict)  # numeric column -> quantile bins (one-hot models)

    @property
    def numeric(self) -> list[str]:
        """Numbers the encoder sees: numeric inputs, then derived columns."""
        return [f.name for f in self.features if f.kind == "number" and f.parse != "date"] + list(self.derived)

    @property
    def dates(self) -> list[str]:
        return [f.name for f in self.features if f.parse == "date"]

    @property
    def categorical(self) -> list[str]:
        return [f.name for f in self.features if f.kind == "category" and f.parse != "text"]

    @property
    def texts(self) -> list[str]:
        """Free-text columns: the encoder turns each into counts of characters, words and digits."""
        return [f.name for f in self.features if f.parse == "text"]


def plan_features(table: pd.DataFrame, *, case: BusinessCase, spec: Features, data_spec: Data,
                  cleaning: Preprocessing, column_types: dict[str, str]) -> FeaturePlan:
    """One FeatureSpec per usable column, typed by the data stage's inference (which `data.types` overrides)."""
    dropped: dict[str, str] = {case.target: "the target"}
    named = [*spec.drop, *data_spec.drop_columns, *cleaning.missing.columns]
    unknown = [c for c in named if c not in table.columns]
    if unknown:
        raise ConfigError.single(
            "A column named in cairn.yaml is not in the data.",
            where="features.drop / data.drop_columns / preprocessing.missing.columns",
            expected="column names of the data", got=", ".join(unknown), fix="check the spelling of the column",
        )
    for name in [*spec.drop, *data_spec.drop_columns]:
        dropped[name] = "dropped in cairn.yaml"
    features: list[FeatureSpec] = []
    for name in table.columns:
        if name in dropped:
            continue
        column = table[name]
        kind = column_types.get(str(name)) or _kind_from_dtype(column)
        if kind == "text" and spec.text == "counts" and column.notna().any():
            features.append(FeatureSpec(str(name), "category", parse="text"))  # no example: text may be personal
        elif kind in LEFT_OUT:
            dropped[name] = LEFT_OUT[kind]
        elif column.nunique(dropna=True) <= 1:
            dropped[name] = "constant"
        elif kind in {"number", "date"}:
            features.append(_number_feature(str(name), column, kind))
        else:
            counts = column.astype("string").value_counts()
            levels = tuple(str(level) for level in counts.index[:200])
            features.append(FeatureSpec(str(name), "category", levels[0], levels))
    _check_derived(spec.derive, features=features, dropped=dropped, table=table)
    _check_bins(spec.bins, features=features, derived=spec.derive)
    target_transform, skew = _target_transform(table[case.target], case=case, spec=spec)
    texts = [f for f in features if f.parse == "text"]
    notes = [f"{len(_of(features, 'number')) - len(_dates(features))} numeric, {len(_dates(features))} date, "
             f"{len(_of(features, 'category')) - len(texts)} categorical and {len(texts)} text features"]
    notes += [f"{f.name}: free text, counted (characters, words, digits)" for f in texts]
    notes += [f"left out {name}: {why}" for name, why in dropped.items() if name != case.target]
    notes += [f"{f.name}: numbers written as text, parsed" for f in features if f.parse == "text_number"]
    notes += [f"derived {name} = {text}" for name, text in spec.derive.items()]
    if target_transform == "log":
        notes.append(f"log-transformed the target (skewness {skew:.2f}); predictions are transformed back")
    elif spec.target_transform == "auto" and skew is not None and skew > 0.75:
        notes.append(f"target skewed ({skew:.2f}) but not log-transformed: {case.primary_metric} rewards the mean, "
                     f"which a log model underestimates (features.target_transform: log forces it)")
    return FeaturePlan(features=features, dropped=dropped, target_transform=target_transform, target_skew=skew,
                       cleaning=cleaning, derived=dict(spec.derive), max_onehot_levels=spec.max_onehot_levels,
                       notes=notes, power_transform=spec.power_transform, bins=dict(spec.bins))


def _check_derived(derive: dict[str, str], *, features: list[FeatureSpec], dropped: dict[str, str],
                   table: pd.DataFrame) -> None:
    """Parse every expression now, so a typo fails the features stage with its position, not a later fit."""
    inputs = [f.name for f in features]
    for name, text in derive.items():
        if name in table.columns:
            raise ConfigError.single(
                f"The derived feature '{name}' has the name of a column of the data.",
                where=f"features.derive.{name}", expected="a new column name", got=f"'{name}'",
                fix="rename the derived feature",
            )
        expression = parse(name, text, known_columns=inputs + [c for c in table.columns if c not in dropped])
        left_out = [column for column in expression.columns if column not in inputs]
        if left_out:
            raise ConfigError.single(
                f"The derived feature '{name}' reads a column that is not a feature.",
                where=f"features.derive.{name}", expected="columns used as features",
                got=", ".join(f"{c} ({dropped.get(c, 'left out')})" for c in left_out),
                fix="derive from feature columns, or set the column's type in data.types",
            )


def _check_bins(bins: dict[str, int], *, features: list[FeatureSpec], derived: dict[str, str]) -> None:
    numeric = [f.name for f in features if f.kind == "number" and f.parse != "date"] + list(derived)
    for name in bins:
        if name not in numeric:
            raise ConfigError.single(
                f"features.bins names '{name}', which is not a numeric feature.", where=f"features.bins.{name}",
                expected="a numeric feature column or a derived feature", got=f"'{name}'",
                fix="bin a numeric column, or set its type in data.types",
            )


def _number_feature(name: str, column: pd.Series, kind: str) -> FeatureSpec:
    if kind == "date":
        return FeatureSpec(name, "number", str(column.dropna().iloc[0]), parse="date")
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return FeatureSpec(name, "number", float(column.dropna().median()))
    return FeatureSpec(name, "number", str(column.dropna().iloc[0]), parse="text_number")


def _kind_from_dtype(column: pd.Series) -> str:
    if pd.api.types.is_datetime64_any_dtype(column):
        return "date"
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return "number"
    return "category"


def _of(features: list[FeatureSpec], kind: str) -> list[FeatureSpec]:
    return [f for f in features if f.kind == kind]


def _dates(features: list[FeatureSpec]) -> list[FeatureSpec]:
    return [f for f in features if f.parse == "date"]


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
    if (spec.target_transform == "auto" and (values > 0).all() and skew > 0.75
            and case.primary_metric in LOG_FRIENDLY_METRICS):
        return "log", skew
    return "none", skew


def build_encoder(plan: FeaturePlan, *, scale: bool, one_hot: bool, target_means: bool = True) -> TabularEncoder:
    """Numbers: impute (with missing flags), clip, maybe reshape, bin and scale; dates: parts; text: counts;
    categories: clean, group, encode. Reshaping and bins serve models that scale (linear, kNN): trees cut
    numbers wherever they like."""
    cleaning = plan.cleaning
    outliers = cleaning.outliers
    clip = outliers.method if outliers.method != "none" and outliers.action == "clip" else None
    return TabularEncoder(
        tuple(plan.numeric), tuple(plan.categorical), tuple(plan.dates), tuple(plan.texts),
        power=scale and plan.power_transform == "auto", bins=tuple(plan.bins.items()) if one_hot else (),
        impute=cleaning.missing.numeric,
        fill_value=cleaning.missing.fill_value, missing_level=cleaning.missing.categorical == "missing_level",
        column_impute=tuple(sorted(cleaning.missing.columns.items())), normalize=cleaning.normalize_categories,
        clip=clip, clip_factor=outliers.factor, scale=scale, one_hot=one_hot, max_levels=plan.max_onehot_levels,
        target_means=target_means, slopes=LEVEL_SLOPES if one_hot and not target_means else 0.0,
    )


def build_deriver(plan: FeaturePlan) -> DerivedColumns | None:
    if not plan.derived:
        return None
    return DerivedColumns(tuple(plan.derived.items()), tuple(f.name for f in plan.features))

