"""The Python API: a project file, its runs and its models (`cli.py` is a thin layer over this)."""

from cairn.project.api import Project, Run

__all__ = ["Project", "Run"]
