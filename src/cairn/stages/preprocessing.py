"""Stage 3, preprocessing: the row-level cleaning that happens in training only.

Dropping rows (missing target, exact duplicates) cannot happen to a record at serving time, so it lives here and
is counted. Everything a new record needs (imputation, outlier clipping, encoding) lives in the fitted pipeline
built by the features stage, so `cairn serve` applies exactly the same steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cairn.config.schema import Preprocessing
from cairn.errors import DataError
from cairn.stages.data.quality.rows import chance_repeats, chance_words, copy_pairs, repeats_by_chance
from cairn.stages.data.quality.target import TargetLabels, target_labels
from cairn.stages.data.rare_classes import apply_rare_classes, rare_classes
from cairn.stages.data.types import MISSING_MARKERS


@dataclass(frozen=True)
class CleaningReport:
    rows_in: int
    rows_out: int
    missing_target_dropped: int
    duplicates_dropped: int
    conflicting_duplicates: int  # rows sharing all features with another row but not its target
    missing_markers_unified: int
    missing_dropped: dict[str, int] = field(default_factory=dict)  # column -> rows dropped (strategy drop_rows)
    outliers_dropped: dict[str, int] = field(default_factory=dict)  # column -> rows dropped (outliers: drop)
    label_notes: list[str] = field(default_factory=list)  # how text class labels were read (trimmed, respelled)
    rare_class_notes: list[str] = field(default_factory=list)  # classes set aside or merged (training.rare_classes)
    duplicates_kept: int = 0  # exact copies kept by `duplicates: auto`: chance explains them
    chance_pairs: float = 0.0  # the pairs of identical rows chance alone gives (see chance_repeats)
    copy_pairs: int = 0  # the pairs of identical rows seen

    def notes(self) -> list[str]:
        notes = [f"{self.rows_in:,} rows in, {self.rows_out:,} rows kept for training"]
        if self.missing_target_dropped:
            notes.append(f"dropped {self.missing_target_dropped:,} rows with no target")
        if self.duplicates_dropped:
            notes.append(f"dropped {self.duplicates_dropped:,} exact duplicate rows")
        if kept := getattr(self, "duplicates_kept", 0):  # a report pickled before it had the field reads 0
            notes.append(f"kept {kept:,} exact duplicate row{'' if kept == 1 else 's'}: "
                         f"{chance_words(self.chance_pairs, self.copy_pairs, kept)} "
                         f"(preprocessing.duplicates: drop removes {'it' if kept == 1 else 'them'})")
        if self.conflicting_duplicates:
            notes.append(f"{self.conflicting_duplicates:,} rows share all features with another row but not its "
                         "target: kept, they are real disagreement in the data")
        if self.missing_markers_unified:
            notes.append(f"read {self.missing_markers_unified:,} text markers such as 'N/A' as missing")
        for column, count in self.missing_dropped.items():
            notes.append(f"dropped {count:,} rows missing {column} (training only; requests get the median)")
        for column, count in self.outliers_dropped.items():
            notes.append(f"dropped {count:,} rows with outlying {column} (training only)")
        return notes + list(self.label_notes) + list(getattr(self, "rare_class_notes", []))


def unify_missing(table: pd.DataFrame, *, keep_objects: tuple[str, ...] = ()) -> tuple[pd.DataFrame, int]:
    """Trim text and read 'N/A', 'null', '' and friends as missing; the pipeline does the same to new records.

    Text columns come back as categories (a million rows of forty text columns: tens of MB, not GBs of Python
    strings), cleaned once per distinct value rather than once per row; number columns are shared with `table`,
    never copied. `keep_objects` (the target) stay Python objects, None where missing: labels may be rewritten."""
    cleaned = table.copy(deep=False)  # copy-on-write: only the columns replaced below are new
    unified = 0
    for name in table.columns:
        column = table[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        codes, texts, markers = _trimmed_levels(column)
        unified += markers
        if name in keep_objects:
            values = np.array([*texts, None], dtype=object)
            cleaned[name] = pd.Series(values[codes], index=table.index, dtype=object)
        else:
            cleaned[name] = pd.Series(pd.Categorical.from_codes(np.where(codes == len(texts), -1, codes),
                                                                categories=pd.Index(texts, dtype=object)),
                                      index=table.index)
    return cleaned, unified


def _trimmed_levels(column: pd.Series) -> tuple[np.ndarray, list[str], int]:
    """Each row's code into the distinct trimmed values (len(values) where missing or a missing-value marker),
    those values in order of first appearance, and how many present rows held a marker."""
    positions, uniques = pd.factorize(column, use_na_sentinel=True)
    trimmed = [str(value).strip() for value in uniques]
    is_marker = np.fromiter((text.casefold() in MISSING_MARKERS for text in trimmed), dtype=bool,
                            count=len(trimmed))
    kept = np.array([None if marker else text for text, marker in zip(trimmed, is_marker, strict=True)],
                    dtype=object)
    level_of, texts = pd.factorize(kept, use_na_sentinel=True)  # 'a ' and 'a' become one level
    lookup = np.append(np.where(level_of < 0, len(texts), level_of), len(texts))  # last slot: missing rows
    counts = np.bincount(positions[positions >= 0], minlength=len(uniques))
    return lookup[positions], [str(text) for text in texts], int(counts[is_marker].sum())


def check_missing_target(raw: pd.DataFrame, *, target: str, spec: Preprocessing) -> None:
    """`clean_table`'s check of the missing targets, on the target column alone: `Project.run` makes it before
    a run starts, so too many missing targets are a user error that writes nothing (no failed run, no cache)."""
    unified, _ = unify_missing(raw[[target]], keep_objects=(target,))
    labels = target_labels(raw[target], normalize=spec.normalize_categories)
    cleaned = _cleaned_target(labels, unified, target=target)
    _check_missing_target(cleaned.isna(), target=target, spec=spec)


def _cleaned_target(labels: TargetLabels, unified: pd.DataFrame, *, target: str) -> pd.Series:
    """The target as training reads it: missing markers missing (`unify_missing`), text labels as the data
    checks counted them (`target_labels`); numbers as they are."""
    if labels.trimmed or labels.respelled:
        return pd.Series(labels.values.to_numpy(), index=unified.index, name=target)
    return unified[target]


def _check_missing_target(missing: pd.Series, *, target: str, spec: Preprocessing) -> None:
    share = float(missing.mean())
    if spec.missing_target == "fail" and missing.any() or share > spec.max_missing_target:
        raise DataError.single(
            f"The target '{target}' is missing in {share:.0%} of rows.", where=f"column {target}",
            expected=f"at most {spec.max_missing_target:.0%} missing (preprocessing.max_missing_target)",
            got=f"{int(missing.sum()):,} of {len(missing):,} rows",
            fix="fix the source, or raise preprocessing.max_missing_target",
        )


def clean_table(raw: pd.DataFrame, *, target: str, spec: Preprocessing, problem: str = "regression", cv: int = 5,
                rare_classes: str = "drop") -> tuple[pd.DataFrame, CleaningReport]:
    """Rows fit to train on. Text class labels are read as the data checks counted them (`target_labels`): 'no '
    and 'no' are one class, and so, under preprocessing.normalize_categories, are 'No' and 'no'. Classes too rare
    to cross-validate are set aside or merged as training.rare_classes says (`rare_classes`)."""
    labels = target_labels(raw[target], normalize=spec.normalize_categories)  # numbers stay as they are
    table, unified = unify_missing(raw, keep_objects=(target,))
    table[target] = _cleaned_target(labels, table, target=target)
    missing_target = table[target].isna()
    _check_missing_target(missing_target, target=target, spec=spec)
    if missing_target.any():  # a boolean .loc copies every column, even when it keeps every row
        table = table.loc[~missing_target]
    feature_ids = row_ids(table, [name for name in table.columns if name != target])
    whole_ids = row_ids(table, [target], start=feature_ids)
    duplicates = kept = copies = 0
    chance = 0.0
    if spec.duplicates != "keep":
        duplicated = ~first_seen(whole_ids)
        duplicates = int(duplicated.sum())
        if duplicates and spec.duplicates == "auto":
            copies = copy_pairs(np.bincount(whole_ids))
            chance = chance_repeats((np.bincount(codes) for codes in column_codes(table)), len(table),
                                    copies=copies)
            if repeats_by_chance(chance, copies):
                duplicates, kept = 0, duplicates
        if duplicates:
            table = table.loc[~duplicated]
            feature_ids, whole_ids = feature_ids[~duplicated], whole_ids[~duplicated]
    conflicts = int(repeated(feature_ids).sum() - repeated(whole_ids).sum())
    missing_dropped: dict[str, int] = {}
    for column, strategy in spec.missing.columns.items():
        if strategy == "drop_rows" and column in table.columns:
            absent = table[column].isna()
            missing_dropped[column] = int(absent.sum())
            table = table.loc[~absent]
    outliers_dropped: dict[str, int] = {}
    if spec.outliers.method != "none" and spec.outliers.action == "drop":
        table, outliers_dropped = _drop_outliers(table, target=target, method=spec.outliers.method,
                                                 factor=spec.outliers.factor)
    table = table.reset_index(drop=True)
    rare_class_notes: list[str] = []
    if problem != "regression":
        table, rare_class_notes = _rare_classes_handled(table, target=target, cv=cv, policy=rare_classes)
    report = CleaningReport(rows_in=len(raw), rows_out=len(table), missing_target_dropped=int(missing_target.sum()),
                            duplicates_dropped=duplicates, duplicates_kept=kept, chance_pairs=chance,
                            copy_pairs=copies,
                            conflicting_duplicates=max(conflicts, 0),
                            missing_markers_unified=unified, missing_dropped=missing_dropped,
                            outliers_dropped=outliers_dropped, label_notes=labels.notes(),
                            rare_class_notes=rare_class_notes)
    return table, report


def row_ids(table: pd.DataFrame, columns: list[str], *, start: np.ndarray | None = None) -> np.ndarray:
    """One integer per row, equal where the rows agree on `columns` (missing equals missing, as
    `DataFrame.duplicated` counts). Each column is factorized once and shared by every duplicate count, where
    three `duplicated` calls factorized all of them three times."""
    ids = np.zeros(len(table), dtype=np.int64) if start is None else start
    size = int(ids.max()) + 1 if len(ids) else 1
    for name in columns:
        codes, count = _codes(table[name])
        if size * (count + 1) >= 2**62:  # keep the combined ids in range: renumber them densely first
            ids = pd.factorize(ids)[0].astype(np.int64)
            size = int(ids.max()) + 1 if len(ids) else 1
        ids = ids * (count + 1) + codes
        size *= count + 1
    return pd.factorize(ids)[0].astype(np.int64) if len(ids) else ids


def _codes(column: pd.Series) -> tuple[np.ndarray, int]:
    """A column's values as codes 0..count, missing being the value `count`; and count."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes, count = column.cat.codes.to_numpy().astype(np.int64), len(column.cat.categories)
    else:
        found, uniques = pd.factorize(column, use_na_sentinel=True)
        codes, count = found.astype(np.int64), len(uniques)
    codes[codes < 0] = count
    return codes, count


