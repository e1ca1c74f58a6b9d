"""The project file, `cairn.yaml`, as pydantic models: one section per stage.

Every model is frozen and forbids unknown keys, so a typo is an error that names the key instead of a setting
that silently does nothing. Only `business.problem`, `business.target` and `data.source` have no default.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cairn.algorithms.names import ALGORITHM_NAMES, NATIVE_CATEGORY_NAMES, SEED_VARIED_NAMES
from cairn.metrics.catalogue import (
    DEFAULT_METRIC,
    METRIC_NAMES,
    criterion_text,
    lower_is_better,
    metric,
    metrics_of,
)
from cairn.thresholds import ALMOST_CONSTANT_SHARE, MOSTLY_MISSING_SHARE, RARE_CLASS_SHARE

Problem = Literal["regression", "binary", "multiclass"]
# Names come from the catalogues, never retyped: a metric, an algorithm or a stage added there is accepted here.
MetricName = Literal[METRIC_NAMES]  # type: ignore[valid-type]
CandidateName = Literal[ALGORITHM_NAMES]  # type: ignore[valid-type]
NativeCategoryName = Literal[NATIVE_CATEGORY_NAMES]  # type: ignore[valid-type]
# a blend member refit_seeds may name: a booster whose fit varies with its seed, or its trial (`lightgbm#2`)
SEED_VARIED_MEMBER = f"^({'|'.join(SEED_VARIED_NAMES)})(#[1-9][0-9]*)?$"
FinalModelName = Literal[(*ALGORITHM_NAMES, "ensemble")]  # type: ignore[valid-type]



def _percent(value: Any) -> Any:
    """Accept `10%` as 0.10: thresholds are written the way the business states them."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*%\s*", value)
        if match:
            return float(match.group(1)) / 100
    return value


Threshold = Annotated[float, BeforeValidator(_percent)]


RULE_AT = "\x1f"  # between a rule's message and the place inside its section: no character a user types


def rule(expected: str, fix: str, *, at: tuple[str | int, ...] = ()) -> ValueError:
    """A cross-field rule broken; the loader splits it back into 'expected' and 'fix', and places it `at` the
    setting inside the section that broke it (a model's validator is otherwise placed at the whole section)."""
    return ValueError(f"{expected}||{fix}" + (RULE_AT + "/".join(str(part) for part in at) if at else ""))


def _expression_parses(text: str) -> str:
    """Syntax and function names are checked with the project file; column names once the data is read."""
    from cairn.errors import ConfigError
    from cairn.expr import parse

    try:
        parse("expression", text, known_columns=None)
    except ConfigError as error:
        problem = error.problems[0]
        raise rule(f"{problem.expected} ({problem.got})", problem.fix or "") from None
    return text


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SuccessCriterion(Section):
    """One measurable condition that must hold on the holdout set for the model to ship."""

    metric: MetricName
    below: Threshold | None = Field(None, description="Met when the metric is strictly below this value.")
    above: Threshold | None = Field(None, description="Met when the metric is strictly above this value.")

    @model_validator(mode="before")
    @classmethod
    def _percent_as_a_fraction(cls, data: Any) -> Any:
        """MAPE is a fraction: `below: 20` would read as 2000% and always be met. Written `20%`, it is 0.20."""
        if isinstance(data, dict) and isinstance(data.get("metric"), str):
            known = metric(data["metric"])
            for side in ("below", "above"):
                value = data.get(side)
                if isinstance(value, bool):  # YAML's yes, true, on
                    raise rule(f"a number or a percentage such as 0.2 or 20%, not {str(value).lower()}",
                               f"write {side}: 0.2, or the threshold the business states", at=(side,))
                if known is not None and known.percent and isinstance(value, int | float) and value > 1:
                    raise rule(f"{known.label} as a fraction (0.20 for 20%), not {value:g}, which reads as "
                               f"{value * 100:g}%", f"write {side}: {value / 100:g} or {side}: {value:g}% (or "
                               f"{value * 100:g}% if you mean it)", at=(side,))
        return data

    @model_validator(mode="after")
    def _one_bound(self) -> SuccessCriterion:
        if (self.below is None) == (self.above is None):
            raise rule("exactly one of 'below' or 'above'", "write e.g. {metric: mape, below: 0.10}")
        if lower_is_better(self.metric) and self.above is not None:
            raise rule(f"'below' for {self.metric} (an error: lower is better)", "use 'below' instead of 'above'")
        if not lower_is_better(self.metric) and self.below is not None:
            raise rule(f"'above' for {self.metric} (a score: higher is better)", "use 'above' instead of 'below'")
        self._attainable()
        return self

    def _attainable(self) -> None:
        """A threshold the metric can never pass (ROC AUC above 7, MAPE below 0) or always passes is a mistake,
        said before a run spends its budget on it."""
        known = metric(self.metric)
        if known is None:
            return
        side, value = ("below", self.below) if self.below is not None else ("above", self.above)
        assert value is not None
        span = (f"at most {known.highest:g}" if known.lowest == -math.inf else f"{known.lowest:g} or more"
                if known.highest == math.inf else f"between {known.lowest:g} and {known.highest:g}")
        never = value <= known.lowest if side == "below" else value >= known.highest
        always = value > known.highest if side == "below" else value < known.lowest
        if not (never or always):
            return
        scale = (f"; for {value:g}%, write {side}: {value / 100:g}" if side == "above" and known.highest == 1
                 and value == int(value) and 1 < value < 100 else "")
        raise rule(f"a threshold inside the values {known.label} takes ({span}): {side} {value:g} would "
                   f"{'never' if never else 'always'} be met",
                   f"set {side} to a value in that range{scale}", at=(side,))

    @property
    def threshold(self) -> float:
        return self.below if self.below is not None else self.above  # type: ignore[return-value]

    def text(self) -> str:
        """As the business states it: 'MAPE < 10%'."""
        return criterion_text(self.metric, below=self.below is not None, threshold=self.threshold)

    def is_met(self, value: float) -> bool:
        return value < self.below if self.below is not None else value > self.above  # type: ignore[operator]


