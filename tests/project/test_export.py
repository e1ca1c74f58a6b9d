"""`cairn export` writes a folder that serves without the project; `cairn serve --model DIR` serves it, checked."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import cairn
from cairn.cli import app
from cairn.project import Project
from cairn.registry import Registry
from tests.project.test_model_bundle import planted_pickle
from tests.servers import free_port, wait_until_healthy

runner = CliRunner()


@pytest.fixture(scope="module")
def quick_project(quick_house_prices):
    return quick_house_prices


@pytest.fixture(scope="module")
def exported(quick_project, tmp_path_factory):
    target = tmp_path_factory.mktemp("out") / "house-prices-export"
    result = runner.invoke(app, ["export", "--to", str(target), "-p", str(quick_project / "cairn.yaml")])
    assert result.exit_code == 0, result.output
    assert f"cairn serve --model {target}" in result.stdout
    return target


def test_the_folder_holds_bundle_requirements_card_openapi_dockerfile_readme(quick_project, exported):
    names = {str(path.relative_to(exported)) for path in exported.rglob("*") if path.is_file()}
    assert names == {"export.json", "model/manifest.json", "model/model.json", "model/pipeline.joblib",
                     "requirements.txt", "MODEL_CARD.md", "openapi.json", "Dockerfile", "README.md", "SHA256SUMS"}
    project = Project.load(quick_project / "cairn.yaml")
    store = project.open_store(create=False)
    try:
        registered = Registry(store).get(project.config.model_name)
        stored_manifest = store.artifacts.read(registered.artifact_sha256)
    finally:
        store.close()
    assert (exported / "model" / "manifest.json").read_bytes() == stored_manifest  # the bundle byte for byte
    settings = json.loads((exported / "export.json").read_text())
    assert settings["manifest_sha256"] == registered.artifact_sha256 and settings["version"] == registered.version
    for line in (exported / "SHA256SUMS").read_text().splitlines():  # as `sha256sum -c` reads it
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((exported / name).read_bytes()).hexdigest() == digest, name
    described = json.loads((exported / "model" / "model.json").read_text())
    pins = (exported / "requirements.txt").read_text().splitlines()
    assert f"cairn=={cairn.__version__}" in pins and described["packages"]
    assert all(f"{name}=={version}" in pins for name, version in described["packages"].items())
    _, card = project.card()
    assert (exported / "MODEL_CARD.md").read_text() == card
    openapi = json.loads((exported / "openapi.json").read_text())
    assert {"/predict", "/health", "/explain"} <= set(openapi["paths"])
    assert "Gr_Liv_Area" in openapi["components"]["schemas"]["Record"]["properties"]
    dockerfile = (exported / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile and "\nUSER cairn\n" in dockerfile
    assert "HEALTHCHECK" in dockerfile and "/health" in dockerfile.split("HEALTHCHECK", 1)[1].split("\nCMD [\"cairn")[0]
    assert '"serve", "--model", "/srv/model"' in dockerfile
    readme = (exported / "README.md").read_text()
    assert "cairn serve --model ." in readme and "curl" in readme and "/metrics" in readme


def test_the_served_export_answers_as_cairn_predict(quick_project, exported, tmp_path):
    rows = pd.read_csv(quick_project / "data" / "ames.csv.gz").head(5).drop(columns="Sale_Price")
    rows.to_csv(tmp_path / "rows.csv", index=False)
    scored = runner.invoke(app, ["predict", str(tmp_path / "rows.csv"), "-p", str(quick_project / "cairn.yaml")])
    assert scored.exit_code == 0, scored.output
    expected = pd.read_csv(io.StringIO(scored.stdout))["prediction"].to_numpy()
    elsewhere = tmp_path / "elsewhere"  # no cairn.yaml, no .cairn: only the exported folder
    elsewhere.mkdir()
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("CAIRN_API_KEY", None)
    process = subprocess.Popen([sys.executable, "-m", "cairn.cli", "serve", "--model", str(exported), "--port",
                                str(port)], cwd=elsewhere, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, process)
        records = json.loads(rows.to_json(orient="records"))
        many = httpx.post(f"{base}/predict", json=records).json()
        one = httpx.post(f"{base}/predict", json=records[0]).json()
        assert np.allclose(many["predictions"], expected, rtol=1e-9)
        assert one["prediction"] == pytest.approx(expected[0], rel=1e-9) and one["version"] == 1
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    assert f"from {exported}" in output and "no prediction log" in output
    assert list(elsewhere.iterdir()) == [] and not (exported / "predictions").exists()


def test_an_existing_folder_is_refused_unless_forced(quick_project, exported, tmp_path):
    project = ["-p", str(quick_project / "cairn.yaml")]
    before = (exported / "SHA256SUMS").read_text()
    refused = runner.invoke(app, ["export", "--to", str(exported), *project])
    assert refused.exit_code == 2 and "already exists" in refused.output and "--force" in refused.output
    forced = runner.invoke(app, ["export", "--to", str(exported), "--force", *project])
    assert forced.exit_code == 0, forced.output
    assert (exported / "SHA256SUMS").read_text() == before  # the same version exports to the same bytes
    other = tmp_path / "my-files"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    kept = runner.invoke(app, ["export", "--to", str(other), "--force", *project])
    assert kept.exit_code == 2 and "not an earlier export" in kept.output
    assert (other / "notes.txt").read_text() == "mine"
    assert [path.name for path in tmp_path.iterdir()] == ["my-files"]  # no staging folder left behind


@pytest.mark.parametrize(("name", "named"), [("model/pipeline.joblib", "file pipeline.joblib"),
                                             ("model/model.json", "file model.json"),
                                             ("model/manifest.json", "manifest")])
def test_an_altered_export_is_refused_at_serve_by_name(quick_project, exported, tmp_path, name, named):
    copy = tmp_path / "altered"
    runner.invoke(app, ["export", "--to", str(copy), "-p", str(quick_project / "cairn.yaml")])
    marker = tmp_path / "pwned"
    target = copy / name
    if name.endswith(".joblib"):
        target.write_bytes(planted_pickle(marker))
    else:
        target.write_bytes(target.read_bytes() + b" ")  # still valid JSON, a byte more
    result = runner.invoke(app, ["serve", "--model", str(copy), "--port", str(free_port())])
    assert result.exit_code == 2, result.output
    assert named in result.output and "does not match its sha256" in result.output
    assert "serving" not in result.output and not marker.exists()


def test_a_folder_that_is_no_export_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["serve", "--model", str(tmp_path), "--port", str(free_port())])
    assert result.exit_code == 2 and "is not a model exported by cairn" in result.output


def test_an_exported_model_beyond_loopback_needs_the_key_it_names(exported, monkeypatch):
    monkeypatch.delenv("CAIRN_API_KEY", raising=False)
    result = runner.invoke(app, ["serve", "--model", str(exported), "--host", "0.0.0.0", "--port", str(free_port())])
    assert result.exit_code == 2 and "without an API key" in result.output
    assert json.loads((exported / "export.json").read_text())["api_key_env"] == "CAIRN_API_KEY"
    assert "-e CAIRN_API_KEY=" in (exported / "Dockerfile").read_text()


def test_a_port_in_use_is_a_user_error_before_the_server_is_announced(exported):
    """Another server on the port: exit 2 naming the port (addresses masked, as in every error) and a free one
    to try, not 'serving ...' and then uvicorn's own error with exit 3."""
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = runner.invoke(app, ["serve", "--model", str(exported), "--port", str(port)])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and f"Cannot listen on 127.0.*.*:{port}: the port is in use." in said, said
    assert f"pass another --port (e.g. --port {port + 1})" in said and "serving" not in said
    result = runner.invoke(app, ["serve", "--model", str(exported), "--host", "nowhere.invalid", "--insecure",
                                 "--port", str(port)])
    assert result.exit_code == 2 and "Cannot listen on nowhere.invalid" in " ".join(result.output.split())
