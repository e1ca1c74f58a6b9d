"""Target leakage, told apart from a strong predictor.

Certain (an error, the run stops): one column reproduces the target almost exactly (a monotone function with
near-zero error, not merely a high correlation), two columns do by simple arithmetic (`formulas`), or a column
named like the target is related to it; in classification, a column that separates the classes perfectly (which
includes one constant within each class but not across). Plausible (a warning, the run goes on): one column
predicts the target very well but not exactly, like a list price or last year's value; the model uses it unless
the user drops it, so the warning names it with the evidence.

Where a close fit is exact enough to be certain depends on the shape of its errors. A copy of the target with
noise or rounding errs by amounts of one size, whatever the value; a forecast made before the outcome (a list
price, a budget) errs by a share of the value. So a fit with R² above `COPY_R2` is certain unless its errors are
a share of the value, and any fit above `EXACT_R2` is.

The costliest check, so it looks at a seeded sample of at most `SAMPLE_ROWS` labelled rows and says so.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from cairn.config.schema import Quality
from cairn.stages.data.quality.finding import Finding
from cairn.stages.data.quality.formulas import target_formulas
from cairn.stages.data.quality.tables import SAMPLE_ROWS, Levels, sample_positions
from cairn.stages.data.types import BLOCK_BYTES, ColumnType, name_tokens

LEAKAGE_FOLDS = 5
LEAKAGE_MIN_VALUES = 30
"""A correlation on fewer present values than this is chance, not evidence."""
EXACT_R2 = 0.999
"""A monotone fit this close (or an AUC this high) is the target in another form, whatever its errors look like."""
COPY_R2 = 0.99
"""Above this, a fit whose errors are of one size (not a share of the value) is a noisy or rounded copy."""
DERIVED_WORDS = frozenset({"copy", "orig", "original", "raw", "log", "new", "old", "clean", "cleaned", "value",
                           "scaled", "norm", "normalized", "true", "actual", "final", "pred", "predicted", "hat"})
"""'target_copy', 'target_log', 'target2': names that say a column is the target in another form."""
CHECK_ENDING = ("; it is probably computed from the target or known only after it: drop it (data.drop_columns) "
                "unless it is known when predicting")


def target_leakage(table: pd.DataFrame, *, levels: Mapping[str, Levels], target: str, problem: str,
                   types: Mapping[str, ColumnType], numbers: pd.DataFrame, spec: Quality,
                   drop_columns: Collection[str] = (), seed: int = 0, sample_rows: int = SAMPLE_ROWS) -> list[Finding]:
    """Features that give the target away (errors) or may (warnings): see the module's docstring.

    The single-feature model is a histogram: the feature cut into quantile bins (or its levels), each bin
    predicting the other folds' mean target (regression, scored by R²) or class shares (scored by AUC). It is
    what a shallow tree on one feature can learn, at the cost of a few passes over the data; only the columns it
    finds strong get the costlier monotone fit that tells certain from plausible.
    """
    if target not in table.columns:
        return []
    labelled = np.flatnonzero(table[target].notna().to_numpy())
    picked, sampled = sample_positions(len(labelled), size=sample_rows, seed=seed)
    positions = labelled[picked]
    if len(positions) < 2 * LEAKAGE_FOLDS:
        return []
    y, log_y = _target_values(table[target].iloc[positions], problem=problem)
    if y is None:
        return []
    folds = np.random.default_rng(seed).permutation(len(positions)) % LEAKAGE_FOLDS
    target_words = name_tokens(target)
    weak = _weak_numbers(numbers, y, log_y, folds=folds, positions=positions, problem=problem, target=target)
    findings = []
    for column_name in table.columns:
        name = str(column_name)
        if name == target or types[name].kind == "empty":
            continue
        if name in weak:
            evidence = weak[name]
        else:
            x, codes = _feature_values(table[column_name], numbers.get(name), levels=levels.get(name),
                                       positions=positions)
            evidence = _leak_evidence(x, codes, y, log_y, folds=folds, problem=problem)
        score = max(evidence.values(), default=0.0)
        derived = max(evidence.get("|r| with target", 0.0), evidence.get("|r| with log(target)", 0.0))
        strong = score > spec.leakage_score or derived >= max(0.99, spec.leakage_score)
        named = _named_like(name_tokens(name), target_words)
        if not strong and not named:
            continue
        certain, shape = _certain(x, y, evidence, problem=problem) if strong else (False, "")
        reasons = [f"{what.replace('target', target)} {value:.3f}" for what, value in evidence.items() if value > 0.5]
        measured = f" ({', '.join(reasons + ([shape] if shape else []))})" if reasons else ""
        if name in drop_columns:
            severity, ending = "info", "; it is in data.drop_columns, so no model sees it"
        elif certain:
            severity, ending = "error", CHECK_ENDING
        elif named and score >= 0.3:
            severity, ending = "error", ("; a column named after the target is usually derived from it: drop it "
                                         "(data.drop_columns) unless it is known when predicting")
        elif strong:
            severity, ending = "warn", ("; the model will use it: check that it is known when predicting (a list "
                                        "price, last year's value) and drop it (data.drop_columns) if it is not")
        else:
            severity, ending = "warn", "; it is only weakly related to the target, but check how it is computed"
        if certain:
            what = "predicts the target almost perfectly on its own"
        elif strong:
            what = f"predicts {target} very well on its own, but not exactly"
        else:
            what = f"is named like the target {target}"
        findings.append(Finding(severity, "target leakage", [name], len(positions),
                                f"{name} {what}{measured}{sampled}{ending}"))
    if problem == "regression":
        findings += _formula_findings(numbers.iloc[positions].drop(columns=[target], errors="ignore"), y,
                                      target=target, drop_columns=drop_columns, seed=seed)
    return findings


def _formula_findings(numbers: pd.DataFrame, y: np.ndarray, *, target: str, drop_columns: Collection[str],
                      seed: int) -> list[Finding]:
    """Two columns whose arithmetic gives the target: always certain, since nothing known before the outcome
    reproduces it to R² 0.999."""
    findings = []
    for formula in target_formulas(numbers, y, target=target, seed=seed).formulas:
        first, second = formula.columns
        measured = f"{formula.text}, R² {formula.r2:.3f} on {formula.rows:,} rows"
        if drop_columns and (first in drop_columns or second in drop_columns):
            severity, ending = "info", "; one of them is in data.drop_columns, so no model sees the pair"
        else:
            severity, ending = "error", (f": {first} or {second} is computed from the target; drop it "
                                         "(data.drop_columns) unless it is known when predicting")
        findings.append(Finding(severity, "target leakage", [first, second], formula.rows,
                                f"{first} and {second} reproduce {target} by arithmetic ({measured}){ending}"))
    return findings


def _certain(x: np.ndarray | None, y: np.ndarray, evidence: dict[str, float], *, problem: str) -> tuple[bool, str]:
    """Whether a strong column is the target in another form, and what the fit's errors look like; adds the
    monotone fit's R² to `evidence`."""
    if problem != "regression":
        return max(evidence.values(), default=0.0) >= EXACT_R2, ""
    if x is None:
        return evidence.get("out-of-fold R²", 0.0) >= COPY_R2, ""
    present = ~np.isnan(x)
    if present.sum() < LEAKAGE_MIN_VALUES:
        return False, ""
    fitted = IsotonicRegression(increasing="auto", out_of_bounds="clip").fit(x[present], y[present])
    observed, predicted = y[present], fitted.predict(x[present])
    r2 = 1 - float(np.sum((observed - predicted) ** 2) / np.sum((observed - observed.mean()) ** 2))
    evidence["monotone fit R²"] = r2
    if r2 >= EXACT_R2:
        return True, ""
    if r2 < COPY_R2:
        return False, ""
    if _errors_are_a_share(observed, predicted):
        return False, "errors a share of the value, as a forecast's"
    return True, "errors of one size at every value, as a noisy copy's"