class Constraints(Section):
    predict_p99_ms: float | None = Field(None, gt=0, description="One-row prediction latency, 99th percentile.")
    train_budget_minutes: float | None = Field(None, gt=0, description="Wall time allowed for training.")


class Cost(Section):
    """What each kind of wrong answer costs, in any one unit: the decision threshold is set where their sum over
    the out-of-fold predictions is least."""

    false_positive: float = Field(ge=0, description="Cost of calling a negative row positive.")
    false_negative: float = Field(ge=0, description="Cost of missing a positive row.")

    @model_validator(mode="after")
    def _some_cost(self) -> Cost:
        if self.false_positive + self.false_negative <= 0:
            raise rule("a cost above zero for at least one kind of error", "write e.g. {false_positive: 1, "
                       "false_negative: 5}")
        return self


class Business(Section):
    """Stage 1: what the model is for and what makes it good enough to ship."""

    problem: Problem
    target: str = Field(min_length=1)
    objective: str = ""
    success: list[SuccessCriterion] = Field(default_factory=list)
    constraints: Constraints = Constraints()
    positive_class: bool | int | str | None = Field(
        None, description="Binary: the class every binary metric, plot, explanation and threshold is about (the "
        "one to find: churn, fraud, 'bad' credit). Default: the minority class of the training rows. YAML reads "
        "an unquoted yes/no as true/false: either matches a yes/no, true/false or 1/0 label.")
    cost: Cost | None = Field(
        None, description="Binary: the costs of a false positive and a false negative; the decision threshold "
        "then minimises their sum on out-of-fold predictions.")

    @field_validator("positive_class", "cost")
    @classmethod
    def _binary_only(cls, value: Any, info: ValidationInfo) -> Any:
        problem = info.data.get("problem")
        if value is not None and problem is not None and problem != "binary":
            raise rule(f"no {info.field_name} for a {problem} problem (it is about a binary decision)",
                       f"remove business.{info.field_name}, or set business.problem: binary")
        return value

    @model_validator(mode="after")
    def _metrics_fit_problem(self) -> Business:
        allowed = metrics_of(self.problem)
        for index, criterion in enumerate(self.success):
            if criterion.metric not in allowed:
                raise rule(
                    f"a {self.problem} metric, not '{criterion.metric}'",
                    f"use one of {', '.join(sorted(allowed))}", at=("success", index, "metric"),
                )
        return self

    @property
    def primary_metric(self) -> str:
        """The metric the objective names first is the one cairn optimises and reports first."""
        return self.success[0].metric if self.success else DEFAULT_METRIC[self.problem]


