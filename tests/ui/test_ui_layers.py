"""The UI is a top layer: only the CLI imports it, and what it shows ships with the package (no CDN)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).parents[2]
UI = ROOT / "src" / "cairn" / "ui"


def test_only_the_cli_imports_the_ui():
    graph = grimp.build_graph("cairn")
    importers = {module for ui_module in graph.find_descendants("cairn.ui") | {"cairn.ui"}
                 for module in graph.find_modules_that_directly_import(ui_module)
                 if not module.startswith("cairn.ui")}
    assert importers == {"cairn.cli"}


def test_templates_and_static_files_are_package_data_and_name_no_other_host():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["cairn"]
    assert {"ui/templates/*.html", "ui/static/*"} <= set(declared)
    for path in [*UI.glob("templates/*.html"), *UI.glob("static/*")]:
        text = path.read_text()
        assert not re.search(r"(src|href|url)\s*[=(]\s*[\"']?(https?:)?//", text), path  # nothing off-site
