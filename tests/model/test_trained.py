"""What the prediction log may keep of a served record: the model's inputs only, personal columns protected as in
training, personal data typed into any other text field redacted."""

from __future__ import annotations

from sklearn.dummy import DummyRegressor

from cairn.config.schema import Privacy
from cairn.model.trained import FeatureSpec, TrainedModel
from cairn.privacy import PiiColumn

RAW_EMAIL = "jane.doe@example.com"


def model(pii: str) -> TrainedModel:
    features = [FeatureSpec("x", "number"), FeatureSpec("street", "category"), FeatureSpec("contact", "category")]
    personal = [PiiColumn("contact", "email", "name and content", 1.0)] if pii != "drop" else []
    return TrainedModel("m", 1, "regression", "y", features if pii != "drop" else features[:2],
                        DummyRegressor().fit([[0.0]], [1.0]), personal_columns=personal,
                        privacy=Privacy(pii=pii, salt_env="LOG_SALT" if pii == "hash" else None))


def test_hashed_columns_are_logged_hashed_and_unused_fields_not_at_all(monkeypatch):
    monkeypatch.setenv("LOG_SALT", "s3")
    sent = [{"x": 1.5, "street": "Pave", "contact": RAW_EMAIL, "email_again": RAW_EMAIL, "y": 3}]
    logged = model("hash").loggable(sent)
    assert set(logged[0]) == {"x", "street", "contact"} and logged[0]["x"] == 1.5 and logged[0]["street"] == "Pave"
    assert RAW_EMAIL not in str(logged) and "jane" not in str(logged)
    assert sent[0]["contact"] == RAW_EMAIL  # the caller's record is left as it was


def test_personal_data_typed_into_a_category_is_redacted(monkeypatch):
    logged = model("drop").loggable([{"x": 2.0, "street": f"call {RAW_EMAIL} or 555-867-5309", "contact": "z"}])
    assert set(logged[0]) == {"x", "street"}
    assert RAW_EMAIL not in logged[0]["street"] and "867-5309" not in logged[0]["street"]
    assert logged[0]["street"].startswith("call ")


def test_the_log_keeps_what_the_model_read_not_what_was_sent():
    logged = model("drop").loggable([{"x": " 12 ", "street": 4155551234}, {"x": "1,000"}, {"street": None}])
    # " 12 " was read as 12; "1,000" in a plain number field could not be read, so the model imputed it; a bare
    # run of ten digits in a category is no level the model knows and may be a phone: masked (issue 17 sweep)
    assert logged == [{"x": 12.0, "street": "********34"}, {"x": None}, {"street": None}]


def test_a_known_whole_number_sent_as_a_float_is_logged_as_the_level_it_is():
    features = [FeatureSpec("x", "number"), FeatureSpec("zip", "category", levels=("98115", "98103"))]
    zips = TrainedModel("m", 1, "regression", "y", features, DummyRegressor().fit([[0.0]], [1.0]))
    logged = zips.loggable([{"zip": 98115.0}, {"zip": 98115}, {"zip": 9811512345.0}])
    assert logged == [{"zip": "98115"}, {"zip": "98115"}, {"zip": "********45.0"}]  # the last may be a phone
