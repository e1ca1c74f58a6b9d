"""A model saved by cairn 0.1.0, before the redesign moved the classes pickled inside it, still loads from a store
and answers exactly as it did (the fixture and its answers were written by the 0.1.0 code)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.hashing import sha256_bytes
from cairn.model.bundle import BundleError, load_bundle
from cairn.model.legacy import MOVED_MODULES, MOVED_NAMES
from cairn.registry import Registry
from cairn.store.repository import Store, now
from cairn.store.tables import ArtifactRow, ModelRow, ModelVersionRow

FIXTURES = Path(__file__).parents[1] / "fixtures"
SAVED = (FIXTURES / "model-0.1.0.joblib").read_bytes()
ANSWERS = json.loads((FIXTURES / "model-0.1.0-answers.json").read_text())


def old_store(folder: Path) -> Store:
    """A store as 0.1.0 left it: the model's one joblib file as the version's artifact."""
    store = Store.open(f"sqlite:///{folder / 'cairn.db'}", folder / "artifacts")
    sha = store.artifacts.write(SAVED)
    with store.session() as session:
        session.add(ArtifactRow(sha256=sha, kind="model", size_bytes=len(SAVED), created_at=now()))
        model = ModelRow(name="house-prices", created_at=now())
        session.add(model)
        session.flush()
        session.add(ModelVersionRow(model_id=model.id, version=1, run_id=None, artifact_sha256=sha,
                                    stage="production", metrics={"mape": 0.07}, created_at=now(), note=None))
    return store


def test_a_model_saved_by_0_1_0_answers_as_it_did(tmp_path):
    model = Registry(old_store(tmp_path)).load("house-prices")
    assert model.name == "house-prices" and model.version == 1 and model.problem == "regression"
    assert type(model.pipeline).__module__ == "cairn.estimators.blends"  # was cairn.stages.ensemble
    records = ANSWERS["records"]
    assert np.allclose(model.predict(records), ANSWERS["predictions"], rtol=1e-9, atol=0)
    frame = pd.DataFrame(records)
    assert np.allclose(model.predict(frame), ANSWERS["frame_predictions"], rtol=1e-9, atol=0)


def test_an_old_model_file_is_checked_before_it_is_unpickled(tmp_path):
    store = old_store(tmp_path)
    version = Registry(store).get("house-prices")
    path = store.artifacts.path_of(version.artifact_sha256)
    path.write_bytes(SAVED[:-1] + bytes([SAVED[-1] ^ 1]))  # one flipped bit
    with pytest.raises(BundleError, match="does not match its sha256"):
        Registry(store).load("house-prices")


def test_every_moved_name_resolves_today():
    """Each entry of the legacy table points at a class or function that exists, so no old model dead-ends."""
    import importlib

    for old, new in MOVED_NAMES.items():
        assert hasattr(importlib.import_module(new[0]), new[1]), (old, new)
    for new in MOVED_MODULES.values():
        importlib.import_module(new)


def test_the_fixture_is_what_the_store_would_hold():
    model = load_bundle(sha256_bytes(SAVED), {sha256_bytes(SAVED): SAVED}.__getitem__, what="fixture", legacy=True)
    assert [f.name for f in model.features][:3] and model.target == "Sale_Price"
