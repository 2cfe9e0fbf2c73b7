"""`dclf.index_shuffle`: the epoch orders grain's `index_shuffle` gives, computed all at once."""

import grain
import numpy as np
import pytest

from dclf.index_shuffle import epoch_permutation


@pytest.mark.parametrize(
  "num_records, seed",
  [(1, 0), (5, 7), (16, 3), (42, 4), (2_520, 0), (2_521, 2**32 - 1), (65_536, 5), (65_537, 9), (70_000, 123_456_789)],
)
def test_same_order_as_grain(num_records, seed):
  """Block sizes 16 and 18 bits, the one-by-one path (< 16 records), the largest seed, and 65,537
  records, where grain's cipher sees index 65,536 as 0 (so one record comes twice in its epoch)."""
  expected = [
    grain.experimental.index_shuffle(i, max_index=num_records - 1, seed=seed, rounds=4) for i in range(num_records)
  ]
  np.testing.assert_array_equal(epoch_permutation(num_records, seed), expected)
