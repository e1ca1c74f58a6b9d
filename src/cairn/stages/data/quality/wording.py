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


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def row_numbers(flags: np.ndarray) -> str:
    """Where to look: the first flagged rows, counted from 1 as a spreadsheet shows data rows."""
    positions = np.flatnonzero(flags)[:SHOWN] + 1
    word = "row " if flags.sum() == 1 else "rows "
    return word + ", ".join(f"{p:,}" for p in positions) + (" ..." if flags.sum() > SHOWN else "")
