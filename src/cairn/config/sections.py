"""The ten stages, each named once: the same word is the stage, its section of cairn.yaml, `--until/--from`,
the report's heading and `cairn show`'s line. Light on purpose: the schema and the stages both read it."""

from __future__ import annotations

STAGE_TITLES: dict[str, str] = {
    "business": "1 Business understanding",
    "data": "2 Data collection",
    "preprocessing": "3 Preprocessing",
    "exploration": "4 Exploratory analysis",
    "features": "5 Feature engineering",
    "models": "6 Model selection",
    "training": "7 Training",
    "evaluation": "8 Evaluation",
    "deployment": "9 Deployment",
    "monitoring": "10 Monitoring",
}
STAGE_NAMES: tuple[str, ...] = tuple(STAGE_TITLES)
RENAMED: dict[str, str] = {"explore": "exploration", "selection": "models"}
"""Names used before 0.2.0, still read (with a deprecation message) as a section or a stage."""


def deprecation(old: str, *, where: str) -> str:
    new = RENAMED[old]
    return (f"{where}: '{old}' is now called '{new}' (one name per stage); '{old}' still works in this release "
            f"but will be removed: write '{new}'.")
