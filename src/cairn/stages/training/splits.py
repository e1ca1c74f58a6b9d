"""Which rows train, which validate, which are held out: random, stratified, by group or by time.

The holdout is cut first and no tuning ever sees it. Cross-validation folds are positions into the training rows.
Group splits keep every group on one side; time splits hold out the latest rows and validate each fold on rows
later than all of its training rows (an expanding window).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    GroupKFold,
    GroupShuffleSplit,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

from cairn.config.schema import Training
from cairn.errors import ConfigError, DataError
from cairn.stages.business import BusinessCase

Fold = tuple[np.ndarray, np.ndarray]

# training.validation auto: one validation fold instead of k when the fold kept validates at least this many rows
# (5,000 to search at 5 random folds) and ONE_FOLD_CLASS_ROWS of every class. A trial then costs a k-th, so the same
# budget searches k times the rows or tries k times the parameters. At one minute it switches nine of the eighteen
# bench sets, and all nine scored better on the holdout than with five folds in the same session: flights RMSE 6.16
# -> 5.66, diamonds 495.7 -> 487.6, hotel_rates 13.35 -> 13.21, mplsstops AUC 0.898 -> 0.901; deliveries, txhousing,
# loans, insteval and chem97 by 0.04-0.7%. Below 1,000 validated rows, or with a few dozen rows of a rare class (3%
# positives in 6,400 rows), one fold's score is too noisy to rank candidates and trials on: k folds.
ONE_FOLD_VALIDATES = 1_000
ONE_FOLD_CLASS_ROWS = 200


@dataclass(frozen=True)
class Split:
    kind: str  # random | stratified | group | time
    train_index: np.ndarray  # positions in the table, ascending
    holdout_index: np.ndarray
    folds: list[Fold]  # (fit, validate) positions into the training rows
    groups: np.ndarray | None  # group of each training row (group splits)
    time_rank: np.ndarray | None  # order of each training row in time, 0 = oldest (time splits)
    description: str

    def validated(self) -> np.ndarray:
        """Training rows that some fold validates: all of them, except the oldest block of a time split."""
        mask = np.zeros(len(self.train_index), dtype=bool)
        for _, valid in self.folds:
            mask[valid] = True
        return mask

    def searched(self) -> np.ndarray:
        """Positions of the training rows some fold fits on or validates: all of them unless
        training.search_rows sampled."""
        return np.unique(np.concatenate([np.concatenate(fold) for fold in self.folds]))

    def rows_searched(self) -> int:
        return len(self.searched())

    @property
    def one_fold(self) -> bool:
        """The search scores on a single validation fold (training.validation), not a cross-validation."""
        return len(self.folds) == 1


def split_kind(spec: Training, *, problem: str) -> str:
    if spec.split != "auto":
        return spec.split
    if spec.time_column:
        return "time"
    if spec.group_by:
        return "group"
    return "random" if problem == "regression" else "stratified"


def validates_one_fold(spec: Training, *, valid_y: np.ndarray, share: float, classification: bool) -> bool:
    """training.validation: one fold when asked, or (auto) when the fold it would keep, at the share of it the
    search may take (training.search_rows), validates ONE_FOLD_VALIDATES rows and ONE_FOLD_CLASS_ROWS of every
    class. Decided from the data and the project file alone, never the clock, so a replay agrees."""
    if spec.validation != "auto":
        return spec.validation == "one_fold"
    if len(valid_y) * share < ONE_FOLD_VALIDATES:
        return False
    if not classification:
        return True
    _, counts = np.unique(valid_y.astype(str), return_counts=True)
    return bool(counts.min() * share >= ONE_FOLD_CLASS_ROWS)


def split_rows(table: pd.DataFrame, *, case: BusinessCase, spec: Training, seed: int) -> Split:
    """The holdout and the validation folds, both drawn with `seed`: k for cross-validation, or the one
    `validates_one_fold` keeps."""
    split = _k_fold_split(table, case=case, spec=spec, seed=seed)
    fold = split.folds[-1] if split.kind == "time" else split.folds[0]  # a time split's latest: most history
    y = table[case.target].to_numpy()[split.train_index]
    share = 1.0 if spec.search_rows is None else min(1.0, spec.search_rows / max(len(y), 1))
    if not validates_one_fold(spec, valid_y=y[fold[1]], share=share, classification=case.problem != "regression"):
        return split
    why = ("training.validation" if spec.validation == "one_fold" else
           f"training.validation auto: it validates {ONE_FOLD_VALIDATES:,} rows or more")
    holdout_part = split.description.split(";")[0]
    return replace(split, folds=[fold], description=(
        f"{holdout_part}; one validation fold of the {len(split.train_index):,} training rows, the "
        f"{'latest' if split.kind == 'time' else 'first'} of {len(split.folds)} ({why})"))


def _k_fold_split(table: pd.DataFrame, *, case: BusinessCase, spec: Training, seed: int) -> Split:
    kind = split_kind(spec, problem=case.problem)
    y = table[case.target].to_numpy()
    classification = case.problem != "regression"
    if classification:
        _enough_per_class(y, needed=spec.cv + 1, where="the data", cv=spec.cv)
    if kind == "time":
        return _time_split(table, spec=spec, y=y)
    if kind == "group":
        return _group_split(table, spec=spec, y=y, classification=classification, seed=seed)
    index = np.arange(len(table))
    stratified = kind == "stratified"
    train, holdout = train_test_split(index, test_size=spec.holdout, random_state=seed,
                                      stratify=y if stratified else None)
    train, holdout = np.sort(train), np.sort(holdout)
    y_train = y[train]
    if stratified:
        _enough_per_class(y_train, needed=spec.cv, where="the training split", cv=spec.cv)
        splitter: KFold | StratifiedKFold = StratifiedKFold(spec.cv, shuffle=True, random_state=seed)
    else:
        splitter = KFold(spec.cv, shuffle=True, random_state=seed)
    folds = [(np.sort(a), np.sort(b)) for a, b in splitter.split(np.zeros(len(train)), y_train)]
    what = "stratified" if stratified else "random"
    return Split(kind, train, holdout, folds, None, None,
                 f"{what} holdout of {len(holdout):,} rows ({len(holdout) / len(table):.0%}); "
                 f"{spec.cv}-fold {what} CV on {len(train):,} rows")


def search_sample(split: Split, *, rows: int | None, seed: int, why: str = "training.search_rows") -> Split:
    """The folds narrowed to `rows` training rows drawn at random: the search's cost stops growing with the data,
    while the final fit still sees every training row. Fold membership is kept, so group and time splits keep
    their guarantees."""
    total = len(split.train_index)
    if rows is None or total <= rows:
        return split
    keep = np.zeros(total, dtype=bool)
    keep[np.random.default_rng(seed).choice(total, size=rows, replace=False)] = True
    folds = [(fit[keep[fit]], valid[keep[valid]]) for fit, valid in split.folds]
    searches = "validates" if split.one_fold else "cross-validates"
    return replace(split, folds=folds, description=f"{split.description}; the search {searches} a "
                                                   f"{rows:,}-row sample ({why})")


def _enough_per_class(y: np.ndarray, *, needed: int, where: str, cv: int) -> None:
    labels, counts = np.unique(y.astype(str), return_counts=True)
    short = [(label, count) for label, count in zip(labels, counts, strict=True) if count < needed]
    if short:
        label, count = min(short, key=lambda pair: pair[1])
        raise DataError.single(
            f"The class '{label}' has too few rows for {cv}-fold cross-validation and a holdout.",
            where="business.target", expected=f"at least {needed} rows of every class in {where}",
            got=", ".join(f"'{lab}': {n} rows" for lab, n in short[:5]),
            fix=f"set training.cv to {max(2, count - 1)} or fewer, merge or drop rare classes, or collect more rows",
        )


def _column(table: pd.DataFrame, name: str, *, where: str) -> pd.Series:
    if name not in table.columns:
        guess = difflib.get_close_matches(name, [str(c) for c in table.columns], n=1)
        raise ConfigError.single(
            f"{where} names a column that is not in the data.", where=where, expected="a column of the data",
            got=f"'{name}'", fix=f"did you mean '{guess[0]}'?" if guess else "check the column name",
        )
    return table[name]


def _group_split(table: pd.DataFrame, *, spec: Training, y: np.ndarray, classification: bool,
                 seed: int) -> Split:
    column = _column(table, spec.group_by or "", where="training.group_by")
    groups = column.astype("string").fillna("(missing)").to_numpy(dtype=object)
    n_groups = len(set(groups))
    if n_groups < spec.cv + 1:
        raise DataError.single(
            f"Too few groups in {spec.group_by} for a holdout and {spec.cv} folds.", where="training.group_by",
            expected=f"at least {spec.cv + 1} groups", got=f"{n_groups}",
            fix="lower training.cv, or group by a column with more distinct values",
        )
    index = np.arange(len(table))
    parts = max(2, round(1 / spec.holdout))
    if classification:
        holdout_splitter = StratifiedGroupKFold(parts, shuffle=True, random_state=seed)
        train, holdout = next(holdout_splitter.split(index, y, groups))
    else:
        shuffle = GroupShuffleSplit(n_splits=1, test_size=spec.holdout, random_state=seed)
        train, holdout = next(shuffle.split(index, y, groups))
    train, holdout = np.sort(train), np.sort(holdout)
    train_groups = groups[train]
    splitter: GroupKFold | StratifiedGroupKFold
    if classification:
        _enough_per_class(y[train], needed=spec.cv, where="the training split", cv=spec.cv)
        splitter = StratifiedGroupKFold(spec.cv, shuffle=True, random_state=seed)
    else:
        splitter = GroupKFold(spec.cv, shuffle=True, random_state=seed)
    folds = [(np.sort(a), np.sort(b)) for a, b in splitter.split(np.zeros(len(train)), y[train], train_groups)]
    return Split("group", train, holdout, folds, train_groups, None,
                 f"holdout of {len(holdout):,} rows ({len(holdout) / len(table):.0%}) in "
                 f"{len(set(groups[holdout])):,} groups of {spec.group_by}; {spec.cv}-fold group CV on "
                 f"{len(train):,} rows: no group on both sides")


def _time_split(table: pd.DataFrame, *, spec: Training, y: np.ndarray) -> Split:
    name = spec.time_column or ""
    column = _column(table, name, where="training.time_column")
    moments = _as_time(column, name=name)
    order = np.argsort(moments, kind="stable")
    ordered = moments[order]
    cut = _snap(ordered, int(round(len(table) * (1 - spec.holdout))))
    if cut <= spec.cv + 1 or cut >= len(table):
        raise DataError.single(
            f"The column {name} has too few distinct times for a time-ordered holdout.",
            where="training.time_column", expected="many distinct times", got=f"{len(np.unique(moments))}",
            fix="order rows by a finer time column, or use split: random",
        )
    train, holdout = order[:cut], order[cut:]
    times = ordered[:cut]  # training rows oldest first, so positions into them are time ranks
    bounds = [_snap(times, int(round(len(times) * i / (spec.cv + 1)))) for i in range(1, spec.cv + 1)]
    bounds.append(len(times))
    folds = [(np.arange(0, start), np.arange(start, end))
             for start, end in zip(bounds[:-1], bounds[1:], strict=True) if 0 < start < end]
    if len(folds) < 2:
        raise DataError.single(
            f"The column {name} has too few distinct times for {spec.cv} expanding-window folds.",
            where="training.time_column", expected=f"at least {spec.cv + 1} distinct times in training",
            got=f"{len(np.unique(times))}", fix="lower training.cv or use split: random",
        )
    # positions into training rows follow `train` (time order), so re-sort both to ascending table positions
    ascending = np.argsort(train, kind="stable")
    position_of = np.empty(len(train), dtype=int)
    position_of[ascending] = np.arange(len(train))
    folds = [(np.sort(position_of[a]), np.sort(position_of[b])) for a, b in folds]
    time_rank = np.empty(len(train), dtype=int)
    time_rank[position_of] = np.arange(len(train))
    first_held = pd.Timestamp(ordered[cut]) if ordered.dtype.kind == "M" else f"{ordered[cut]:g}"
    return Split("time", np.sort(train), np.sort(holdout), folds, None, time_rank,
                 f"time-ordered holdout: the latest {len(holdout):,} rows ({len(holdout) / len(table):.0%}, "
                 f"{name} from {first_held}); {len(folds)}-fold expanding-window CV on {len(train):,} rows")


def _as_time(column: pd.Series, *, name: str) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(values)
    else:
        parsed = column if pd.api.types.is_datetime64_any_dtype(column) else pd.to_datetime(
            column.astype("string"), errors="coerce", format="mixed")
        missing = parsed.isna().to_numpy()
        values = parsed.to_numpy(dtype="datetime64[ns]")
    if missing.any():
        raise DataError.single(
            f"Rows without a time cannot be ordered by {name}.", where=f"column {name}",
            expected="a date or number in every row", got=f"{int(missing.sum()):,} missing or unreadable",
            fix="fill or drop those rows, or use split: random",
        )
    return values


def _snap(ordered: np.ndarray, cut: int) -> int:
    """Move a cut forward past rows sharing its time, so one moment never straddles a boundary."""
    cut = min(max(cut, 1), len(ordered))
    while 0 < cut < len(ordered) and ordered[cut] == ordered[cut - 1]:
        cut += 1
    return cut


def stopping_slice(rows: np.ndarray, *, split: Split, y: np.ndarray, share: float, seed: int,
                   classification: bool) -> tuple[np.ndarray, np.ndarray]:
    """Split a fold's training rows into (fit, stop): early stopping watches `stop`, never the fold's validation
    rows. Time splits stop on their latest rows, group splits on whole groups, classification keeps class shares."""
    count = max(1, int(round(len(rows) * share)))
    if split.time_rank is not None:
        ordered = rows[np.argsort(split.time_rank[rows], kind="stable")]
        return np.sort(ordered[:-count]), np.sort(ordered[-count:])
    if split.groups is not None and len(set(split.groups[rows])) >= 4:
        shuffle = GroupShuffleSplit(n_splits=1, test_size=share, random_state=seed)
        fit, stop = next(shuffle.split(rows, groups=split.groups[rows]))
        return rows[fit], rows[stop]
    labels = y[rows]
    stratify = None
    if classification:
        _, counts = np.unique(labels.astype(str), return_counts=True)
        stratify = labels if counts.min() >= 2 and count >= len(counts) else None
    fit, stop = train_test_split(rows, test_size=count, random_state=seed, stratify=stratify)
    return np.sort(fit), np.sort(stop)
