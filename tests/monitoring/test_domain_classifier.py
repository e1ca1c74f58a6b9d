"""Multivariate drift: a LightGBM classifier told to separate reference rows from current rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.model.trained import FeatureSpec
from cairn.monitoring.domain import domain_drift

AMES = Path(__file__).resolve().parents[2] / "examples" / "house-prices" / "data" / "ames.csv.gz"


@pytest.fixture(scope="module")
def ames() -> pd.DataFrame:
    return pd.read_csv(AMES)


def specs(table: pd.DataFrame) -> list[FeatureSpec]:
    return [FeatureSpec(name, "number" if pd.api.types.is_numeric_dtype(table[name]) else "category")
            for name in table.columns if name != "Sale_Price"]


def resampled(ames: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """Ames rows drawn with replacement, numbers jittered by 5% of their spread (as bench/data.py makes them)."""
    generator = np.random.default_rng(seed)
    table = ames.iloc[generator.integers(0, len(ames), rows)].reset_index(drop=True)
    for name in table.columns:
        if pd.api.types.is_numeric_dtype(table[name]):
            table[name] = table[name] + generator.normal(0, 0.05 * float(ames[name].std()), rows)
    return table


def test_the_training_file_against_itself_is_a_coin_toss(ames: pd.DataFrame) -> None:
    shuffled = ames.sample(frac=1.0, random_state=0).reset_index(drop=True)
    found = domain_drift(ames, shuffled, features=specs(ames))
    assert found is not None and found.shared_rows == len(ames)
    assert found.auc == 0.5 and not found.drifted and "nothing to tell apart" in found.sentence
    halves = domain_drift(shuffled.iloc[:1465], shuffled.iloc[1465:], features=specs(ames))
    assert halves is not None and halves.auc == pytest.approx(0.5, abs=0.06) and not halves.drifted
    assert "cannot tell" in halves.sentence


def test_a_shifted_number_is_found_and_named_first(ames: pd.DataFrame) -> None:
    reference, current = resampled(ames, 5_000, seed=1), resampled(ames, 5_000, seed=2)
    same = domain_drift(reference, current, features=specs(ames))
    assert same is not None and same.auc == pytest.approx(0.5, abs=0.05) and same.shared_rows == 0
    shifted = current.assign(Gr_Liv_Area=current["Gr_Liv_Area"] * 1.5)
    found = domain_drift(reference, shifted, features=specs(ames))  # its seconds at scale: bench/drift.py
    assert found is not None and found.auc > 0.95 and found.drifted
    assert found.top[0][0] == "Gr_Liv_Area" and found.top[0][1] > 0.3
    assert found.sentence.startswith("A classifier tells the current rows from the training rows (AUC ")
    assert "above all in Gr_Liv_Area" in found.sentence
    assert found.to_dict()["top"][0] == {"feature": "Gr_Liv_Area", "gain_share": found.top[0][1]}


def test_a_change_in_how_features_go_together_is_seen_when_each_alone_is_stable(ames: pd.DataFrame) -> None:
    """Big houses on small lots: the two margins barely move, their pairing does."""
    reference = resampled(ames, 4_000, seed=3)
    current = resampled(ames, 4_000, seed=4)
    order = np.argsort(current["Gr_Liv_Area"].to_numpy())
    lots = np.sort(current["Lot_Area"].to_numpy())[::-1]
    current.loc[order, "Lot_Area"] = lots  # the largest houses now sit on the smallest lots
    found = domain_drift(reference, current, features=specs(ames))
    assert found is not None and found.auc > 0.7
    assert {name for name, _ in found.top[:2]} & {"Gr_Liv_Area", "Lot_Area"}


def test_too_few_rows_give_no_verdict(ames: pd.DataFrame) -> None:
    assert domain_drift(ames, ames.iloc[:10], features=specs(ames)) is None


def test_whole_numbers_read_as_floats_do_not_tell_the_sides_apart() -> None:
    """Postal codes learned as the text '98115' (from a database) and sent from a file with a gap (pandas reads
    98115.0) are the same codes: a spelling alone must not look like drift."""
    generator = np.random.default_rng(0)
    zips = np.array([98103, 98105, 98115, 98117, 98199])

    def side(rows: int) -> pd.DataFrame:
        return pd.DataFrame({"zip": generator.choice(zips, rows), "area": generator.normal(1500, 300, rows)})

    reference, current = side(3_000), side(3_000)
    reference["zip"] = reference["zip"].astype(str)
    current["zip"] = current["zip"].astype("float64").where(current.index % 50 != 0)  # a gap: floats
    features = [FeatureSpec("zip", "category"), FeatureSpec("area", "number")]
    found = domain_drift(reference, current, features=features)
    assert found is not None and found.auc == pytest.approx(0.5, abs=0.05) and not found.drifted
