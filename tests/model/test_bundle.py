"""A bundle is read only once it is known to be whole and well formed: a malformed manifest, a model.json that
does not hold a model, a pipeline this release cannot read or that contradicts its description are clear errors
(BundleError, exit 2 in the CLI), never a traceback and never a file read outside the artifact folder."""

from __future__ import annotations

import io
import json
import pickle
import threading
import tracemalloc

import joblib
import pytest
from joblib import numpy_pickle

from cairn.hashing import sha256_bytes
from cairn.model.bundle import DESCRIPTION, PIPELINE, BundleError, bundle_artifacts, bundle_files, load_bundle
from cairn.model.legacy import load_legacy
from cairn.model.trained import TrainedModel
from tests.model.test_compiled import fitted
from tests.model.test_legacy import ANSWERS, SAVED
from tests.stages.test_training import ames


@pytest.fixture(scope="module")
def model() -> TrainedModel:
    table, case, plan = ames(200)
    return TrainedModel("houses", 1, "regression", case.target, plan.features, fitted("linear", table, case, plan))


def stored(files: dict[str, bytes], manifest: bytes) -> tuple[str, dict[str, bytes]]:
    artifacts = {sha256_bytes(data): data for data in files.values()}
    artifacts[sha256_bytes(manifest)] = manifest
    return sha256_bytes(manifest), artifacts


def listing(files: dict[str, bytes]) -> dict[str, str]:
    return {name: sha256_bytes(data) for name, data in files.items()}


def manifest_of(files: dict[str, str] | object, **fields: object) -> bytes:
    return json.dumps({"format": "cairn.model", "format_version": 1, "files": files, **fields}).encode()


def load(files: dict[str, bytes], manifest: bytes) -> TrainedModel:
    sha, artifacts = stored(files, manifest)
    return load_bundle(sha, artifacts.__getitem__, what="houses v1")


def test_a_bundle_round_trips(model):
    sha, artifacts = bundle_artifacts(model)
    loaded = load_bundle(sha, artifacts.__getitem__, what="houses v1")
    assert loaded.feature_names == model.feature_names and loaded.problem == "regression"


@pytest.mark.parametrize(("manifest", "expected"), [
    (b'{"format": "cairn.model", "format_version": 1}', "files model.json and pipeline.joblib"),
    (manifest_of(["model.json"]), "files model.json and pipeline.joblib"),
    (manifest_of({"model.json": "../../etc/passwd", "pipeline.joblib": "0" * 64}), "64 hex digits"),
    (manifest_of({"model.json": 7, "pipeline.joblib": "0" * 64}), "64 hex digits"),
    (manifest_of({"model.json": "0" * 64, "pipeline.joblib": "0" * 64, "extra": "0" * 64}), "nothing else"),
    (manifest_of({"model.json": "0" * 64, "pipeline.joblib": "0" * 64}, format_version="one"), "whole"),
    (b'{"format": "cairn.model", "format": "cairn.model", "format_version": 1, "files": {}}', "given twice"),
    (b' {"format": "cairn.model"', "unreadable JSON"),
    (b"[1, 2]", "cairn.model manifest"),
])
def test_a_malformed_manifest_is_refused_before_any_file_is_read(model, manifest, expected):
    reads: list[str] = []
    sha = sha256_bytes(manifest)

    def read(name: str) -> bytes:
        reads.append(name)
        return manifest if name == sha else b""

    with pytest.raises(BundleError, match=expected):
        load_bundle(sha, read, what="houses v1")
    assert reads == [sha]


def test_a_newer_format_asks_for_a_newer_cairn(model):
    files = bundle_files(model)
    with pytest.raises(BundleError, match="written by a newer cairn"):
        load(files, manifest_of(listing(files), format_version=2))


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d.pop("name"), "name: Field required"),
    (lambda d: d.update(problem="forecast"), "problem"),
    (lambda d: d["features"][0].pop("kind"), "kind"),
    (lambda d: d.update(classes=["a", "b"]), "no classes for a regression model"),
    (lambda d: d.update(privacy={"pii": "shred"}), "cannot be read"),
])
def test_a_description_that_does_not_hold_the_model_is_refused(model, change, expected):
    files = bundle_files(model)
    description = json.loads(files[DESCRIPTION])
    change(description)
    files[DESCRIPTION] = json.dumps(description).encode()
    with pytest.raises(BundleError, match=expected):
        load(files, manifest_of(listing(files)))