def _errors_are_a_share(observed: np.ndarray, predicted: np.ndarray) -> bool:
    """Whether the fit errs by a share of the value (a forecast) rather than by amounts of one size (a copy):
    whichever error's size is less tied to the value is the form of the noise."""
    if (predicted <= 0).any():
        return False
    absolute = abs(_pearson(_ranks(np.abs(observed - predicted)), _ranks(predicted)))
    relative = abs(_pearson(_ranks(np.abs(observed / predicted - 1)), _ranks(predicted)))
    return relative < absolute


def _target_values(values: pd.Series, *, problem: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The target as floats (regression) or class codes, and log(target) when every value is positive."""
    if problem == "regression":
        y = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        if np.isnan(y).any() or np.std(y) == 0:
            return None, None
        return y, (np.log(y) if (y > 0).all() else None)
    codes, classes = pd.factorize(values, sort=True)
    if len(classes) < 2:
        return None, None
    return codes.astype("int64"), None


def _feature_values(column: pd.Series, numbers: pd.Series | None, *, levels: Levels | None,
                    positions: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """A feature at `positions`: as floats when it is ordered (numbers, 0/1, dates), and as bin or level codes."""
    if numbers is not None:
        x = numbers.to_numpy(dtype="float64")[positions]
    elif levels is not None:
        codes = levels.codes[positions]
        return None, np.where(codes < 0, len(levels.values), codes)  # missing is a level of its own
    elif pd.api.types.is_datetime64_any_dtype(column):
        stamps = column.iloc[positions]
        stamps = stamps.dt.tz_localize(None) if isinstance(stamps.dtype, pd.DatetimeTZDtype) else stamps
        x = stamps.astype("int64").where(stamps.notna()).to_numpy(dtype="float64", na_value=np.nan)
    else:
        x = column.to_numpy(dtype="float64", na_value=np.nan)[positions]
    return x, _bins(x)


def _weak_numbers(numbers: pd.DataFrame, y: np.ndarray, log_y: np.ndarray | None, *, folds: np.ndarray,
                  positions: np.ndarray, problem: str, target: str) -> dict[str, dict[str, float]]:
    """`_leak_evidence` of the regression's complete number columns that show no sign of leakage (every figure at
    most 0.5, so no rank statistic is due), computed for all of them at once: on 4,000 columns, the same few numpy
    calls per column took over a second. Each row of the (columns x rows) block is reduced as the 1-D column
    would be, so the figures are the same to the last bit; the others are left to `_leak_evidence`."""
    names = [name for name in numbers.columns if name != target]
    if problem != "regression" or not names or len(positions) < LEAKAGE_MIN_VALUES:
        return {}
    # a few copies of the block live at once (codes, cells): blocks of BLOCK_BYTES keep that bounded when tall
    width = max(1, BLOCK_BYTES // (len(positions) * 8))
    weak: dict[str, dict[str, float]] = {}
    for start in range(0, len(names), width):
        weak |= _weak_block(numbers, names[start:start + width], y, log_y, folds=folds, positions=positions)
    return weak


def _weak_block(numbers: pd.DataFrame, names: list[str], y: np.ndarray, log_y: np.ndarray | None, *,
                folds: np.ndarray, positions: np.ndarray) -> dict[str, dict[str, float]]:
    """`_weak_numbers` of some of the columns."""
    block = numbers[names].take(positions).to_numpy(dtype="float64").T.copy()  # one contiguous row per column
    complete = ~np.isnan(block).any(axis=1)
    block, names = block[complete], [name for name, keep in zip(names, complete, strict=True) if keep]
    if not names:
        return {}
    varies = np.std(block, axis=1) > 0
    figures = {"out-of-fold R²": _binned_r2_rows(_bins_rows(block), y, folds)}
    figures["|r| with target"] = np.where(varies, np.abs(_pearson_rows(block, y)), np.nan)
    if log_y is not None:
        figures["|r| with log(target)"] = np.where(varies, np.abs(_pearson_rows(block, log_y)), np.nan)
    weak = {}
    for index, name in enumerate(names):
        evidence = {what: values[index] for what, values in figures.items()
                    if what == "out-of-fold R²" or varies[index]}
        evidence = {what: (0.0 if np.isnan(value) else float(value)) for what, value in evidence.items()}
        if not varies[index] or max(evidence.values()) <= 0.5:  # else the rank statistic is due
            weak[str(name)] = evidence
    return weak


def _bins_rows(block: np.ndarray) -> np.ndarray:
    """`_bins` of each row of a block without missing values."""
    bins = int(np.clip(block.shape[1] // 20, 10, 256))
    quantiles = np.quantile(block, np.linspace(0, 1, bins + 1)[1:-1], axis=1).T
    return np.stack([np.searchsorted(np.unique(edges), row, side="right")
                     for edges, row in zip(quantiles, block, strict=True)]).astype("int64")


def _binned_r2_rows(codes: np.ndarray, y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """`_binned_r2` of each row of `codes`, with one bincount for all of them (cells offset per row)."""
    columns, rows = codes.shape
    size = int(codes.max()) + 1
    cell = (np.arange(columns)[:, None] * size + codes) * LEAKAGE_FOLDS + folds
    shape = (columns, size, LEAKAGE_FOLDS)
    sums = np.bincount(cell.ravel(), weights=np.tile(y, columns), minlength=int(np.prod(shape))).reshape(shape)
    counts = np.bincount(cell.ravel(), minlength=int(np.prod(shape))).reshape(shape)
    other_sums = sums.sum(axis=2, keepdims=True) - sums
    other_counts = counts.sum(axis=2, keepdims=True) - counts
    fold_sums = np.bincount(folds, weights=y, minlength=LEAKAGE_FOLDS)
    fallback = (y.sum() - fold_sums) / (len(y) - np.bincount(folds, minlength=LEAKAGE_FOLDS))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(other_counts > 0, other_sums / np.maximum(other_counts, 1), fallback)
    prediction = means[np.arange(columns)[:, None], codes, folds]
    return 1 - np.sum((y - prediction) ** 2, axis=1) / np.sum((y - y.mean()) ** 2)


def _pearson_rows(block: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`_pearson` of each row of `block` with `b`."""
    a, b = block - block.mean(axis=1, keepdims=True), b - b.mean()
    scale = np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, np.sum(a * b, axis=1) / np.where(scale > 0, scale, 1.0), 0.0)