class SqlSource(Section):
    """A query over a SQLAlchemy URL. Credentials live in the environment variable named by url_env."""

    sql: str = Field(min_length=1)
    url: str | None = Field(None, description="SQLAlchemy URL without a password.")
    url_env: str | None = Field(None, description="Environment variable holding the URL (with credentials).")

    @model_validator(mode="after")
    def _one_url(self) -> SqlSource:
        if (self.url is None) == (self.url_env is None):
            raise rule("exactly one of 'url' or 'url_env'",
                       "put credentials in an environment variable named by url_env")
        return self


class DuckDBSource(Section):
    """A DuckDB query over files, e.g. `select * from 'data/*.parquet' where year > 2008`; runs out of core."""

    duckdb: str = Field(min_length=1)


class ColumnRule(Section):
    """Plausible range of one column; values outside are a quality finding."""

    min: float | None = None
    max: float | None = None
    not_future: bool = Field(False, description="For dates: a value after today is an error.")


Severity = Literal["error", "warn"]


def _errors_only() -> list[Severity]:
    return ["error"]


class Quality(Section):
    """Thresholds of the quality checks and which severities stop the run."""

    fail_on: list[Severity] = Field(default_factory=_errors_only)
    missing_warn: float = Field(MOSTLY_MISSING_SHARE, ge=0, le=1,
                                description="A column missing more than this share: warn.")
    row_missing_warn: float = Field(0.5, ge=0, le=1, description="A row missing more than this share: warn.")
    near_constant: float = Field(ALMOST_CONSTANT_SHARE, gt=0.5, le=1,
                                 description="One value in this share of rows: warn.")
    leakage_score: float = Field(0.98, gt=0.5, le=1,
                                 description="A single feature predicting the target this well (R2 or AUC): a warning; "
                                             "an error when it is almost exact.")
    imbalance_warn: float = Field(RARE_CLASS_SHARE, gt=0, lt=0.5, description="Smallest class below this share: warn.")
    outlier_z: float = Field(5.0, gt=0, description="Robust z-score (median/MAD) above this: outlier.")
    outlier_iqr: float = Field(3.0, gt=0, description="Beyond Q1/Q3 -/+ this many IQRs: outlier.")
    rules: dict[str, ColumnRule] = Field(default_factory=dict, description="Plausible ranges per column.")


class Privacy(Section):
    """PII found by column name and content; handled before anything is stored or shown."""

    pii: Literal["fail", "drop", "hash", "mask"] = Field(
        "drop", description="For the model: stop the run, drop the column, salted hash, or masked text.")
    salt_env: str | None = Field(None, description="Environment variable with the salt for pii: hash.")
    not_pii: list[str] = Field(default_factory=list, description="Columns to leave alone despite their look.")

    @model_validator(mode="after")
    def _salt_for_hash(self) -> Privacy:
        if self.pii == "hash" and not self.salt_env:
            raise rule("salt_env with pii: hash", "name an environment variable holding a secret salt")
        return self


class Data(Section):
    """Stage 2: where the data comes from, how good it is, and how personal data is handled."""

    source: str | list[str] | SqlSource | DuckDBSource = Field(
        description="A file or glob (CSV, TSV, Parquet, JSON lines, Excel), a list of them, {sql, url_env} or "
        "{duckdb: query}.")
    encoding: str = Field("utf-8", description="Text encoding of CSV/TSV/JSON files.")
    sample_rows: int | None = Field(
        None, gt=0, description="Train on a random sample of this many rows (drawn by DuckDB, out of core).")
    types: dict[str, Literal["number", "category", "date", "boolean", "id", "text"]] = Field(
        default_factory=dict, description="Override the inferred type of a column.")
    drop_columns: list[str] = Field(default_factory=list, description="Columns never used as features.")
    quality: Quality = Quality()
    privacy: Privacy = Privacy()


class Outliers(Section):
    method: Literal["none", "iqr", "zscore"] = "none"
    action: Literal["clip", "drop", "keep"] = Field(
        "clip", description="clip at serving and training; drop removes rows in training only; keep flags only.")
    factor: float = Field(3.0, gt=0, description="IQR multiple (iqr) or robust z-score (zscore) of the fences.")


ImputeStrategy = Literal["median", "mean", "mode", "constant", "indicator", "drop_rows"]


class Missing(Section):
    """How missing values are filled: by type, with per-column exceptions."""

    numeric: Literal["median", "mean", "constant"] = "median"
    categorical: Literal["mode", "missing_level"] = "missing_level"
    columns: dict[str, ImputeStrategy] = Field(default_factory=dict)
    fill_value: float = Field(0.0, description="The value for strategy 'constant' on numbers.")


