"""``analysis.arrays.unique`` is ``np.unique`` (without numpy's hash-set path)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from analysis.arrays import unique


@given(hnp.arrays(np.int64, st.integers(0, 300),
                  elements=st.integers(-(2**62), 2**62)))
def test_unique_equals_numpy_on_integers(values: np.ndarray) -> None:
    out = unique(values)
    np.testing.assert_array_equal(out, np.unique(values))
    assert out.dtype == values.dtype


def test_unique_on_repeated_keys_and_edge_sizes() -> None:
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 5_000, 200_000)
    np.testing.assert_array_equal(unique(keys), np.unique(keys))
    assert unique(np.array([], dtype=np.int64)).shape == (0,)
    np.testing.assert_array_equal(unique(np.array([3])), [3])
    np.testing.assert_array_equal(unique(np.array([2.5, np.nan, 2.5, 1.0])), [1.0, 2.5, np.nan])
