"""The run report: one self-contained HTML file, business verdict first.

cairn.project.report builds a ``ReportContext`` and calls ``write_report``; nothing here reads the store or runs stages.
"""

from cairn.report.context import (
    ClassRow,
    HoldoutMetric,
    LeaderboardRow,
    QualityFinding,
    ReportContext,
    StageSummary,
    VerdictLine,
)
from cairn.report.render import render_report, write_report

__all__ = [
    "ClassRow",
    "HoldoutMetric",
    "LeaderboardRow",
    "QualityFinding",
    "ReportContext",
    "StageSummary",
    "VerdictLine",
    "render_report",
    "write_report",
]