class Preprocessing(Section):
    """Stage 3: cleaning. Row drops happen in training only; everything a record needs is in the served pipeline."""

    duplicates: Literal["auto", "drop", "keep"] = Field(
        "auto", description="Exact duplicate rows. auto: dropped as double-loaded records, unless so few values per "
        "column make chance repeats expected (survey-like data), then kept as distinct records; drop; keep.")
    missing_target: Literal["drop", "fail"] = "drop"
    max_missing_target: float = Field(0.2, ge=0, le=1, description="Above this share of missing targets, fail.")
    missing: Missing = Missing()
    normalize_categories: bool = Field(True, description="Trim, unify case and missing markers of categories.")
    text_numbers: bool = Field(True, description="Read '1,250' or '$3.4k' in a number-like column as numbers.")
    outliers: Outliers = Outliers()


class Exploration(Section):
    """Stage 4: the EDA report."""

    enabled: bool = True
    sample_rows: int = Field(200_000, gt=0)


class FeatureSelection(Section):
    """Optional selection of inputs by the importance a LightGBM fitted on each CV fold gives them."""

    method: Literal["none", "permutation", "gain"] = Field(
        "none", description="permutation: the drop in the primary metric when an input's encoded columns are "
        "shuffled on each fold's validation rows (truly out of fold: the model never saw those rows). gain: "
        "LightGBM split gain on each fold's fitting rows (fast, biased towards many-valued noise).")
    min_share: float = Field(0.002, ge=0, lt=0.5, description="An input whose share of the total positive "
                             "importance is below this, or whose importance is not above zero, is dropped.")
    max_features: int | None = Field(None, ge=1, description="Keep at most this many inputs, the most important.")


class Features(Section):
    """Stage 5: how columns become model inputs."""

    derive: dict[str, Annotated[str, AfterValidator(_expression_parses)]] = Field(
        default_factory=dict, description="New columns from expressions, e.g. House_Age: 'Year_Sold - Year_Built'. "
        "Numbers, columns, + - * / % **, comparisons, and/or/not, log log1p exp sqrt abs round floor ceil isnull "
        "min max clip if year month day weekday. Parsed, never evaluated as code.")
    target_transform: Literal["auto", "none", "log"] = Field(
        "auto", description="auto: log for a positive, right-skewed target (skewness above 0.75) when the primary "
        "metric is mape, rmsle or mae; rmse and r2 reward the mean, which a back-transformed log model "
        "underestimates.")

    max_onehot_levels: int = Field(
        30, ge=2, description="Categories with at most this many frequent levels are one-hot encoded for linear "
        "and kNN models and coded natively for trees; with more, each becomes its smoothed target mean, fitted "
        "out of fold so no row sees its own target.")
    power_transform: Literal["auto", "none"] = Field(
        "auto", description="auto: Yeo-Johnson for skewed numbers (|skewness| above 1) in models that scale their "
        "inputs (linear, kNN); trees do not need it.")
    bins: dict[str, Annotated[int, Field(ge=2, le=100)]] = Field(
        default_factory=dict, description="Quantile bins for numeric columns, e.g. Year_Built: 10: one-hot bins "
        "beside the number for linear and kNN models (trees find their own cut points).")
    text: Literal["counts", "drop"] = Field(
        "counts", description="Free-text columns: counts (characters, words, digits) as numeric features, or drop.")
    select: FeatureSelection = FeatureSelection()
    drop: list[str] = Field(default_factory=list)


