"""Column types read from the values, not from how they are stored.

A CSV column holding '1,250' and '$3.4k' is stored as text but means numbers; '2010-05-01' is a date; 'Y'/'N' is a
yes/no answer; a column unique per row is an identifier. Inferring this up front lets the quality checks compare
like with like and makes sure that numbers stored as text never pass silently as a category with 1,000 levels.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cairn.estimators.text_values import MISSING_MARKERS, parse_text_number, parse_text_numbers

Mask = Callable[[str, object], str]

INFERENCE_VALUES = 50_000
"""Text is typed by its distinct values, at most this many, most frequent first: parsing costs per value."""
NUMBER_SHARE = 0.9
"""A text column is numbers when more than this share of its present values read as numbers."""
DATE_SHARE = 0.9
"""... and dates when more than this share read as dates (in one or a few formats)."""
TRUE_WORDS: frozenset[str] = frozenset({"true", "t", "yes", "y", "1", "on"})
FALSE_WORDS: frozenset[str] = frozenset({"false", "f", "no", "n", "0", "off"})
ID_WORDS: frozenset[str] = frozenset({"id", "uuid", "guid", "key", "pk", "pid", "identifier"})
# Text nearly unique per row whose name ends in one of these is an identifier too ('S115823' in license_number,
# 'INV-0042' in invoice_no), but not 'NO2' or street_no_name; numbers so named are not: a count of views on a few
# hundred rows may be 95% distinct.
NUMBER_WORDS: frozenset[str] = frozenset({"number", "no", "num", "nr"})
# A number column whose name ends in one of these is a place, not a quantity (`_named_like_a_postal_code`).
POSTAL_WORDS: frozenset[str] = frozenset({"zip", "zipcode", "postcode", "postal", "plz"})

DATE_FORMATS: dict[str, str] = {
    "ISO 8601": "ISO8601",
    "m/d/Y": "%m/%d/%Y",
    "d/m/Y": "%d/%m/%Y",
    "m/d/y": "%m/%d/%y",
    "Y/m/d": "%Y/%m/%d",
    "m-d-Y": "%m-%d-%Y",
    "d-m-Y": "%d-%m-%Y",
    "d.m.Y": "%d.%m.%Y",
    "m/d/Y H:M": "%m/%d/%Y %H:%M",
    "m/d/Y H:M:S": "%m/%d/%Y %H:%M:%S",
    "d-b-Y": "%d-%b-%Y",
    "d b Y": "%d %b %Y",
    "d B Y": "%d %B %Y",
    "b d, Y": "%b %d, %Y",
    "B d, Y": "%B %d, %Y",
}
"""Formats tried on text columns, in order of preference: a tie between m/d/Y and d/m/Y goes to m/d/Y."""

_PLAIN_NUMBER = re.compile(r"^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$")
_DATE_LIKE = re.compile(
    r"\d{1,4}[-/.]\d{1,2}|\d[-\s](?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d",
    re.IGNORECASE,
)
_LEADING_ZERO = re.compile(r"^\s*0\d")
_NAME_TOKEN = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


@dataclass(frozen=True)
class ColumnType:
    """What a column means, why cairn thinks so, and how much of it can be read that way."""

    name: str
    kind: str  # number | category | date | boolean | id | text | empty
    detail: str = ""  # e.g. "numbers stored as text ('1,250', '$3.4k')"; values shown went through `mask`
    convertible: float = 1.0  # share of present values readable as `kind` (below 1: some values are not)
    stored: str = "number"  # how the values are held: number | text | boolean | date | empty
    formats: tuple[str, ...] = ()  # for dates stored as text: the strptime formats that read them, best first
    example: str | None = None  # one value that shows the kind, e.g. '$3.4k' (through `mask`)
    overridden: bool = False  # set by data.types, not inferred

    @property
    def stored_as_text(self) -> bool:
        """Numbers or dates held as strings: they need parsing before they can be used."""
        return self.stored == "text" and self.kind in {"number", "date"}


def default_mask(column: str, value: object) -> str:
    """A value as it may be shown, when no privacy module masks it: its text, cut to 40 characters."""
    return str(value)[:40]


def name_tokens(name: object) -> list[str]:
    """The words of a column name in lower case: 'SalePrice2' and 'Sale_Price_2' are both sale, price, 2."""
    return [token.lower() for token in _NAME_TOKEN.findall(str(name))]


def parse_text_dates(values: pd.Series, formats: Iterable[str]) -> pd.Series:
    """Dates read with the first of `formats` that fits each value, as naive UTC timestamps (NaT if none fits)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    text = values.astype("string")
    result = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for fmt in formats:
        todo = result.isna() & text.notna()
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce", utc=True).dt.tz_localize(None)
        result[todo] = parsed.astype("datetime64[ns]")
    return result


