"""The positive class of a binary problem: named in `business.positive_class`, else the minority class.

Every binary metric, plot, explanation and threshold is about this class. Before it was named, it was whichever
label sorted last, so credit data labelled bad/good was scored on finding 'good'.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cairn.errors import ConfigError


def positive_class(y: np.ndarray, *, configured: str | int | bool | None) -> tuple[Any, str]:
    """The label, as it appears in the data, and the note that says how it was chosen."""
    counts = pd.Series(y).value_counts()
    labels = sorted(counts.index.tolist(), key=str)
    if configured is not None:
        matching = [label for label in labels if _same(label, configured)]
        if not matching:
            raise ConfigError.single(
                f"business.positive_class '{configured}' is not a label of the target.",
                where="business.positive_class", expected=f"one of {', '.join(repr(str(v)) for v in labels)}",
                got=repr(configured), fix=f"set business.positive_class to one of {', '.join(map(str, labels))}")
        label = matching[0]
        share = counts[label] / counts.sum()
        return label, f"positive class '{label}' ({share:.0%} of training rows), as business.positive_class names it"
    fewest = counts.min()
    label = [v for v in labels if counts[v] == fewest][-1]  # a tie keeps the old rule: the label sorting last
    share = fewest / counts.sum()
    return label, (f"positive class '{label}' (the minority class, {share:.0%} of training rows); set "
                   f"business.positive_class to choose")


def _same(label: Any, configured: str | int | bool) -> bool:
    """YAML reads an unquoted `yes` as true: a boolean matches yes/no, true/false and 1/0 labels alike."""
    if isinstance(configured, bool):
        words = {"true", "yes", "y", "1", "1.0"} if configured else {"false", "no", "n", "0", "0.0"}
        return str(label).strip().lower() in words
    return str(label) == str(configured)