def test_a_pipeline_naming_a_class_this_release_lacks_is_a_clear_error(model):
    files = bundle_files(model)
    pickled = pickle.dumps(model.pipeline).replace(b"TabularEncoder", b"FutureEncoder")
    files[PIPELINE] = pickled
    with pytest.raises(BundleError, match="cannot be read by this cairn"):
        load(files, manifest_of(listing(files)))


def test_a_pipeline_that_is_not_a_model_is_refused(model):
    files = bundle_files(model)
    buffer = io.BytesIO()
    joblib.dump({"not": "a pipeline"}, buffer)
    files[PIPELINE] = buffer.getvalue()
    with pytest.raises(BundleError, match="contradicts itself"):
        load(files, manifest_of(listing(files)))


def test_a_model_pickles_after_it_has_answered(model):
    records = [{"Gr_Liv_Area": 1656}]
    before = model.predict(records)
    again = pickle.loads(pickle.dumps(model))
    assert again.predict(records) == pytest.approx(before, rel=1e-12)


def test_legacy_loads_on_many_threads_leave_joblib_as_it_was():
    joblibs_own = numpy_pickle.NumpyUnpickler
    errors: list[BaseException] = []

    def load_one() -> None:
        try:
            assert load_legacy(SAVED).predict(ANSWERS["records"][:2]) is not None
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=load_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and numpy_pickle.NumpyUnpickler is joblibs_own


class _Marker:
    """A class only an object array can name: its instances sit inside one."""


def test_pickled_names_reads_the_names_of_arrays_without_their_bytes(model):
    """Numeric arrays stand in as their dtype (a forest's 1 GB of trees was copied only to be thrown away), yet
    every package a model's pickle names is still found: inside object arrays, structured dtypes and the pipeline."""
    import numpy as np

    from cairn.model.bundle import package_versions, pickled_names

    holder = {"big": np.zeros(10_000_000), "objects": np.array([_Marker(), "a"], dtype=object),
              "structured": np.zeros(3, dtype=[("when", "datetime64[s]"), ("x", "f4")])}
    tracemalloc.start()
    names = pickled_names(holder)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8_000_000, peak  # the 80 MB array was not written anywhere
    assert {"numpy.ndarray", f"{__name__}._Marker"} <= names
    assert not any(name.startswith("cairn.model.bundle") for name in names)  # the stand-in is not recorded

    class Everything(pickle.Pickler):  # the plain walk: every name the real pickle stores
        def reducer_override(self, value):
            kind = value if isinstance(value, type) else type(value)
            seen.add(kind.__module__.split(".")[0])
            return NotImplemented

    seen: set[str] = set()
    Everything(io.BytesIO(), protocol=pickle.HIGHEST_PROTOCOL).dump(model.pipeline)
    assert {name.split(".")[0] for name in pickled_names(model.pipeline)} >= seen - {"builtins"}
    assert set(package_versions(model.pipeline)) >= {"numpy", "scikit-learn"}


def test_catboost_learning_category_codes_records_catboost_among_the_packages_it_needs():
    """Its model pickles as bytes under cairn's class name: the package comes from the class it subclasses, so a
    load elsewhere still warns on another CatBoost version."""
    from cairn.model.bundle import package_versions, pickled_names

    table, case, plan = ames(200)
    pipeline = fitted("catboost", table, case, plan, native=True)
    assert any(name.startswith("cairn.estimators.catboost_codes.") for name in pickled_names(pipeline))
    assert not any(name.startswith("catboost.") for name in pickled_names(pipeline))  # why bases are needed
    assert "catboost" in package_versions(pipeline)
