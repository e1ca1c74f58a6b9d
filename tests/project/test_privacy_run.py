"""No raw personal data in anything a run writes: PII planted in a copy of Ames, every written file searched."""

import io
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cairn.cli import app
from tests.examples import QUICK, copy_example


def luhn_card(number: int) -> str:
    digits = [int(d) for d in f"411111{number:09d}"]
    total = sum(d if i % 2 else sum(divmod(d * 2, 10)) for i, d in enumerate(digits))
    check = (10 - total % 10) % 10
    text = "".join(map(str, digits)) + str(check)
    return " ".join(text[i:i + 4] for i in range(0, 16, 4))


def plant_pii(folder):
    table = pd.read_csv(folder / "data" / "ames.csv.gz")
    rows = np.arange(len(table))
    planted = {
        "email": [f"owner{i}.smith@example.org" for i in rows],
        "phone": [f"(515) 555-{i % 10_000:04d}" for i in rows],
        "ssn": [f"{123 + i % 400:03d}-45-{1000 + i:04d}" for i in rows],
        "card_number": [luhn_card(i) for i in rows],
        "ip_address": [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in rows],
        "home_address": [f"{100 + i} Oakwood Street" for i in rows],
        "customer_name": [f"Zebulon Quartermaine{i}" for i in rows],
    }
    for name, values in planted.items():
        table[name] = values
    table.to_csv(folder / "data" / "ames.csv.gz", index=False)
    return planted


def written_texts(folder):
    """Every file under the project after the run, as text; artifacts decoded (they are compressed)."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.parent.name != "data"):
        raw = path.read_bytes()
        yield str(path), raw.decode("utf-8", errors="ignore")
        if "artifacts" in path.parts:
            yield str(path), decoded_artifact(raw)


def decoded_artifact(raw: bytes) -> str:
    """Artifacts are Parquet (zstd) or joblib (zlib): search what they hold, not their compressed bytes."""
    try:
        return pd.read_parquet(io.BytesIO(raw)).to_csv()
    except Exception:
        pass
    try:
        return pickle.dumps(joblib.load(io.BytesIO(raw))).decode("latin-1")
    except Exception:
        return ""


@pytest.mark.parametrize("policy", ["drop", "hash"])
def test_no_raw_pii_in_store_reports_logs_or_messages(tmp_path, monkeypatch, policy):
    privacy = {"pii": policy} | ({"salt_env": "CAIRN_TEST_SALT"} if policy == "hash" else {})
    folder = copy_example(tmp_path / "hp", **{**QUICK, "exploration": {"enabled": True}},
                          data={"privacy": privacy})
    monkeypatch.setenv("CAIRN_TEST_SALT", "not-a-real-secret")
    planted = plant_pii(folder)
    result = CliRunner().invoke(app, ["--verbose", "run", "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 0, result.output
    shown = CliRunner().invoke(app, ["show", "--json", "-p", str(folder / "cairn.yaml")]).output
    manifest = yaml.safe_load(shown)["manifest"]
    assert {c["column"]: c["kind"] for c in manifest["privacy"]["columns"]} == {
        "email": "email", "phone": "phone", "ssn": "ssn", "card_number": "card", "ip_address": "ip",
        "home_address": "address", "customer_name": "person_name"}
    texts = list(written_texts(folder)) + [("cli output", result.output + shown)]
    assert len(texts) > 20
    probes = {name: values[::97] for name, values in planted.items()}
    for where, text in texts:
        for name, values in probes.items():
            leaked = [v for v in values if v in text]
            assert not leaked, f"raw {name} value {leaked[0]!r} found in {where}"


def test_fail_policy_names_columns_not_values(tmp_path):
    folder = copy_example(tmp_path / "hp", **QUICK, data={"privacy": {"pii": "fail"}})
    planted = plant_pii(folder)
    result = CliRunner().invoke(app, ["run", "-q", "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 2 and "email" in result.output and "card_number" in result.output
    assert not any(value in result.output for values in planted.values() for value in values[:50])
    assert not (folder / ".cairn").exists()
