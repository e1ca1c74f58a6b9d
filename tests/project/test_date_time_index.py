"""A date stored as text, end to end: the model gets a time index (days since the earliest training date) beside
the calendar parts, and serving reads the same text dates."""

import pandas as pd

from cairn.estimators.encoder import TabularEncoder
from cairn.project.api import Project
from tests.examples import QUICK, copy_example


def encoder_of(pipeline) -> TabularEncoder:
    found = [step for step in pipeline.regressor_.steps] if hasattr(pipeline, "regressor_") else pipeline.steps
    return next(step for _, step in found if isinstance(step, TabularEncoder))


def test_a_date_stored_as_text_gets_a_time_index(tmp_path):
    folder = copy_example(tmp_path / "hp", **QUICK)
    table = pd.read_csv(folder / "data" / "ames.csv.gz")
    table["Sold_On"] = pd.to_datetime(dict(year=table["Year_Sold"], month=table["Mo_Sold"], day=15)).dt.strftime(
        "%d %b %Y")
    table.to_csv(folder / "data" / "ames.csv.gz", index=False)
    project = Project.load(folder / "cairn.yaml")
    project.run()
    model = project.load_model()
    encoder = encoder_of(model.pipeline)
    assert "Sold_On" in encoder.dates
    names = list(encoder.get_feature_names_out())
    assert {"Sold_On_days", "Sold_On_year", "Sold_On_month"} <= set(names)
    earliest = pd.Timestamp("2006-01-15")
    assert encoder.date_origin_[list(encoder.dates).index("Sold_On")] == (earliest - pd.Timestamp(0)).days
    record = table.drop(columns=["Sale_Price"]).iloc[0].to_dict()
    assert model.predict([record])[0] > 0