class Models(Section):
    """Stage 6: which algorithms compete, with optional pinned parameters."""

    candidates: list[CandidateName] | None = Field(
        None, min_length=1, description="Default: linear, lightgbm, catboost, extra_trees, knn under 5,000 "
        "rows, and sparse_linear (a ridge on every level of every category) when a category has more levels than "
        "features.max_onehot_levels; the budget drops those that cannot finish. xgboost, random_forest and "
        "hist_gradient_boosting when named (xgboost: pip install 'cairn[boosters]').")
    params: dict[CandidateName, dict[str, Any]] = Field(default_factory=dict)
    native_categories: bool | Literal["auto"] | list[NativeCategoryName] = Field(
        "auto", description="true: LightGBM splits category codes as categories (any subset of levels) and "
        "CatBoost learns them as categories (ordered target statistics) instead of as ordered numbers, both "
        "getting every level's code, many-level categories included. auto: both do, and only when a category has "
        "more levels than features.max_onehot_levels, so that their own statistics compete with the out-of-fold "
        "target means the other families get for such columns. false: neither. A list: the families named (the "
        "setting a replay of auto takes when the budget switched one of them to target means). Not always on: "
        "on Ames (no category over 30 levels) it cost LightGBM 0.2-0.3 points of CV MAPE (8.73% against 8.56% "
        "untuned, 8.43% tuned) and CatBoost 0.2 (9.30% against 9.11%, 8x the fit time); on mlc_churn CatBoost's "
        "CV AUC rose 0.9218 -> 0.9240 for 1.7x the time.")

    @field_validator("native_categories", mode="before")
    @classmethod
    def _native_families(cls, value: Any) -> Any:
        """A list is checked here, as one error naming the field, and kept in the catalogue's order without
        repeats: the same families are the same setting (and the same cache key) in any order."""
        if not isinstance(value, list):
            return value
        unable = [name for name in value if name not in NATIVE_CATEGORY_NAMES]
        if unable:
            raise rule(f"true, false, auto or a list of {' and '.join(NATIVE_CATEGORY_NAMES)} (the families that "
                       f"can learn categories natively), not {unable[0]!r}",
                       f"remove {unable[0]!r} from models.native_categories")
        return [name for name in NATIVE_CATEGORY_NAMES if name in value]


class Tuning(Section):
    """Hyperparameter search (Optuna TPE with pruning) inside the training budget."""

    enabled: bool = True
    trials: int | None = Field(None, ge=1, description="At most this many trials; the budget decides how many fit.")
    plan: dict[CandidateName, Annotated[int, Field(ge=1)]] | None = Field(
        None, description="Trials per candidate, as recorded in a run's manifest: replays that run's search "
        "exactly, whatever the machine's speed.")


