"""Issue 15: an encoder fitted on many rows outputs float32 (half the memory of the encoded matrix); old pickles and
small data keep float64, bit for bit."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from cairn.estimators.encoder import TabularEncoder


def frame(rows: int = 400, *, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"area": np.where(rng.random(rows) < 0.1, np.nan, rng.normal(100, 20, rows)),
                         "city": rng.choice(["Ames", "Boone", "Story City", None], rows)})


def test_many_rows_encode_as_float32_close_to_float64():
    table = frame()
    wide = TabularEncoder(("area",), ("city",), one_hot=True, scale=True, float32_rows=None).fit(table)
    compact = TabularEncoder(("area",), ("city",), one_hot=True, scale=True, float32_rows=100).fit(table)
    assert compact.dtype_ == "float32" and wide.dtype_ == "float64"
    as64, as32 = wide.transform(table), compact.transform(table)
    assert as32.dtype == np.float32 and as64.dtype == np.float64
    np.testing.assert_allclose(as32, as64, rtol=1e-6, atol=1e-6)
    one_row = compact.transform({"area": np.array([120.0]), "city": np.array(["Boone"], dtype=object)})
    boone = int(table["city"].eq("Boone").idxmax())
    assert one_row.dtype == np.float32 and one_row[0, -3:].tolist() == as32[boone, -3:].tolist()


def test_an_encoder_pickled_before_float32_loads_and_answers_in_float64():
    table = frame()
    encoder = TabularEncoder(("area",), ("city",), one_hot=True).fit(table)
    expected = encoder.transform(table)
    state = encoder.__getstate__()
    for added in ("float32_rows", "dtype_"):
        state.pop(added)
    old = TabularEncoder.__new__(TabularEncoder)
    old.__setstate__(state)
    reloaded = pickle.loads(pickle.dumps(old))
    assert reloaded.transform(table).dtype == np.float64
    assert np.array_equal(reloaded.transform(table), expected, equal_nan=True)
