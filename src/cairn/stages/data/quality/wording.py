"""How a finding words what it saw: values through the privacy mask, counts with their noun, rows by number.

Every check phrases its `detail` and `example` with these, so a data value never reaches a finding unmasked.
"""

from __future__ import annotations

import numpy as np

from cairn.stages.data.types import Mask

SHOWN = 3
"""At most this many values or groups are named in one finding."""


def _plain(value: object) -> object:
    """2031.0 reads as 2031: a column with a missing value is stored as floats, but its values are whole."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    return value.item() if isinstance(value, np.generic) else value


def quoted(mask: Mask, column: str, value: object) -> str:
    return f"'{mask(column, _plain(value))}'"


def masked(mask: Mask, column: str, value: object) -> str:
    return mask(column, _plain(value))


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 row', '2 rows', '1 class', '6 classes': the count with its noun, in the plural unless the count is 1.

    The plural of the last word is `many` when given, else '-es' after s, x, z, ch and sh, else '-s'.
    """
    if count == 1:
        return f"{count:,} {word}"
    if many is None:
        many = word + ("es" if word.endswith(("s", "x", "z", "ch", "sh")) else "s")
    return f"{count:,} {many}"


def verb(count: int, one: str, many: str) -> str:
    """The verb that agrees with a count: verb(1, 'has', 'have') is 'has'."""
    return one if count == 1 else many


def row_numbers(flags: np.ndarray) -> str:
    """Where to look: the first flagged rows, counted from 1 as a spreadsheet shows data rows."""
    positions = np.flatnonzero(flags)[:SHOWN] + 1
    word = "row " if flags.sum() == 1 else "rows "
    return word + ", ".join(f"{p:,}" for p in positions) + (" ..." if flags.sum() > SHOWN else "")