class Training(Section):
    """Stage 7: splits, cross-validation, tuning and ensembling."""

    holdout: float = Field(0.2, gt=0, lt=0.9)
    cv: int = Field(5, ge=2, le=20)
    split: Literal["auto", "random", "stratified", "group", "time"] = Field(
        "auto", description="auto: stratified for classification, group when group_by is set, time when "
        "time_column is set, else random.")
    group_by: str | None = Field(None, description="Rows of one group never straddle train and validation.")
    time_column: str | None = Field(None, description="Train on the past, validate and hold out the future.")
    validation: Literal["auto", "cv", "one_fold"] = Field(
        "auto", description="How the search scores a candidate: cv fits every one of the training.cv folds; "
        "one_fold only the first (a time split's latest), at a k-th of the cost, so the same budget tries it on k "
        "times the rows or parameters; auto: one_fold when a fold of the rows to search (training.search_rows "
        "included) validates 1,000 rows or more (5,000 rows at 5 folds) and 200 of every class, cv otherwise.")
    budget_minutes: float | None = Field(
        None, gt=0, description="Wall time for the whole stage when business.constraints.train_budget_minutes "
        "is not set.")
    search_rows: int | None = Field(
        50_000, ge=1_000, description="Cross-validation and tuning use at most this many training rows, drawn at "
        "random; the chosen model is then fitted on every training row. Past a few tens of thousands of rows, "
        "more rows change the ranking of candidates little and multiply the cost of each trial. null: all rows.")
    final_fit: Literal["all_rows", "searched_rows"] | Annotated[int, Field(ge=1_000)] = Field(
        "all_rows", description="The rows the model the holdout judges is fitted on: every training row, only "
        "those the search cross-validated, or a number of training rows (the searched ones and more, drawn at "
        "random). When a fit on every row would not finish in time, the budget fits on as many as the time left "
        "affords, and says how many; set that number to replay such a run.")
    final_rate_boost: Literal["auto"] | Annotated[int, Field(ge=1, le=8)] = Field(
        "auto", description="The learning rate of the judged model's boosters in the final fit against the one the "
        "search validated, with as many times fewer trees (LightGBM, XGBoost, CatBoost, histogram boosting whose "
        "trees early stopping chose; a runner-up refit for the holdout keeps its own). auto: 1, unless the budget "
        "confines the final fit to part of the rows and a rate 2 or 4 times as large affords at least twice the "
        "rows (on 209,500 flights at one minute, LightGBM fitted on every row at 4 times its rate of 0.03 scored a "
        "test RMSE of 3.70, against 5.86 on the 48,000 rows the validated rate afforded). A run that raised it says "
        "so; set that number to replay it.")
    refit_seeds: Literal["auto"] | Annotated[int, Field(ge=1, le=10)] | Annotated[dict[
            Annotated[str, StringConstraints(pattern=SEED_VARIED_MEMBER)], Annotated[int, Field(ge=1, le=10)]],
            Field(json_schema_extra={"additionalProperties": False, "minProperties": 1})] = Field(
        "auto", description="How many times each booster of the chosen model (LightGBM, XGBoost, CatBoost: they "
        "sample rows and columns as they fit) is fitted, each with its own seed, its predictions averaged: less "
        "variance, for that many fits and a slower prediction. auto: as many as the time the search left unused "
        "affords, up to 5, while the one-row prediction stays within 3x the model's without copies (or within half "
        "of business.constraints.predict_p99_ms when set); the boosters whose fits the time left affords when it "
        "does not afford them all; 1 when the budget confined the final fit or a recorded plan is replayed. A "
        "number fits each booster that many times, a mapping of blend members to numbers ({lightgbm: 3}) those "
        "members that many times and the others once, and the search leaves time for them. A run that fitted "
        "copies says how many; set that to replay it.")

    @field_validator("refit_seeds", "final_rate_boost", mode="before")
    @classmethod
    def _auto_or_count(cls, value: Any, info: ValidationInfo) -> Any:
        """One error naming the field, not one per member of the union (the word auto, a bounded whole number;
        for refit_seeds also a mapping of blend members, as a run's notes name them, to such numbers)."""
        field = str(info.field_name)
        most = {"refit_seeds": 10, "final_rate_boost": 8}[field]

        def count(number: Any) -> bool:
            return isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= most

        if value == "auto" or count(value):
            return value
        if field == "refit_seeds" and isinstance(value, dict) and value:
            # every unknown member and every bad count of a known one in one error, placed at the first of them
            unknown = [m for m in value if not (isinstance(m, str) and re.fullmatch(SEED_VARIED_MEMBER, m))]
            miscounted = {member: number for member, number in value.items()
                          if member not in unknown and not count(number)}
            wrong, fixes = [], []
            if unknown:
                wrong.append(f"boosters whose fit varies with their seed, as a run's notes name them "
                             f"({', '.join(SEED_VARIED_NAMES)}, or a family's trial such as lightgbm#2), not "
                             f"{' or '.join(repr(m) for m in unknown)}")
                fixes.append("name the members as a run's notes give them")
            if miscounted:
                wrong.append(f"a whole number of fits from 1 to {most}, not "
                             f"{', '.join(f'{number!r} for {member}' for member, number in miscounted.items())}")
                fixes.append("set the number a run's notes give")
            if wrong:
                raise rule("; and ".join(wrong), ", and ".join(fixes), at=((unknown or list(miscounted))[0],))
            return value
        also = ", or a mapping of blend members to such numbers" if field == "refit_seeds" else ""
        raise rule(f"auto or a whole number from 1 to {most}{also}, not {value!r}",
                   f"set training.{field}: auto, or what a run's notes give")
    final_model: FinalModelName | None = Field(
        None, description="The model the holdout judges and deployment serves, among those the search scored. "
        "null: the best validated one, unless the budget confines the final fit and a cheaper model's learning "
        "curve predicts it does better on the many more rows it affords; set the name a run chose to replay it.")
    tuning: Tuning = Tuning()
    early_stopping: bool = Field(True, description="Boosted trees stop adding trees when validation stalls.")
    ensemble: bool = Field(True, description="Greedy ensemble of the best models when it beats the best one.")
    blend_trials: int = Field(
        3, ge=1, le=10, description="How many of each family's best trials the ensemble may draw on: two trials "
        "of one family err on different rows too, and the search already paid for their cross-validation; their "
        "fits use only the time the search left. 1: each family's best trial alone, as whenever the final fit is "
        "confined to fewer rows. A blend whose fit with more would not end within the budget draws on the best "
        "alone, and the run says so; set 1 to replay it.")
    n_jobs: int = Field(1, ge=1, description="Threads per model fit; set, never left to library defaults. "
                        "One is fastest on small data and shared cores (OpenMP threads spin on a busy machine).")
    parallel_folds: int = Field(
        1, ge=1, le=16, description="Cross-validation folds fitted side by side, each with n_jobs threads: 2 on "
        "a 2-core machine roughly halves the search's wall time when a fold takes a second or more. Scores and "
        "the model are the same as one fold at a time; only the plan's trial count follows the faster clock. On "
        "one validation fold (training.validation) a trial has a single fold: set validation: cv to use them.")
    rare_classes: Literal["drop", "merge", "fail"] = Field(
        "drop", description="Classes with too few rows to cross-validate (at most training.cv): drop sets them "
        "aside from training and names them with their counts, merge pools them into one 'other' class, fail stops "
        "the run. An error whatever the setting when fewer than two classes are left to learn.")


