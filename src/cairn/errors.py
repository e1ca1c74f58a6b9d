"""The errors a user can cause, kept apart from bugs.

    CairnError                 anything the user can fix; the CLI prints it and exits 2, no traceback
    ├── ConfigError            the project file: a field path, what was expected, what was found, a fix
    ├── DataError              the data: a source or a column, what was expected, what was found, a fix
    ├── StoreError             the store or the artifact folder cannot be used as asked
    ├── ClusterError           the Dask cluster lost the work (workers that kept dying, a scheduler gone)
    └── NotFoundError          a run, model or version that does not exist

Anything else raised inside cairn is a bug and is shown with its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self


@dataclass
class Problem:
    """One thing wrong, phrased so that a user can fix it without reading code."""

    where: str
    expected: str
    got: str | None = None
    fix: str | None = None

    def __str__(self) -> str:
        text = f"{self.where}: expected {self.expected}"
        if self.got is not None:
            text += f"; got {self.got}"
        text += "."
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


@dataclass
class CairnError(Exception):
    """A mistake the user can fix: a headline and the problems behind it."""

    headline: str
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        if not self.problems:
            return self.headline
        lines = [self.headline] + [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)

    @classmethod
    def single(cls, headline: str, *, where: str, expected: str, got: str | None = None,
               fix: str | None = None) -> Self:
        return cls(headline, [Problem(where=where, expected=expected, got=got, fix=fix)])


class ConfigError(CairnError):
    """The project file is missing, unreadable or does not match the schema."""


class DataError(CairnError):
    """The data named by the project file is missing, unreadable or unusable for the problem."""


class StoreError(CairnError):
    """The store or artifact folder cannot be opened or written."""


class ClusterError(CairnError):
    """The Dask cluster lost the work: workers that kept dying, or a scheduler that went away mid-run."""


class NotFoundError(CairnError):
    """A run, model or model version that the store does not hold."""
