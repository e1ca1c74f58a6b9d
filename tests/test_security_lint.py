"""bandit over src, as `make lint` runs it: no finding of medium severity or more that the code does not explain.

A finding that is not a risk is silenced where it is, with ``# nosec BXXX`` and the reason: after a second ``#``
(``# nosec B608  # why``: bandit reads every word after ``nosec`` as a test id and warns about the others) or after
a colon (``# nosec B608: why``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BANDIT = Path(sys.executable).with_name("bandit")

pytestmark = pytest.mark.skipif(not BANDIT.exists(), reason="bandit is installed with the test extra")


def test_bandit_finds_nothing_unexplained_at_medium_severity_or_more() -> None:
    report = subprocess.run([str(BANDIT), "-q", "-r", "src", "-ll", "-f", "json"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    findings = json.loads(report.stdout)["results"]
    listed = "\n".join(f"{item['filename']}:{item['line_number']} {item['test_id']} {item['issue_text']}"
                       for item in findings)
    assert report.returncode == 0 and not findings, f"bandit (exit {report.returncode}):\n{listed}"


def test_every_nosec_names_its_test_and_says_why() -> None:
    """A bare ``# nosec`` would silence every test on its line, unexplained."""
    unexplained = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "# nosec" in line and not re.search(r"# nosec B\d{3}(, ?B\d{3})*(: | +# )\S", line):
                unexplained.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not unexplained, "\n".join(unexplained)