def _leak_evidence(x: np.ndarray | None, codes: np.ndarray, y: np.ndarray, log_y: np.ndarray | None, *,
                   folds: np.ndarray, problem: str) -> dict[str, float]:
    """How well one feature alone gives the target away; the costly rank statistics only for suspects."""
    evidence = {}
    if problem == "regression":
        evidence["out-of-fold R²"] = _binned_r2(codes, y, folds)
        if x is not None:
            present = ~np.isnan(x)
            if present.sum() >= LEAKAGE_MIN_VALUES and np.std(x[present]) > 0:
                evidence["|r| with target"] = abs(_pearson(x[present], y[present]))
                if log_y is not None:
                    evidence["|r| with log(target)"] = abs(_pearson(x[present], log_y[present]))
                if max(evidence.values()) > 0.5:
                    evidence["rank correlation"] = abs(_pearson(_ranks(x[present]), _ranks(y[present])))
    else:
        evidence["out-of-fold AUC"] = _binned_auc(codes, y, folds)
        if x is not None and y.max() == 1 and evidence["out-of-fold AUC"] > 0.75:
            present = ~np.isnan(x)
            if present.sum() >= LEAKAGE_MIN_VALUES:
                auc = _auc(y[present] == 1, x[present])
                evidence["AUC of the raw values"] = max(auc, 1 - auc)
    return {what: (0.0 if np.isnan(value) else float(value)) for what, value in evidence.items()}