class Evaluation(Section):
    """Stage 8: holdout metrics, confidence intervals, explanations."""

    bootstrap: int = Field(1000, ge=100)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    explain: Literal["permutation", "none"] = "permutation"
    latency_samples: int = Field(200, ge=20)


class Deployment(Section):
    """Stage 9: the registered model and its API."""

    model_name: str | None = None
    refit: Literal["all_rows", "training_rows"] = Field(
        "all_rows", description="all_rows: the registered model is the chosen recipe (model, parameters, trees, "
        "ensemble weights) fitted again on training and holdout rows together, after the holdout has judged it: "
        "more data, same recipe. training_rows: register exactly the model the holdout scored.")
    api_key_env: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_body_mb: float = Field(1.0, gt=0, le=1024, description="A request body over this many MiB is a 413.")
    max_batch: int = Field(10_000, ge=1, description="A /predict or /explain request with more records is a 413.")
    prediction_log_mb: float = Field(64.0, gt=0, description="The prediction log of a version is rotated past this "
                                     "size: the full file is kept under a name stamped with the time.")

    @property
    def max_body_bytes(self) -> int:
        return max(1, int(self.max_body_mb * 1024 * 1024))


class Drift(Section):
    threshold: float = Field(0.2, gt=0)
    bins: int = Field(10, ge=2, le=100)


WINDOW_PATTERN = r"^\s*(\d+)\s*([hdw])\s*$"
WINDOW_HOURS = {"h": 1, "d": 24, "w": 24 * 7}


def _window_parses(text: str) -> str:
    """`7d`, `24h`, `2w`: a whole number of hours, days or weeks (months differ in length: use 30d)."""
    match = re.fullmatch(WINDOW_PATTERN, str(text))
    if match is None or int(match.group(1)) == 0:
        raise rule(f"a window such as 7d, 24h or 2w (a positive whole number of h, d or w), not {text!r}",
                   "write e.g. window: 7d (a month: 30d)")
    return str(text).strip()


class RetrainWhen(Section):
    """What makes `cairn monitor` advise retraining (exit 3); any one rule firing is enough."""

    drift_share: float = Field(0.2, gt=0, le=1, description="Retrain when at least this share of the judged "
                               "features drifted (a feature drifts when its PSI passes monitoring.drift.threshold).")
    missed_windows: int = Field(2, ge=1, description="Retrain when a success metric measured on ground truth missed "
                                "its threshold in this many windows in a row, up to the latest.")
    estimate_missed: bool = Field(True, description="Retrain when, without ground truth in the latest window, the "
                                  "estimated metric misses its threshold.")
    objective_missed: bool = Field(True, description="Retrain when new data given with its target (--data) misses "
                                   "the objective.")
    prediction_drift: bool = Field(False, description="Retrain when the model's own answers drifted (their PSI "
                                   "passes monitoring.drift.threshold), whatever the inputs did.")
    domain_auc: float | None = Field(None, gt=0.5, le=1, description="Retrain when a classifier tells the new "
                                     "rows from the training rows with at least this out-of-fold AUC (e.g. 0.8); "
                                     "off by default.")


class Retrain(Section):
    """What `cairn retrain` trains the challenger on, and which rows judge it against the champion."""

    data: Literal["all", "recent"] = Field("all", description="all: the training source plus the new labelled "
                                           "rows; recent: the new labelled rows alone.")
    min_new_rows: int = Field(100, ge=10, description="Refuse to retrain on fewer new labelled rows than this.")
    judge_share: float = Field(0.3, gt=0, lt=1, description="The newest share of the new labelled rows, kept out "
                               "of training: champion and challenger are compared on them.")


