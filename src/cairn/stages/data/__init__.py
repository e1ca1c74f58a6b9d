"""Stage 2, data collection: read the source, fingerprint it, check it fits the problem, summarise its quality.

Reading and checking happen before a store is opened, so a project whose data is unusable leaves nothing behind.
"""

from dataclasses import replace
from pathlib import Path

import pandas as pd

from cairn.config.schema import ProjectConfig
from cairn.privacy import Protected, protect
from cairn.stages.data.checks import check_fits_problem, stop_on_quality
from cairn.stages.data.profile import DataProfile, Finding, profile_table
from cairn.stages.data.sources import SourceRead, read_source
from cairn.thresholds import MOSTLY_MISSING_SHARE


def whole_source_notes(read: SourceRead) -> list[str]:
    """What DuckDB saw of the whole source when training uses a sample: the sample's checks cannot say it."""
    profile = read.profile
    assert profile is not None
    notes = [f"profiled all {profile.rows:,} rows out of core; training uses a sample of {len(read.table):,} "
             f"(seed {profile.seed})"]
    if profile.duplicate_rows:
        notes.append(f"whole source: {profile.duplicate_rows:,} exact duplicate rows")
    for column in profile.columns:
        if column.missing_share > MOSTLY_MISSING_SHARE:
            notes.append(f"whole source: {column.name} is missing in {column.missing_share:.0%} of rows")
        if column.distinct_estimate <= 1:
            notes.append(f"whole source: {column.name} has a single value")
    return notes


def read_protected(config: ProjectConfig, *, base_dir: Path) -> tuple[SourceRead, Protected]:
    """Read the source and handle personal data at once, so no raw PII reaches a check, a plot or the store."""
    return protect_read(read_source(config.data, base_dir=base_dir, seed=config.seed), config)


def protect_read(read: SourceRead, config: ProjectConfig) -> tuple[SourceRead, Protected]:
    """A table read by other means (a retrain's source plus new rows) handled exactly as data.source is."""
    protected = protect(read.table, spec=config.data.privacy, target=config.business.target, seed=config.seed)
    return replace(read, table=_target_as_text(protected.table, config.business.target)), protected


def _target_as_text(table: pd.DataFrame, target: str) -> pd.DataFrame:
    """Text columns arrive as categories (sources.compact_text), but class labels are read, trimmed and merged as
    text: the target goes back to strings, one column."""
    if target not in table.columns or not isinstance(table[target].dtype, pd.CategoricalDtype):
        return table
    table = table.copy(deep=False)
    table[target] = table[target].astype("str")
    return table

__all__ = ["DataProfile", "Finding", "Protected", "SourceRead", "check_fits_problem", "profile_table", "protect_read",
           "read_protected", "read_source", "stop_on_quality", "whole_source_notes"]