def _bins(x: np.ndarray) -> np.ndarray:
    """Codes of quantile bins (about 20 rows each, at most 256 bins); missing values get a bin of their own."""
    missing = np.isnan(x)
    present = x[~missing]
    if present.size == 0:
        return np.zeros(len(x), dtype="int64")
    bins = int(np.clip(len(x) // 20, 10, 256))
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))
    codes = np.searchsorted(edges, x, side="right")
    return np.where(missing, len(edges) + 1, codes).astype("int64")


def _binned_r2(codes: np.ndarray, y: np.ndarray, folds: np.ndarray) -> float:
    """Out-of-fold R² of predicting each bin's mean target from the other folds (two bincounts in all)."""
    return float(_binned_r2_rows(codes[None, :], y, folds)[0])


def _binned_auc(codes: np.ndarray, y: np.ndarray, folds: np.ndarray) -> float:
    """Out-of-fold AUC of each bin's class shares in the other folds (one-vs-rest, macro, for several classes)."""
    classes, size = int(y.max()) + 1, int(codes.max()) + 1
    cell = (codes * LEAKAGE_FOLDS + folds) * classes + y
    counts = np.bincount(cell, minlength=size * LEAKAGE_FOLDS * classes).reshape(size, LEAKAGE_FOLDS, classes)
    other = counts.sum(axis=1, keepdims=True) - counts
    by_fold = np.bincount(folds * classes + y, minlength=LEAKAGE_FOLDS * classes).reshape(LEAKAGE_FOLDS, classes)
    prior = (by_fold.sum(axis=0) - by_fold) / np.maximum((by_fold.sum() - by_fold.sum(axis=1)), 1)[:, None]
    totals = other.sum(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, other / np.maximum(totals, 1), prior[None, :, :])
    predicted = shares[codes, folds]
    if classes == 2:
        return _auc(y == 1, predicted[:, 1])
    return float(np.mean([_auc(y == k, predicted[:, k]) for k in range(classes)]))  # one-vs-rest, macro


def _auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic: the chance that a positive row scores above a negative one."""
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    if not n_positive or not n_negative:
        return 0.5
    ranks = _ranks(score)
    return float((ranks[positive].sum() - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative))


def _ranks(values: np.ndarray) -> np.ndarray:
    return pd.Series(values).rank().to_numpy()


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    scale = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return float(np.sum(a * b) / scale) if scale > 0 else 0.0


def _named_like(words: list[str], target_words: list[str]) -> bool:
    """'Sale_Price_log', 'SalePrice2' and 'target_copy' are named like the target Sale_Price; a target named with
    fewer than 3 letters ('y') is too short to tell."""
    if words[:1] == ["target"] and all(word.isdigit() or word in DERIVED_WORDS for word in words[1:]):
        return True
    size = len(target_words)
    if len("".join(target_words)) < 3:
        return False
    return any(words[i:i + size] == target_words for i in range(len(words) - size + 1))
