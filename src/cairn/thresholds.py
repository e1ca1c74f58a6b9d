"""The thresholds the data-quality checks and the exploration findings share, each held once.

Both stages judge the same table, so they must agree on when a class is rare, when a column is almost constant
or mostly missing, and when a distribution is skewed. Exploration reads these values directly; the quality checks
read the first three through the `data.quality` settings, which a user may change and whose defaults are these.
The encoder's power transform of skewed features (cairn.estimators.shapes) starts at `SKEWED` too. A leaf module:
it imports nothing from cairn, so the config, the estimators and the stages may all read it.
"""

from __future__ import annotations

RARE_CLASS_SHARE = 0.05
"""A class under 5% of the labelled rows is rare enough that accuracy hides it: judge by AUC, F1 or recall
(the default of data.quality.imbalance_warn)."""

ALMOST_CONSTANT_SHARE = 0.99
"""One value in 99% of the rows leaves too few others to learn from; at 95% (Ames's Land_Slope) the other
values still fill 141 of 2,930 rows (the default of data.quality.near_constant)."""

MOSTLY_MISSING_SHARE = 0.5
"""A column missing in more than half of its rows is mostly imputed values: worth a look before a model learns
from it (the default of data.quality.missing_warn)."""

SKEWED = 1.0
"""|skewness| above 1 is the usual line past which a log or power transform reshapes a distribution usefully;
the encoder uses the same line for features (cairn.estimators.shapes.SKEW_LIMIT)."""

VERY_SKEWED = 2.0
"""Features are called skewed only above 2: the encoder already reshapes those above `SKEWED` for the models
that scale, so the finding names only the long tails worth a look."""
