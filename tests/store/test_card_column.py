"""A store made before model cards were stored with versions keeps working: opening it adds the column."""

import uuid

import sqlalchemy as sa

from cairn.model.trained import FeatureSpec, TrainedModel
from cairn.registry import Registry
from cairn.store import Store
from cairn.urls import engine_url


def _model(name: str) -> TrainedModel:
    from sklearn.dummy import DummyRegressor

    return TrainedModel(name=name, version=0, problem="regression", target="y", features=[FeatureSpec("x", "number")],
                        pipeline=DummyRegressor().fit([[0.0]], [1.0]))


def _columns(url: str) -> set[str]:
    engine = sa.create_engine(engine_url(url))
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns("cairn_model_versions")}
    finally:
        engine.dispose()


def test_an_old_store_gets_the_card_column_and_its_versions_still_load(store_url, tmp_path):
    name = f"m-{uuid.uuid4().hex[:6]}"
    store = Store.open(store_url, tmp_path / "artifacts")
    run_id = store.start_run(project=name, config_hash="c" * 64, manifest={})
    Registry(store).register(_model(name), run_id=run_id, production=True, note=None)
    with store.engine.begin() as connection:  # as the store was before the column (and migrations) existed
        connection.exec_driver_sql("ALTER TABLE cairn_model_versions DROP COLUMN card_sha256")
        connection.exec_driver_sql("DROP TABLE alembic_version")
        connection.exec_driver_sql("ALTER TABLE cairn_runs DROP COLUMN artifacts_collected_at")
    store.close()
    assert "card_sha256" not in _columns(store_url)

    reopened = Store.open(store_url, tmp_path / "artifacts")
    try:
        assert "card_sha256" in _columns(store_url)
        registry = Registry(reopened)
        assert registry.load(name).version == 1  # the old version loads as before
        version, card = registry.card(name)
        assert (version.version, card) == (1, None)  # registered before cards: none stored
        registry.attach_card(name, 1, "# Model card\n")
        assert registry.card(name, 1)[1] == "# Model card\n"
        second = Registry(reopened).register(_model(name), run_id=run_id, production=False, note=None)
        assert registry.card(name, second.version)[1] is None
    finally:
        reopened.close()
    again = Store.open(store_url, tmp_path / "artifacts")  # opening twice adds nothing twice
    again.close()