def infer_types(table: pd.DataFrame, *, overrides: dict[str, str], mask: Mask = default_mask) -> dict[str, ColumnType]:
    """The type of every column; `overrides` (data.types) win over what the values suggest."""
    types: dict[str, ColumnType] = {}
    fractional = _fractional_columns(table)
    for name in table.columns:
        column_name = str(name)
        if name in fractional:  # what _numeric_type says of it, without a unique() per column
            inferred = ColumnType(column_name, "number", "numbers")
        else:
            inferred = infer_column_type(table[name], name=column_name, mask=mask)
        wanted = overrides.get(column_name)
        if wanted is not None and wanted != inferred.kind:
            inferred = _overridden(table[name], inferred, kind=wanted)
        elif wanted is not None:
            inferred = ColumnType(**{**inferred.__dict__, "overridden": True})
        types[column_name] = inferred
    return types


BLOCK_BYTES = 64 * 2**20
"""At most this much of a table copied at once by `number_blocks`: wide tables gain from blocks, and a million rows
of forty columns must not be copied whole beside the table (the 2 GiB goal of bench/million.py)."""


def number_blocks(table: pd.DataFrame, *, kinds: str = "f") -> Iterator[tuple[list[object], np.ndarray]]:
    """The columns stored as numpy numbers of `kinds` ("f" floats, "iuf" any), as 2-D arrays of one dtype (at
    most BLOCK_BYTES each) with their names: a few passes over thousands of columns instead of a Series each (the
    dtypes are read once)."""
    by_dtype: dict[np.dtype, list[int]] = {}
    for position, dtype in enumerate(table.dtypes):
        if isinstance(dtype, np.dtype) and dtype.kind in kinds:
            by_dtype.setdefault(dtype, []).append(position)
    for dtype, positions in by_dtype.items():
        width = max(1, BLOCK_BYTES // max(len(table) * dtype.itemsize, 1))
        for start in range(0, len(positions), width):
            chunk = positions[start:start + width]
            yield [table.columns[i] for i in chunk], table.iloc[:, chunk].to_numpy()


def _fractional_columns(table: pd.DataFrame) -> set[object]:
    """Float columns holding a finite value with a fraction: numbers, neither 0/1 nor an identifier, whatever
    else they hold. Found in one pass per dtype, since a wide table has thousands of them."""
    found: set[object] = set()
    for names, values in number_blocks(table):
        with np.errstate(invalid="ignore"):
            fraction = (np.isfinite(values) & (values % 1 != 0)).any(axis=0)
        found.update(name for name, has in zip(names, fraction, strict=True) if has)
    return found


def column_kind(column: pd.Series) -> str:
    """The inferred kind of one column (number, category, date, boolean, id, text or empty)."""
    return infer_column_type(column, name=str(column.name)).kind


def infer_column_type(column: pd.Series, *, name: str, mask: Mask = default_mask) -> ColumnType:
    """One column's type: storage first (booleans, datetimes, numbers), then what its text reads as."""
    present = column.dropna()
    if present.empty:
        return ColumnType(name, "empty", "every value is missing", 0.0, stored="empty")
    if pd.api.types.is_bool_dtype(column):
        return ColumnType(name, "boolean", "true/false values", stored="boolean")
    if pd.api.types.is_datetime64_any_dtype(column):
        return ColumnType(name, "date", "dates", stored="date")
    inferred = (_numeric_type(column, present, name=name) if pd.api.types.is_numeric_dtype(column) else
                _text_type(present, name=name, mask=mask))
    if inferred.kind == "number" and _named_like_a_postal_code(name):
        return ColumnType(name, "category", "a postal code: a place, not a quantity (data.types may read it as a "
                          "number)", stored=inferred.stored)
    return inferred


def _named_like_a_postal_code(name: str) -> bool:
    """billing_zip, ZIP, zip_code, postal_code: 98115 is a place, and '98126-2920' is one too, not a number that
    does not read (seattlepets read such codes as numbers and lost 71 of them)."""
    tokens = name_tokens(name)
    return bool(tokens) and (tokens[-1] in POSTAL_WORDS or tokens[-2:] in (["zip", "code"], ["postal", "code"],
                                                                         ["post", "code"]))


def _numeric_type(column: pd.Series, present: pd.Series, *, name: str) -> ColumnType:
    distinct = present.unique()
    if len(distinct) == 2 and set(distinct.tolist()) == {0, 1}:
        return ColumnType(name, "boolean", "0/1 values")
    values = present.to_numpy(dtype="float64", na_value=np.nan)
    integral = pd.api.types.is_integer_dtype(column) or bool(np.isfinite(values).all() and (values % 1 == 0).all())
    if integral and len(present) >= 10:
        unique_share = len(distinct) / len(present)
        span = float(present.max()) - float(present.min()) + 1
        if unique_share == 1 and span <= 1.05 * len(present):
            return ColumnType(name, "id", "integer sequence, unique per row")
        if unique_share >= 0.95 and ID_WORDS & set(name_tokens(name)):
            return ColumnType(name, "id", f"named like an identifier, {unique_share:.0%} of values unique")
    return ColumnType(name, "number", "numbers")


def _text_type(present: pd.Series, *, name: str, mask: Mask) -> ColumnType:
    """Text read by its distinct values, in plain Python: a few hundred short strings are faster that way than
    through pandas string methods, and a column of 1M rows rarely has more than a few thousand."""
    text = present if pd.api.types.is_string_dtype(present) else present.astype("string")
    all_counts = text.value_counts(sort=True)
    distinct, filled = len(all_counts), int(all_counts.sum())
    counts = all_counts.iloc[:INFERENCE_VALUES]
    values = [str(value) for value in counts.index]
    normal = [value.strip().lower() for value in values]
    kept = np.fromiter((word not in MISSING_MARKERS for word in normal), dtype=bool, count=len(values))
    if not kept.all():
        values = [value for value, keep in zip(values, kept, strict=True) if keep]
        normal = [word for word, keep in zip(normal, kept, strict=True) if keep]
        counts = counts[kept]
    weights = counts.to_numpy(dtype="float64")
    total = float(weights.sum())
    if total == 0:
        return ColumnType(name, "empty", "only missing-value markers such as 'N/A'", 0.0, stored="text")

    words = set(normal)
    if words <= TRUE_WORDS | FALSE_WORDS and (words & TRUE_WORDS and words & FALSE_WORDS
                                              or not words <= {"0", "1"}):
        shown = ", ".join(mask(name, word) for word in sorted(words))
        return ColumnType(name, "boolean", f"yes/no answers ({shown})", stored="text")

    readable = _flags(parse_text_number(value) is not None for value in values)
    number_share = float(weights[readable].sum()) / total
    if number_share > NUMBER_SHARE:
        leading_zero = readable & _flags(_LEADING_ZERO.match(value) is not None for value in values)
        if weights[leading_zero].sum() / total > 0.05:
            example = mask(name, values[int(np.argmax(leading_zero))])
            return ColumnType(name, "category", f"codes of digits with leading zeros ('{example}')", stored="text",
                              example=example)
        formatted = readable & _flags(_PLAIN_NUMBER.match(value) is None for value in values)
        shown = [value for value, ok in zip(values, formatted if formatted.any() else readable, strict=True) if ok]
        examples = ", ".join(f"'{mask(name, value)}'" for value in shown[:2])
        return ColumnType(name, "number", f"numbers stored as text ({examples})", number_share, stored="text",
                          example=mask(name, shown[0]))

    date_like = _flags(_DATE_LIKE.search(value) is not None for value in values)
    if weights[date_like].sum() / total > 0.5:
        formats, date_share = _date_formats(pd.Series(values, dtype="string"), counts)
        if date_share > DATE_SHARE:
            labels = [label for label, fmt in DATE_FORMATS.items() if fmt in formats]
            example = mask(name, values[int(np.argmax(date_like))])
            return ColumnType(name, "date", f"dates stored as text ({', '.join(labels)})", date_share,
                              stored="text", formats=tuple(formats), example=example)

    unique_share = distinct / filled
    mean_length = float(np.average([len(value) for value in values], weights=weights))
    mean_words = float(np.average([len(value.split()) for value in values], weights=weights))
    if unique_share >= 0.5 and (mean_words >= 4 or mean_length >= 25 and mean_words >= 2):
        return ColumnType(name, "text", f"free text ({unique_share:.0%} distinct, {mean_length:.0f} characters "
                          "on average)", stored="text")
    if filled >= 10 and (unique_share == 1 or unique_share >= 0.95 and _named_like_an_id(name)):
        reason = "unique per row" if unique_share == 1 else f"named like an identifier, {unique_share:.0%} unique"
        return ColumnType(name, "id", reason, stored="text")
    return ColumnType(name, "category", f"{distinct:,} levels", stored="text")


def _named_like_an_id(name: str) -> bool:
    """A name with an identifier's word in it, or one of several words that ends in a number's (`NUMBER_WORDS`)."""
    tokens = name_tokens(name)
    return bool(ID_WORDS & set(tokens)) or len(tokens) >= 2 and tokens[-1] in NUMBER_WORDS


def _flags(values: Iterable[bool]) -> np.ndarray:
    return np.fromiter(values, dtype=bool)


def _date_formats(values: pd.Series, counts: pd.Series) -> tuple[list[str], float]:
    """The formats that read the most values, best first, greedily until the rest reads with none; and the share
    of values read."""
    total = float(counts.sum())
    weights = counts.to_numpy(dtype="float64")
    parsed = {fmt: pd.to_datetime(values, format=fmt, errors="coerce", utc=True).notna().to_numpy()
              for fmt in DATE_FORMATS.values()}
    chosen: list[str] = []
    done = np.zeros(len(values), dtype=bool)
    while True:
        gains = {fmt: float(weights[ok & ~done].sum()) for fmt, ok in parsed.items() if fmt not in chosen}
        best = max(gains, key=lambda fmt: gains[fmt], default=None)
        if best is None or gains[best] / total < 0.01:
            break
        chosen.append(best)
        done |= parsed[best]
    return chosen, float(weights[done].sum()) / total


def _overridden(column: pd.Series, inferred: ColumnType, *, kind: str) -> ColumnType:
    """data.types wins; the share of values that read as the wanted kind is kept, so a bad override is visible."""
    stored = inferred.stored
    present = column.dropna()
    share = 1.0
    formats: tuple[str, ...] = ()
    if kind == "number" and not present.empty:
        share = float(parse_text_numbers(present).notna().mean())
    elif kind == "date" and not present.empty and not pd.api.types.is_datetime64_any_dtype(column):
        counts = present.astype("string").value_counts()
        chosen, share = _date_formats(pd.Series(counts.index, index=counts.index), counts)
        formats = tuple(chosen)
    elif kind == "boolean" and not present.empty and not pd.api.types.is_bool_dtype(column):
        words = present.astype("string").str.strip().str.lower()
        share = float(words.isin(TRUE_WORDS | FALSE_WORDS).mean())
    return ColumnType(inferred.name, kind, f"set in data.types (values look like {inferred.kind})", share,
                      stored=stored, formats=formats, overridden=True)
