"""What `cairn predict` says a model makes of a category level it never saw, checked against what the fitted
pipeline really does with one; and the summaries of several chunks merged into one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import Pipeline

from cairn.estimators.blends import EnsembleRegressor
from cairn.estimators.encoder import TabularEncoder
from cairn.estimators.native_categories import TabularPipeline
from cairn.monitoring.unseen import READINGS, TrainingLevels, Unseen, unseen_reading
from cairn.project.batch import merged_unseen

ROWS = 240


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, np.ndarray]:
    """`common`: three levels of 80 rows; `rare`: two of 119 and one of 2 (grouped as rare); `many`: 40 levels
    of 6 rows (target-encoded beyond max_levels)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"common": np.repeat(["a", "b", "c"], ROWS // 3),
                          "rare": ["x"] * 119 + ["y"] * 119 + ["z"] * 2,
                          "many": [f"m{i % 40}" for i in range(ROWS)], "size": rng.normal(size=ROWS)})
    target = frame["size"].to_numpy() + (frame["common"] == "b") * 2.0 + rng.normal(size=ROWS)
    return frame, target


def encoder(**options: object) -> TabularEncoder:
    return TabularEncoder(("size",), ("common", "rare", "many"), **options)


def unseen(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return frame.head(3).assign(**{name: "never seen"})


def test_encoders_read_an_unseen_level_as_they_say(table: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, target = table
    coded = encoder(max_levels=30).fit(frame, target)
    assert {name: unseen_reading(coded, name) for name in ("common", "rare", "many")} == {
        "common": READINGS["code"], "rare": READINGS["rare"], "many": READINGS["prior"]}
    names = list(coded.get_feature_names_out())
    common, many = names.index("common"), names.index("many~target")
    assert (coded.transform(unseen(frame, "common"))[:, common] == -1).all()  # below every code (0, 1, 2)
    assert (coded.transform(frame.head(3))[:, common] >= 0).all()
    assert np.array_equal(coded.transform(unseen(frame, "rare")), coded.transform(frame.head(3).assign(rare="z")))
    assert (coded.transform(unseen(frame, "many"))[:, many] == 0).all()  # centred target means: 0 is the prior
    one_hot = encoder(one_hot=True, max_levels=30).fit(frame, target)
    assert unseen_reading(one_hot, "common") == READINGS["none"]
    columns = [i for i, name in enumerate(one_hot.get_feature_names_out()) if name.startswith("common=")]
    assert len(columns) == 3 and (one_hot.transform(unseen(frame, "common"))[:, columns] == 0).all()


def test_the_model_after_the_encoder_says_how_it_reads_a_code(table: tuple[pd.DataFrame, np.ndarray]) -> None:
    """LightGBM learning codes as categories sends a code it never saw where no split's chosen levels go: the same
    answer for -1 as for any other code it never saw. A blend whose members differ names each reading."""
    lightgbm = pytest.importorskip("lightgbm")
    frame, target = table
    native = TabularPipeline([("encode", encoder(max_levels=30)), ("model", lightgbm.LGBMRegressor(
        n_estimators=20, min_child_samples=5, min_data_per_group=5, cat_smooth=1, verbose=-1))]).fit(frame, target)
    assert unseen_reading(native, "common") == READINGS["split"]
    encoded = native.named_steps["encode"].transform(unseen(frame, "common"))
    column = list(native.named_steps["encode"].get_feature_names_out()).index("common")
    model = native.named_steps["model"]
    elsewhere = encoded.copy()
    elsewhere[:, column] = 57  # a code no training row had
    assert np.array_equal(model.predict(encoded), model.predict(elsewhere))
    assert not np.array_equal(model.predict(encoded),
                              model.predict(native.named_steps["encode"].transform(frame.head(3).assign(common="b"))))
    forest = Pipeline([("encode", encoder(max_levels=30)), ("model", RandomForestRegressor(n_estimators=5,
                                                                                           random_state=0))])
    assert unseen_reading(forest.fit(frame, target), "common") == READINGS["code"]
    one_hot = Pipeline([("encode", encoder(one_hot=True, max_levels=30)), ("model", RandomForestRegressor(
        n_estimators=5, random_state=0))]).fit(frame, target)
    blend = EnsembleRegressor.of_fitted([("forest", forest), ("one_hot", one_hot)], [forest, one_hot], [0.5, 0.5])
    assert unseen_reading(blend, "common") == f"{READINGS['code']} or {READINGS['none']} (the blend's models differ)"
    assert unseen_reading(blend, "rare") == READINGS["rare"]


def test_chunks_merge_into_one_summary_per_input_with_a_few_examples() -> None:
    chunks = [Unseen("Neighborhood", 2, ("Atlantis",), READINGS["rare"]),
              Unseen("MS_Zoning", 1, ("call ********67",), READINGS["rare"]),
              Unseen("Neighborhood", 5, ("Lemuria", "Atlantis"), READINGS["rare"]),
              Unseen("Neighborhood", 1, ("Mu", "Thule"), READINGS["rare"])]
    assert merged_unseen(chunks) == (Unseen("Neighborhood", 8, ("Atlantis", "Lemuria", "Mu"), READINGS["rare"]),
                                     Unseen("MS_Zoning", 1, ("call ********67",), READINGS["rare"]))
    assert merged_unseen(chunks)[1].sentence() == ("MS_Zoning: 1 row has a level the training split never had, "
                                                   "such as 'call ********67'; the model reads it "
                                                   f"{READINGS['rare']}")


def test_a_whole_number_read_as_a_float_is_a_level_training_had() -> None:
    """A chunk with a gap is read by pandas as floats: 98115.0 is the postal code 98115, not a new level."""
    levels = TrainingLevels({"zip": frozenset({"98115", "98103"})}, True, {"zip": READINGS["rare"]}, frozenset())
    chunk = pd.DataFrame({"zip": [98115.0, np.nan, 98103.0, 98199.0, 98199.0]})
    [found] = levels.unseen(chunk, chunk, shown=str)
    assert (found.name, found.count, found.examples) == ("zip", 2, ("98199",))  # without pandas' '.0'
    # a new code read as 98199 in one chunk and as 98199.0 in the next is one new level, not two
    again = pd.DataFrame({"zip": [98199, 98115, 98199]})
    [merged] = merged_unseen(item for part in (chunk, again)
                             for item in levels.unseen(part, part, shown=str))
    assert (merged.count, merged.examples) == (4, ("98199",))