def column_codes(table: pd.DataFrame) -> Iterator[np.ndarray]:
    """Every column of `table` as its codes (see `_codes`)."""
    return (_codes(table[name])[0] for name in table.columns)


def first_seen(ids: np.ndarray) -> np.ndarray:
    """True at the first row of each id: `duplicated()` negated."""
    first = np.zeros(len(ids), dtype=bool)
    first[np.unique(ids, return_index=True)[1]] = True
    return first


def repeated(ids: np.ndarray) -> np.ndarray:
    """True at every row whose id occurs more than once: `duplicated(keep=False)`."""
    return np.bincount(ids)[ids] > 1 if len(ids) else np.zeros(0, dtype=bool)


def _rare_classes_handled(table: pd.DataFrame, *, target: str, cv: int, policy: str
                          ) -> tuple[pd.DataFrame, list[str]]:
    """The table with rare classes set aside or merged; an error under `fail`, or when no class is left."""
    plan = rare_classes(table[target], cv=cv, policy=policy)
    if not plan.rare:
        return table, []
    if policy == "fail" or plan.nothing_to_learn:
        left = plan.named(plan.left) or "none"
        raise DataError.single(
            f"The target '{target}' has classes with fewer than {plan.needed} rows, too few for {cv}-fold "
            "cross-validation and a holdout" + ("." if policy == "fail" else ", and without them no class is left to "
                                               "learn."),
            where=f"column {target}", expected=f"at least {plan.needed} rows in each class, and two classes",
            got=f"{plan.named(plan.rare)}; classes with enough rows: {left}",
            fix="set training.rare_classes to drop or merge" if policy == "fail" and not plan.nothing_to_learn
            else "collect more rows of the rare classes, or set training.cv lower",
        )
    return apply_rare_classes(table, target=target, plan=plan), plan.notes()


def _drop_outliers(table: pd.DataFrame, *, target: str, method: str, factor: float
                   ) -> tuple[pd.DataFrame, dict[str, int]]:
    """Training rows beyond the fences of any numeric feature; requests are clipped instead, never dropped."""
    keep = pd.Series(True, index=table.index)
    dropped: dict[str, int] = {}
    for column in table.columns:
        values = table[column]
        if column == target or not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        if method == "zscore":
            center = values.median()
            spread = (values - center).abs().median() * 1.4826
            low, high = (center - factor * spread, center + factor * spread) if spread > 0 else (-np.inf, np.inf)
        else:
            q1, q3 = values.quantile([0.25, 0.75])
            low, high = q1 - factor * (q3 - q1), q3 + factor * (q3 - q1)
        beyond = (values < low) | (values > high)
        if beyond.any():
            dropped[str(column)] = int((beyond & keep).sum())
            keep &= ~beyond
    return table.loc[keep], {column: count for column, count in dropped.items() if count}