class Monitoring(Section):
    """Stage 10: the reference for drift, performance over time and what triggers retraining."""

    drift: Drift = Drift()
    reference_rows: int = Field(50_000, gt=0)
    window: Annotated[str, AfterValidator(_window_parses)] = Field(
        "7d", description="The length of a performance window: Nh, Nd or Nw (7d, 24h, 30d). Windows are counted "
        "from 1970-01-01 UTC (days start at midnight UTC); windows of whole weeks start on a Monday.")
    time_column: str | None = Field(None, description="A column of the feedback file that dates each row; default: "
                                    "the time of the prediction (from the prediction log, or when fed back).")
    retrain_when: RetrainWhen = RetrainWhen()
    retrain: Retrain = Retrain()
    webhook_env: str | None = Field(None, description="An environment variable holding a URL: when `cairn monitor` "
                                    "advises retraining it POSTs its JSON report there (a failure is a warning).")

    @property
    def window_hours(self) -> int:
        match = re.fullmatch(WINDOW_PATTERN, self.window)
        assert match is not None  # checked by _window_parses
        return int(match.group(1)) * WINDOW_HOURS[match.group(2)]


class Execution(Section):
    """Where the heavy work runs: in this process, or as tasks on a Dask cluster. The results are the same on
    either, so this section is in no stage's cache key: a run on the cluster reuses a local run's stages."""

    engine: Literal["local", "dask"] = Field(
        "local", description="local: this process (training.parallel_folds threads); dask: cross-validation folds "
        "as tasks on the Dask scheduler at address / address_env / CAIRN_DASK_SCHEDULER.")
    address: str | None = Field(None, description="The Dask scheduler, e.g. tcp://10.0.0.5:8786.")
    address_env: str | None = Field(None, description="Environment variable holding the scheduler address; with "
                                    "neither this nor address, CAIRN_DASK_SCHEDULER is read.")

    @model_validator(mode="after")
    def _one_way_to_the_scheduler(self) -> Execution:
        if self.address is not None and self.address_env is not None:
            raise rule("one of 'address' or 'address_env'", "keep one: address_env keeps the address out of the file")
        return self


class ProjectConfig(Section):
    """The whole `cairn.yaml`."""

    project: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Name used for the model.")
    seed: int = 42
    store: str | None = Field(None, description="SQLAlchemy URL; default sqlite file .cairn/cairn.db. CAIRN_STORE "
                              "overrides it (cairn.config.settings has the precedence).")
    store_env: str | None = Field(None, description="Environment variable holding the store URL (with credentials).")
    artifacts: str | None = Field(None, description="Folder or fsspec URL (s3://bucket/prefix) for artifacts; default "
                                  ".cairn/artifacts. CAIRN_ARTIFACTS overrides it.")
    artifacts_env: str | None = Field(None, description="Environment variable holding the artifacts folder or URL.")
    business: Business
    data: Data
    preprocessing: Preprocessing = Preprocessing()
    exploration: Exploration = Exploration()
    features: Features = Features()
    models: Models = Models()
    training: Training = Training()
    evaluation: Evaluation = Evaluation()
    deployment: Deployment = Deployment()
    monitoring: Monitoring = Monitoring()
    execution: Execution = Execution()  # in no stage's section (STAGE_SECTIONS): any engine gives the same results

    @model_validator(mode="after")
    def _one_way_to_each_location(self) -> ProjectConfig:
        for name in ("store", "artifacts"):
            if getattr(self, name) is not None and getattr(self, f"{name}_env") is not None:
                raise rule(f"one of '{name}' or '{name}_env'", f"keep {name}_env: the URL stays out of the file")
        return self

    @model_validator(mode="after")
    def _split_has_its_column(self) -> ProjectConfig:
        training = self.training
        if training.split == "group" and not training.group_by:
            raise rule("training.group_by with split: group", "name the column that groups rows")
        if training.split == "time" and not training.time_column:
            raise rule("training.time_column with split: time", "name the column that orders rows in time")
        if training.split == "stratified" and self.business.problem == "regression":
            raise rule("a classification problem for split: stratified", "use split: random or auto")
        return self

    @property
    def model_name(self) -> str:
        return self.deployment.model_name or self.project


# The section of the project file that each stage depends on; its hash is part of the stage's cache key.
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "business": ("business",),
    "data": ("data", "seed"),  # the seed draws the sample of data larger than memory
    "preprocessing": ("preprocessing", "training"),  # training.cv and rare_classes decide which classes stay
    "exploration": ("exploration", "data", "seed"),  # data.drop_columns are not explored
    "features": ("features", "data", "preprocessing"),
    "models": ("models",),
    "training": ("training", "features", "seed"),  # features.select runs inside training
    "evaluation": ("evaluation", "seed"),
    "deployment": ("deployment", "project"),
    "monitoring": ("monitoring", "seed"),
}
