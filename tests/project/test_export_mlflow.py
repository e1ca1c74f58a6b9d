"""`cairn export --format mlflow`: an MLflow pyfunc model that answers as `cairn predict` does."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cairn.cli import app
from cairn.project import Project

mlflow_pyfunc = pytest.importorskip("mlflow.pyfunc", reason="the mlflow extra (make test installs it)")

runner = CliRunner()


@pytest.fixture(scope="module")
def exported(quick_house_prices, tmp_path_factory):
    target = tmp_path_factory.mktemp("mlflow") / "house-prices-mlflow"
    result = runner.invoke(app, ["export", "--to", str(target), "--format", "mlflow",
                                 "-p", str(quick_house_prices / "cairn.yaml")])
    assert result.exit_code == 0, result.output
    assert "mlflow.pyfunc.load_model" in result.stdout
    return target


@pytest.fixture(scope="module")
def holdout(quick_house_prices):
    project = Project.load(quick_house_prices / "cairn.yaml")
    return project._holdout(project.load_model()).drop(columns="Sale_Price")


def test_the_pyfunc_model_predicts_the_holdout_as_cairn_predict(quick_house_prices, exported, holdout, tmp_path):
    holdout.to_csv(tmp_path / "holdout.csv", index=False)
    expected = Project.load(quick_house_prices / "cairn.yaml").predict_file(tmp_path / "holdout.csv")
    loaded = mlflow_pyfunc.load_model(str(exported))
    table = pd.read_csv(tmp_path / "holdout.csv")
    with pytest.raises(Exception, match="Can not safely convert int64 to float64"):
        loaded.predict(table)  # MLflow's own rule for a double column, not cairn's
    table = table.astype({name: "float64" for name in table.select_dtypes("integer").columns})
    answered = loaded.predict(table)
    assert list(answered.columns) == ["prediction"] and len(answered) == len(holdout) > 100
    np.testing.assert_allclose(answered["prediction"].to_numpy(), expected["prediction"].to_numpy(), rtol=1e-9)
    some = loaded.predict(table[["Gr_Liv_Area", "Neighborhood"]].head(3))
    assert len(some) == 3 and np.isfinite(some["prediction"]).all()  # every input optional: the rest imputed


def test_the_signature_and_input_example_come_from_the_training_schema(quick_house_prices, exported):
    model = Project.load(quick_house_prices / "cairn.yaml").load_model()
    described = yaml.safe_load((exported / "MLmodel").read_text())
    flavour = described["flavors"]["python_function"]
    assert flavour["loader_module"] == "cairn.model.mlflow_pyfunc" and flavour["data"] == "data/cairn-model"
    inputs = json.loads(described["signature"]["inputs"])
    assert [column["name"] for column in inputs] == model.feature_names
    kinds = {column["name"]: column["type"] for column in inputs}
    assert kinds["Gr_Liv_Area"] == "double" and kinds["Neighborhood"] == "string"
    assert not any(column["required"] for column in inputs)
    assert json.loads(described["signature"]["outputs"]) == [{"type": "double", "name": "prediction",
                                                             "required": True}]
    example = json.loads((exported / "input_example.json").read_text())
    assert example["columns"] == model.feature_names and len(example["data"]) == 1
    by_name = dict(zip(example["columns"], example["data"][0], strict=True))
    features = {feature.name: feature for feature in model.features}
    assert by_name["Gr_Liv_Area"] == float(features["Gr_Liv_Area"].example)
    assert by_name["Neighborhood"] == features["Neighborhood"].example
    assert mlflow_pyfunc.load_model(str(exported)).metadata.get_input_schema().input_names() == model.feature_names
    pins = (exported / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("cairn==") for line in pins) and any(line.startswith("scikit-learn==") for line in pins)


def test_an_altered_bundle_inside_the_mlflow_model_is_refused(quick_house_prices, tmp_path):
    target = tmp_path / "altered"
    result = runner.invoke(app, ["export", "--to", str(target), "--format", "mlflow",
                                 "-p", str(quick_house_prices / "cairn.yaml")])
    assert result.exit_code == 0, result.output
    pipeline = target / "data" / "cairn-model" / "model" / "pipeline.joblib"
    pipeline.write_bytes(pipeline.read_bytes()[:-1] + b"\x00")
    with pytest.raises(Exception, match="does not match its sha256"):
        mlflow_pyfunc.load_model(str(target))


def test_an_mlflow_export_is_replaced_only_with_force(quick_house_prices, exported):
    project = ["-p", str(quick_house_prices / "cairn.yaml")]
    refused = runner.invoke(app, ["export", "--to", str(exported), "--format", "mlflow", *project])
    assert refused.exit_code == 2 and "already exists" in refused.output
    forced = runner.invoke(app, ["export", "--to", str(exported), "--format", "mlflow", "--force", *project])
    assert forced.exit_code == 0, forced.output
    assert (exported / "MLmodel").is_file()


def test_an_unknown_format_is_a_clear_error(quick_house_prices, tmp_path):
    result = runner.invoke(app, ["export", "--to", str(tmp_path / "x"), "--format", "pmml",
                                 "-p", str(quick_house_prices / "cairn.yaml")])
    assert result.exit_code == 2 and "'pmml'" in result.output and "mlflow" in result.output
    assert not (tmp_path / "x").exists()


def test_a_classifier_answers_its_labels_and_probabilities_with_a_typed_signature(quick_house_prices, holdout,
                                                                                   tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from cairn.estimators.encoder import TabularEncoder
    from cairn.hashing import sha256_bytes
    from cairn.model.bundle import bundle_files, manifest_bytes
    from cairn.project.export_mlflow import write_mlflow_model

    model = Project.load(quick_house_prices / "cairn.yaml").load_model()
    features = model.frame(holdout)
    price = Project.load(quick_house_prices / "cairn.yaml")._holdout(model)["Sale_Price"].to_numpy()
    encoder = TabularEncoder(tuple(f.name for f in model.features if f.kind == "number"),
                             tuple(f.name for f in model.features if f.kind == "category"), one_hot=True, scale=True)
    pipeline = Pipeline([("encode", encoder), ("model", LogisticRegression(max_iter=2000))])
    pipeline.fit(features, np.where(price > np.median(price), "yes", "no"))
    classifier = dataclasses.replace(model, problem="binary", pipeline=pipeline, classes=["no", "yes"],
                                     threshold=0.3, positive_class="yes")
    files = bundle_files(classifier)
    manifest = manifest_bytes(files)
    contents = {"model/manifest.json": manifest, **{f"model/{name}": data for name, data in files.items()},
                "export.json": json.dumps({"manifest_sha256": sha256_bytes(manifest)}).encode()}
    write_mlflow_model(classifier, contents, requirements=[], to=tmp_path / "classifier", workspace=tmp_path)
    described = yaml.safe_load((tmp_path / "classifier" / "MLmodel").read_text())
    assert [(c["name"], c["type"]) for c in json.loads(described["signature"]["outputs"])] == [
        ("prediction", "string"), ("probability_no", "double"), ("probability_yes", "double")]
    table = holdout.astype({name: "float64" for name in holdout.select_dtypes("integer").columns})
    # as a caller's frame from a CSV holds text: MLflow's schema check refuses pandas categories for a string column
    table = table.astype({name: object for name in table.select_dtypes("category").columns})
    answered = mlflow_pyfunc.load_model(str(tmp_path / "classifier")).predict(table)
    labels, probabilities = classifier.answer(classifier.inputs(holdout))
    assert answered["prediction"].tolist() == labels.tolist() and {"no", "yes"} == set(labels)
    np.testing.assert_allclose(answered[["probability_no", "probability_yes"]].to_numpy(), probabilities, rtol=1e-12)


def test_a_category_of_booleans_is_declared_boolean_and_a_csvs_booleans_pass_mlflows_check(quick_house_prices,
                                                                                           holdout, tmp_path):
    """A CSV column of True/False is read by pandas as booleans, and cairn learned it as a category of levels
    'False' and 'True': declared string, MLflow refused the training file's own column; declared boolean, it
    passes, and the model reads True as the level 'True'."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline

    from cairn.estimators.encoder import TabularEncoder
    from cairn.hashing import sha256_bytes
    from cairn.model.bundle import bundle_files, manifest_bytes
    from cairn.model.inputs import FeatureSpec
    from cairn.project.export_mlflow import input_example, signature_columns, write_mlflow_model

    model = Project.load(quick_house_prices / "cairn.yaml").load_model()
    price = Project.load(quick_house_prices / "cairn.yaml")._holdout(model)["Sale_Price"].to_numpy()
    table = holdout.assign(paved=holdout["Gr_Liv_Area"] > holdout["Gr_Liv_Area"].median())  # booleans
    features = [*model.features, FeatureSpec("paved", "category", "True", ("False", "True"))]
    encoder = TabularEncoder(tuple(f.name for f in features if f.kind == "number"),
                             tuple(f.name for f in features if f.kind == "category"), one_hot=True, scale=True)
    paved = dataclasses.replace(model, features=features, pipeline=None)
    pipeline = Pipeline([("encode", encoder), ("model", Ridge())]).fit(paved.frame(table), price)
    paved = dataclasses.replace(paved, pipeline=pipeline)
    assert dict(signature_columns(paved))["paved"] == "boolean" and input_example(paved)["paved"] is True
    third = FeatureSpec("paved", "category", "True", ("False", "True", "Unknown"))
    unsure = dataclasses.replace(paved, features=[*model.features, third])
    assert dict(signature_columns(unsure))["paved"] == "string"  # a third level: the column holds text
    files = bundle_files(paved)
    manifest = manifest_bytes(files)
    contents = {"model/manifest.json": manifest, **{f"model/{name}": data for name, data in files.items()},
                "export.json": json.dumps({"manifest_sha256": sha256_bytes(manifest)}).encode()}
    write_mlflow_model(paved, contents, requirements=[], to=tmp_path / "paved", workspace=tmp_path)
    table.to_csv(tmp_path / "rows.csv", index=False)
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert rows["paved"].dtype == bool
    rows = rows.astype({name: "float64" for name in rows.select_dtypes("integer").columns})
    answered = mlflow_pyfunc.load_model(str(tmp_path / "paved")).predict(rows)
    np.testing.assert_allclose(answered["prediction"].to_numpy(), paved.predict(table), rtol=1e-9)
    flipped = paved.predict(table.assign(paved=~table["paved"]))
    assert not np.allclose(flipped, paved.predict(table))  # the booleans were read, not imputed
