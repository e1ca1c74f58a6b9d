"""Stage 2, data collection: read the source, fingerprint it, check it fits the problem, summarise its quality.

Reading and checking happen before a store is opened, so a project whose data is unusable leaves nothing behind.
"""

from dataclasses import replace
from pathlib import Path

from cairn.config.schema import ProjectConfig
from cairn.stages.data.checks import check_fits_problem, stop_on_quality
from cairn.stages.data.privacy import Protected, protect, redact_text
from cairn.stages.data.profile import DataProfile, Finding, column_kind, profile_table
from cairn.stages.data.sources import SourceRead, read_source


def read_protected(config: ProjectConfig, *, base_dir: Path) -> tuple[SourceRead, Protected]:
    """Read the source and handle personal data at once, so no raw PII reaches a check, a plot or the store."""
    read = read_source(config.data, base_dir=base_dir)
    protected = protect(read.table, spec=config.data.privacy, target=config.business.target, seed=config.seed)
    return replace(read, table=protected.table), protected

__all__ = ["DataProfile", "Finding", "Protected", "SourceRead", "check_fits_problem", "column_kind", "profile_table",
           "protect", "read_protected", "read_source", "redact_text", "stop_on_quality"]
