"""The README stays true: every command it shows exists, and every cairn.yaml it points to validates."""

import re
from pathlib import Path

from typer.testing import CliRunner

from cairn.cli import app

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def test_every_command_in_the_readme_exists():
    code = "\n".join(re.findall(r"```\n(.*?)```", README, flags=re.DOTALL))
    shown = set(re.findall(r"(?:^|\$ |/ )cairn ([a-z]+)", code, flags=re.MULTILINE))
    shown |= set(re.findall(r"`cairn ([a-z]+)", README))
    assert {"init", "run", "serve", "monitor", "promote", "rollback"} <= shown
    help_text = CliRunner().invoke(app, ["--help"]).output
    for command in shown:
        assert re.search(rf"\b{command}\b", help_text), f"README shows `cairn {command}`, which does not exist"


def test_the_two_setup_commands_are_in_the_makefile():
    makefile = (ROOT / "Makefile").read_text()
    assert "make demo" in README and "make test" in README
    assert re.search(r"^demo:", makefile, flags=re.MULTILINE) and re.search(r"^test:", makefile, flags=re.MULTILINE)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_example_project_validates():
    result = CliRunner().invoke(app, ["validate", "-p", str(ROOT / "examples" / "house-prices" / "cairn.yaml")])
    assert result.exit_code == 0, result.output
