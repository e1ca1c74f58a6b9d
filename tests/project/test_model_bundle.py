"""The registered version is a bundle: JSON a person can read, a pipeline pickled alone, every file's sha256 checked
before anything is deserialised; a tampered, corrupted or missing file is a clear error (exit 2), never an
unpickle."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
from typer.testing import CliRunner

from cairn.cli import app
from cairn.hashing import sha256_bytes
from cairn.model.bundle import BundleError, check_packages
from cairn.project import Project
from cairn.registry import Registry

runner = CliRunner()


@pytest.fixture
def project_copy(house_prices, tmp_path):
    folder, _, _ = house_prices
    copy = tmp_path / "hp"
    shutil.copytree(folder, copy)
    return copy


class _Planted:
    """A pickle that creates a file when it is loaded: proof that nothing was unpickled if the file is absent."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def planted_pickle(marker) -> bytes:
    return pickle.dumps(_Planted(marker))


def bundle_of(folder):
    project = Project.load(folder / "cairn.yaml")
    store = project.open_store()
    try:
        version = Registry(store).get(project.config.model_name)
        manifest = json.loads(store.artifacts.path_of(version.artifact_sha256).read_bytes())
        return manifest, {name: store.artifacts.path_of(sha) for name, sha in manifest["files"].items()}
    finally:
        store.close()


def test_the_bundle_lists_its_files_and_describes_the_model_in_json(house_prices):
    folder, run, _ = house_prices
    manifest, paths = bundle_of(folder)
    assert manifest["format"] == "cairn.model" and manifest["format_version"] == 1
    assert set(paths) == {"model.json", "pipeline.joblib"}
    for name, path in paths.items():
        assert sha256_bytes(path.read_bytes()) == manifest["files"][name]
    described = json.loads(paths["model.json"].read_text())
    assert described["name"] == "house-prices" and described["version"] == 1 and described["problem"] == "regression"
    assert described["target"] == "Sale_Price" and described["metrics"]["mape"] == pytest.approx(run.metrics["mape"])
    assert described["verdict"].startswith("objective MAPE < 10%: met")
    assert {"scikit-learn", "lightgbm", "numpy"} <= set(described["packages"])
    assert "Gr_Liv_Area" in described["input_schema"]["properties"]
    assert described["output_schema"] == {"type": "number", "title": "Sale_Price"}


def test_a_pickle_planted_in_the_bundle_is_refused_before_it_runs(project_copy, tmp_path):
    marker = tmp_path / "pwned"
    _, paths = bundle_of(project_copy)
    paths["pipeline.joblib"].write_bytes(planted_pickle(marker))
    new = tmp_path / "new.csv"
    new.write_text("Gr_Liv_Area\n1656\n")
    result = runner.invoke(app, ["predict", str(new), "-p", str(project_copy / "cairn.yaml")])
    assert result.exit_code == 2, result.output
    assert "pipeline.joblib" in result.output and "does not match its sha256" in result.output
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["flip", "delete"])
def test_a_corrupted_or_missing_file_is_a_clear_error(project_copy, damage):
    _, paths = bundle_of(project_copy)
    path = paths["pipeline.joblib"]
    if damage == "flip":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        expected = "does not match its sha256"
    else:
        path.unlink()
        expected = "is missing"
    with pytest.raises(BundleError, match=expected):
        Project.load(project_copy / "cairn.yaml").load_model()


def test_other_package_versions_warn_and_another_major_version_stops(caplog):
    from importlib import metadata

    installed = metadata.version("scikit-learn")
    major = installed.split(".")[0]
    check_packages({"scikit-learn": installed}, what="m v1")
    assert not caplog.records
    check_packages({"scikit-learn": f"{major}.0.0"}, what="m v1")
    assert f"fitted with scikit-learn {major}.0.0; scikit-learn {installed} is installed" in caplog.text
    with pytest.raises(BundleError, match=f"fitted with scikit-learn 0.24.2; scikit-learn {installed}"):
        check_packages({"scikit-learn": "0.24.2"}, what="m v1")
    with pytest.raises(BundleError, match="needs nosuchpackage"):
        check_packages({"nosuchpackage": "1.0"}, what="m v1")


def test_a_damaged_version_is_never_promoted(project_copy):
    _, paths = bundle_of(project_copy)
    data = bytearray(paths["model.json"].read_bytes())
    data[10] ^= 0x01
    paths["model.json"].write_bytes(bytes(data))
    result = runner.invoke(app, ["promote", "1", "-p", str(project_copy / "cairn.yaml")])
    assert result.exit_code == 2 and "does not match its sha256" in result.output, result.output


def test_the_service_refuses_to_start_on_a_tampered_model(project_copy, tmp_path):
    marker = tmp_path / "pwned"
    _, paths = bundle_of(project_copy)
    paths["pipeline.joblib"].write_bytes(planted_pickle(marker))
    result = runner.invoke(app, ["serve", "--port", "1", "-p", str(project_copy / "cairn.yaml")])
    assert result.exit_code == 2 and "does not match its sha256" in result.output, result.output
    assert not marker.exists()
