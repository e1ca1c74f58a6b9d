"""Stage 2, data collection: read the source, fingerprint it, check it fits the problem, summarise its quality.

Reading and checking happen before a store is opened, so a project whose data is unusable leaves nothing behind.
"""

from cairn.stages.data.checks import check_fits_problem, stop_on_quality
from cairn.stages.data.profile import DataProfile, Finding, column_kind, profile_table
from cairn.stages.data.sources import SourceRead, read_source

__all__ = ["DataProfile", "Finding", "SourceRead", "check_fits_problem", "stop_on_quality", "column_kind", "profile_table",
           "read_source"]
