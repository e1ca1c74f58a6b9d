"""Feature drift on the real Ames data, and PSI checked by hand on tiny examples."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cairn.errors import DataError
from cairn.model.trained import FeatureSpec
from cairn.monitoring import DriftReport, FeatureDrift, feature_drift, population_stability_index
from cairn.monitoring.drift import PSI_EPSILON
from cairn.monitoring.reference import SKETCH_POINTS

AMES = Path(__file__).resolve().parents[2] / "examples" / "house-prices" / "data" / "ames.csv.gz"


@pytest.fixture(scope="module")
def ames() -> pd.DataFrame:
    return pd.read_csv(AMES)


def specs(table: pd.DataFrame, *, leave_out: tuple[str, ...] = ("Sale_Price",)) -> list[FeatureSpec]:
    return [FeatureSpec(name, "number" if pd.api.types.is_numeric_dtype(table[name]) else "category")
            for name in table.columns if name not in leave_out]


def drift_of(report: DriftReport, name: str) -> FeatureDrift:
    return next(feature for feature in report.features if feature.feature == name)


# PSI by hand -----------------------------------------------------------------------------------------------------
def test_psi_of_numbers_matches_the_hand_computation() -> None:
    # reference 1..4 with 2 bins: the median 2.5 splits them, (-inf, 2.5] and (2.5, inf), plus a missing bin.
    # reference shares .5 .5 0 (floored at epsilon); current [1, 3, 4, NaN] gives .25 .5 .25.
    reference = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    current = pd.DataFrame({"x": [1.0, 3.0, 4.0, np.nan]})
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + 0.0 + (0.25 - PSI_EPSILON) * math.log(0.25 / PSI_EPSILON)
    report = feature_drift(reference, current, features=[FeatureSpec("x", "number")], bins=2)
    [x] = report.features
    assert x.psi == pytest.approx(expected, rel=1e-12)
    assert x.psi == pytest.approx(2.1285, abs=1e-4)
    assert (x.kind, x.test, x.drifted) == ("number", "ks", False)  # four rows: chance makes such a PSI often
    assert "missing 0% → 25%" in x.detail
    assert "PSI 2.13 (major shift, within chance for this many rows: p = 1.00)" in x.detail


def test_psi_of_categories_matches_the_hand_computation() -> None:
    # bins a, b, (new), (missing): reference .5 .5 0 0; current .25 each ("c" is new, None is missing)
    reference = pd.DataFrame({"colour": ["a", "a", "b", "b"]})
    current = pd.DataFrame({"colour": ["a", "b", "c", None]})
    expected = 2 * (0.25 - 0.5) * math.log(0.25 / 0.5) + 2 * (0.25 - PSI_EPSILON) * math.log(0.25 / PSI_EPSILON)
    [colour] = feature_drift(reference, current, features=[FeatureSpec("colour", "category")]).features
    assert colour.psi == pytest.approx(expected, rel=1e-12)
    assert colour.test == "chi2" and colour.p_value is None and not colour.drifted  # four rows: no test runs
    assert "too few rows to tell from chance" in colour.detail
    assert "unseen levels in 25% of rows ('c')" in colour.detail


def test_a_small_window_over_many_levels_is_drift_only_beyond_chance() -> None:
    """461 rows drawn from the training rows themselves, over a category of 120 levels: the PSI passes 0.2 by
    chance alone (the bins hold three or four rows each), and its chi-square test says so; the same window with
    half its rows moved to two levels is drift."""
    generator = np.random.default_rng(3)
    levels = np.array([f"n{i}" for i in range(120)])
    reference = pd.DataFrame({"area": generator.choice(levels, 20_000)})
    drawn = pd.DataFrame({"area": generator.choice(levels, 461)})
    [same] = feature_drift(reference, drawn, features=[FeatureSpec("area", "category")], threshold=0.2).features
    assert same.psi > 0.2 and not same.drifted and same.p_value is not None and same.p_value > 0.2
    assert "within chance for this many rows: p = " in same.detail
    moved = drawn.assign(area=np.where(np.arange(461) % 2 == 0, generator.choice(levels[:2], 461), drawn["area"]))
    [shifted] = feature_drift(reference, moved, features=[FeatureSpec("area", "category")], threshold=0.2).features
    assert shifted.drifted and shifted.p_value < 1e-6 and "within chance" not in shifted.detail


def test_over_hundreds_of_levels_chance_is_judged_on_pooled_bins() -> None:
    """The chi-square approximation fails on near-empty cells: bins a side expects under five rows in are pooled.
    Windows of 50 rows drawn from 300 levels are rarely drift (at most 3 of 100, for 1 expected); a 100-row window
    over 500 Zipf-shaped levels whose first level jumps from 15% to over half always is."""
    generator = np.random.default_rng(7)
    features = [FeatureSpec("level", "category")]
    flat = pd.DataFrame({"level": generator.choice([f"l{i}" for i in range(300)], 30_000)})
    noise = [feature_drift(flat, pd.DataFrame({"level": generator.choice(flat["level"], 50)}), features=features,
                           threshold=0.2).features[0].drifted for _ in range(100)]
    assert sum(noise) <= 3
    names = np.array([f"z{i}" for i in range(500)])
    shares = 1 / np.arange(1, 501)
    zipf = pd.DataFrame({"level": generator.choice(names, 30_000, p=shares / shares.sum())})
    assert (zipf["level"] == "z0").mean() == pytest.approx(0.147, abs=0.01)

    def jumped() -> pd.DataFrame:
        window = generator.choice(names, 100, p=shares / shares.sum())
        window[:45] = "z0"
        return pd.DataFrame({"level": window})

    assert all(feature_drift(zipf, jumped(), features=features, threshold=0.2).features[0].drifted
               for _ in range(20))


def test_a_number_s_verdict_follows_the_p_value_it_reports() -> None:
    """A small window of a shifted number: drifted exactly when the PSI passes the threshold and the reported
    p-value (Kolmogorov-Smirnov's, or the bins' chi-square where lower) is below CHANCE."""
    from cairn.monitoring.drift import CHANCE

    generator = np.random.default_rng(11)
    reference = pd.DataFrame({"x": generator.normal(0, 1, 20_000)})
    verdicts = []
    for _ in range(40):
        [x] = feature_drift(reference, pd.DataFrame({"x": generator.normal(0.55, 1, 40)}),
                            features=[FeatureSpec("x", "number")], threshold=0.2).features
        assert x.p_value is not None and x.drifted == (x.psi >= 0.2 and x.p_value < CHANCE), x
        verdicts.append(x.drifted)
    assert 0 < sum(verdicts) < 40  # both verdicts occur at this size: the rule, not luck, decided
    missing = pd.DataFrame({"x": np.where(generator.random(2_000) < 0.3, np.nan, generator.normal(0, 1, 2_000))})
    [gaps] = feature_drift(reference, missing, features=[FeatureSpec("x", "number")]).features
    assert gaps.drifted and gaps.test == "chi2" and gaps.p_value < 1e-10  # KS sees no change in the values


def test_psi_helper_floors_empty_bins_and_is_zero_for_equal_histograms() -> None:
    assert population_stability_index(np.array([5, 5, 0]), np.array([10, 10, 0])) == 0.0
    assert math.isfinite(population_stability_index(np.array([10, 0]), np.array([0, 10])))


def test_a_spike_at_zero_keeps_a_bin_of_its_own() -> None:
    """Most houses have no pool: the quantile edges collapse to 0, and (-inf, 0] must stay apart from > 0."""
    reference = pd.DataFrame({"pool": [0.0] * 8 + [5.0, 10.0]})
    current = pd.DataFrame({"pool": [0.0] * 2 + [5.0] * 8})
    [pool] = feature_drift(reference, current, features=[FeatureSpec("pool", "number")], bins=4).features
    expected = (0.2 - 0.8) * math.log(0.2 / 0.8) + (0.8 - 0.2) * math.log(0.8 / 0.2)
    assert pool.psi == pytest.approx(expected, rel=1e-12)


def test_levels_are_compared_as_text() -> None:
    reference = pd.DataFrame({"zone": pd.Series([20, 20, 60, 60], dtype=object)})
    current = pd.DataFrame({"zone": ["20", "20", "60", "60"]})
    [zone] = feature_drift(reference, current, features=[FeatureSpec("zone", "category")]).features
    assert zone.psi == 0.0



def test_a_whole_number_read_as_a_float_is_the_same_level() -> None:
    """A window of postal codes with a gap is read by pandas as floats (98115.0): the same levels, no drift, no
    new level; a code the reference never had is still new."""
    reference = pd.DataFrame({"zip": [98115, 98115, 98103, 98103] * 25})
    current = pd.DataFrame({"zip": [98115.0, np.nan, 98103.0, 98103.0, 98115.0, 98199.0] * 20})
    features = [FeatureSpec("zip", "category")]
    same = feature_drift(reference, current.iloc[:4], features=features)  # 98115.0, missing, 98103.0, 98103.0
    assert same.features[0].psi == pytest.approx(population_stability_index(np.array([50, 50, 0, 0]),
                                                                           np.array([1, 2, 0, 1])))
    assert same.new_categories == []
    [new] = feature_drift(reference, current, features=features).new_categories
    assert new.levels == [("98199", pytest.approx(20 / 120))]  # without pandas' '.0', a share of every row
    both = pd.concat([current, pd.DataFrame({"zip": [98199] * 30})], ignore_index=True).astype(object)
    [new] = feature_drift(reference, both, features=features).new_categories  # one new level in two spellings
    assert new.levels == [("98199", pytest.approx(50 / 150))]


# Ames ------------------------------------------------------------------------------------------------------------
def test_two_random_halves_of_ames_do_not_drift(ames: pd.DataFrame) -> None:
    shuffled = ames.sample(frac=1.0, random_state=42)
    half = len(shuffled) // 2
    report = feature_drift(shuffled.iloc[:half], shuffled.iloc[half:], features=specs(ames))
    assert report.drifted == [] and report.share_drifted == 0.0
    assert report.features[0].psi < 0.1  # the most drifted first, and still stable
    assert (report.reference_rows, report.current_rows) == (half, len(ames) - half)


def test_a_shifted_number_is_the_most_drifted(ames: pd.DataFrame) -> None:
    current = ames.assign(Gr_Liv_Area=ames["Gr_Liv_Area"] * 1.5)
    report = feature_drift(ames, current, features=specs(ames))
    top = report.features[0]
    assert top.feature == "Gr_Liv_Area" and top.drifted and top.psi > 0.25
    assert top.p_value is not None and top.p_value < 1e-12
    assert top.detail.startswith("mean 1,500 → 2,250;") and "(major shift)" in top.detail
    assert [feature.feature for feature in report.drifted] == ["Gr_Liv_Area"]
    assert report.share_drifted == pytest.approx(1 / len(report.features))


def test_changed_category_frequencies_drift(ames: pd.DataFrame) -> None:
    north_ames = ames[ames["Neighborhood"] == "North_Ames"]
    others = ames[ames["Neighborhood"] != "North_Ames"].sample(frac=0.3, random_state=0)
    current = pd.concat([north_ames, north_ames, others])  # North Ames from 15% of sales to 54%
    report = feature_drift(ames, current, features=specs(ames))
    neighborhood = drift_of(report, "Neighborhood")
    assert neighborhood.drifted and neighborhood.psi > 0.25
    assert neighborhood.test == "chi2" and neighborhood.p_value is not None and neighborhood.p_value < 1e-12
    assert neighborhood.detail.startswith("North_Ames 15% → 54%;")
    central_air = drift_of(report, "Central_Air")  # barely tied to the neighbourhood
    assert not central_air.drifted


def test_more_missing_values_is_drift(ames: pd.DataFrame) -> None:
    current = ames.copy()
    current.loc[current.sample(frac=0.3, random_state=0).index, "Lot_Area"] = np.nan
    lot_area = drift_of(feature_drift(ames, current, features=specs(ames)), "Lot_Area")
    assert lot_area.drifted and "missing 0% → 30%" in lot_area.detail


def test_sales_before_and_after_2008(ames: pd.DataFrame) -> None:
    """The housing crash: sales of new houses fell away; the houses themselves (size, area) did not change."""
    before, after = ames[ames["Year_Sold"] <= 2007], ames[ames["Year_Sold"] >= 2008]
    report = feature_drift(before, after, features=specs(ames, leave_out=("Sale_Price", "Year_Sold")))
    top = [feature.feature for feature in report.features[:4]]
    assert set(top) == {"Year_Built", "Sale_Type", "Year_Remod_Add", "Sale_Condition"}
    assert all(0.1 <= feature.psi < 0.25 for feature in report.features[:4])  # moderate shifts
    assert report.drifted == []  # none crosses the 0.2 threshold
    assert drift_of(report, "Sale_Type").detail.startswith("New 13% → 4.0%;")
    for stable in ("Gr_Liv_Area", "Lot_Area", "Neighborhood", "Total_Bsmt_SF"):
        assert drift_of(report, stable).psi < 0.1


def test_the_report_is_json(ames: pd.DataFrame) -> None:
    current = ames.assign(Gr_Liv_Area=ames["Gr_Liv_Area"] * 1.5)
    report = feature_drift(ames, current, features=specs(ames)[:10] + [FeatureSpec("Gr_Liv_Area", "number")])
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert as_dict["drifted"] == ["Gr_Liv_Area"]
    assert as_dict["features"][0]["feature"] == "Gr_Liv_Area"
    assert set(as_dict["features"][0]) == {"feature", "kind", "psi", "test", "p_value", "drifted", "detail", "judged"}
    assert as_dict["share_drifted"] == pytest.approx(1 / 11)


# errors ----------------------------------------------------------------------------------------------------------
def test_a_missing_column_names_it_with_a_fix(ames: pd.DataFrame) -> None:
    current = ames.drop(columns=["Lot_Area"]).rename(columns={"Gr_Liv_Area": "Gr_Liv_Areas"})
    with pytest.raises(DataError) as raised:
        feature_drift(ames, current, features=specs(ames))
    error = raised.value
    assert "the current data lacks Lot_Area, Gr_Liv_Area" in error.headline
    by_column = {problem.where: problem for problem in error.problems}
    assert by_column["current data, column 'Gr_Liv_Area'"].fix == "rename 'Gr_Liv_Areas' to 'Gr_Liv_Area'"
    assert "add a 'Lot_Area' column" in by_column["current data, column 'Lot_Area'"].fix


def test_no_current_rows_is_a_data_error(ames: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="0 rows"):
        feature_drift(ames, ames.iloc[:0], features=specs(ames))


@pytest.mark.parametrize(("arguments", "message"), [
    ({"bins": 1}, "bins parameter of feature_drift must be an int >= 2. Got 1 instead"),
    ({"threshold": 0}, "threshold parameter of feature_drift must be a number > 0. Got 0 instead"),
])
def test_misuse_is_a_value_error(ames: pd.DataFrame, arguments: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        feature_drift(ames, ames, features=specs(ames), **arguments)


# large data ------------------------------------------------------------------------------------------------------
def test_large_samples_give_the_ks_p_value_of_scipy() -> None:
    """The reference is a sketch of 2,048 quantiles, not its rows: D may be low by at most the reference's share
    between two sketch points (1/2048), which moves a p-value near 0.09 by a few percent."""
    generator = np.random.default_rng(0)
    reference = pd.DataFrame({"x": generator.normal(size=30_000)})
    current = pd.DataFrame({"x": generator.normal(loc=0.02, size=25_000)})
    [x] = feature_drift(reference, current, features=[FeatureSpec("x", "number")]).features
    exact = stats.ks_2samp(reference["x"], current["x"])
    assert 0.001 < exact.pvalue < 0.5  # a p-value worth comparing
    assert x.p_value == pytest.approx(exact.pvalue, rel=0.15)
    effective_rows = 30_000 * 25_000 / 55_000
    sketched = stats.kstwobign.isf(x.p_value) / math.sqrt(effective_rows)
    assert exact.statistic - 1 / SKETCH_POINTS <= sketched <= exact.statistic + 1e-9


def test_a_discrete_reference_gives_the_exact_ks_statistic() -> None:
    """Years, counts, anything with at most 2,048 distinct values: the sketch holds them all, D is exact."""
    generator = np.random.default_rng(3)
    reference = pd.DataFrame({"year": generator.integers(1900, 2010, size=20_000).astype(float)})
    current = pd.DataFrame({"year": generator.integers(1905, 2010, size=15_000).astype(float)})
    [year] = feature_drift(reference, current, features=[FeatureSpec("year", "number")]).features
    exact = stats.ks_2samp(reference["year"], current["year"])
    effective_rows = 20_000 * 15_000 / 35_000
    assert year.p_value == pytest.approx(float(stats.kstwobign.sf(exact.statistic * math.sqrt(effective_rows))),
                                         rel=1e-9)


def test_100k_rows_by_80_columns_is_quick() -> None:
    generator = np.random.default_rng(1)
    rows = 100_000
    levels = np.array(["a", "b", "c", "d", "e", None], dtype=object)
    reference = pd.DataFrame({f"n{i}": generator.normal(size=rows) for i in range(40)}
                             | {f"c{i}": generator.choice(levels, size=rows) for i in range(40)})
    current = reference.sample(frac=1.0, random_state=2).reset_index(drop=True)
    current["n0"] = current["n0"] + 1.0
    features = [FeatureSpec(name, "number" if name.startswith("n") else "category") for name in reference.columns]
    started = time.perf_counter()
    report = feature_drift(reference, current, features=features)
    seconds = time.perf_counter() - started
    assert [feature.feature for feature in report.drifted] == ["n0"]
    assert seconds < 10, f"{seconds:.1f} s"  # ~1 s on a busy 2-core machine


# partial records: what logged requests look like ------------------------------------------------------------------
def test_partially_sent_features_are_judged_on_the_rows_that_sent_them(ames: pd.DataFrame) -> None:
    """Requests that sent Gr_Liv_Area 1.6 times larger in 300 of 400 rows, Lot_Area in 100, Neighborhood in none."""
    features = [FeatureSpec("Gr_Liv_Area", "number"), FeatureSpec("Lot_Area", "number"),
                FeatureSpec("Year_Built", "number"), FeatureSpec("Neighborhood", "category")]
    rows = 400
    current = pd.DataFrame({"Gr_Liv_Area": ames["Gr_Liv_Area"].iloc[:rows].to_numpy() * 1.6,
                            "Lot_Area": ames["Lot_Area"].iloc[:rows].to_numpy(),
                            "Year_Built": ames["Year_Built"].iloc[:rows].to_numpy()})
    gr_sent = np.arange(rows) < 300
    current.loc[~gr_sent, "Gr_Liv_Area"] = np.nan  # what from_records gives for an unsent key
    sent = {"Gr_Liv_Area": gr_sent, "Lot_Area": np.arange(rows) < 100, "Year_Built": np.ones(rows, dtype=bool),
            "Neighborhood": np.zeros(rows, dtype=bool)}
    report = feature_drift(ames, current, features=features, sent=sent)
    by_name = {feature.feature: feature for feature in report.features}
    # Gr_Liv_Area: judged on its 300 values only, so the 100 unsent rows are not "missing"
    alone = drift_of(feature_drift(ames, current.iloc[:300], features=features[:1]), "Gr_Liv_Area")
    assert by_name["Gr_Liv_Area"].psi == pytest.approx(alone.psi) and by_name["Gr_Liv_Area"].drifted
    assert by_name["Gr_Liv_Area"].detail.startswith("not sent in 100 of 400 requests; judged on the 300 that sent it")
    assert "missing" not in by_name["Gr_Liv_Area"].detail
    # Lot_Area (100 of 400) and Neighborhood (absent from the table altogether): reported, not judged
    for name, unsent in (("Lot_Area", 300), ("Neighborhood", 400)):
        assert not by_name[name].judged and not by_name[name].drifted and math.isnan(by_name[name].psi)
        assert by_name[name].detail == f"not sent in {unsent} of 400 requests (imputed): left out of the verdict"
    assert by_name["Year_Built"].judged and not by_name["Year_Built"].detail.startswith("not sent")
    assert [feature.feature for feature in report.not_judged] == ["Lot_Area", "Neighborhood"]  # listed last
    assert report.share_drifted == pytest.approx(1 / 2)  # of the two judged features
    document = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert document["not_judged"] == ["Lot_Area", "Neighborhood"]
    assert {f["feature"]: f["psi"] for f in document["features"]}["Neighborhood"] is None
