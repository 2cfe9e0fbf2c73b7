"""Assigns whole source photos to train/validation/test, so no photo leaks across splits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

SPLIT_NAMES = ("train", "validation", "test")
SHUFFLE_SEED = 1  # the original code: np.random.seed(1); np.random.shuffle(sorted list)

T = TypeVar("T")


def split_sources(items: Sequence[T], fractions: Sequence[float], limit: int | None = None) -> dict[str, list[T]]:
  """Shuffles `items` (already sorted) with seed 1, keeps the first `limit`, cuts by fractions.

  Cut points are int(fraction * n) as in the original `generate_train_dev_test_lists`,
  except that every split keeps at least one source when there are enough of them.
  """
  order = np.arange(len(items))
  np.random.RandomState(SHUFFLE_SEED).shuffle(order)
  chosen = [items[i] for i in order[: len(items) if limit is None else limit]]
  train_end, validation_end = _cut_points(len(chosen), fractions)
  return {
    "train": chosen[:train_end],
    "validation": chosen[train_end:validation_end],
    "test": chosen[validation_end:],
  }


def _cut_points(count: int, fractions: Sequence[float]) -> tuple[int, int]:
  train, validation, _ = (f / sum(fractions) for f in fractions)
  train_end = int(train * count)
  validation_end = int((train + validation) * count)
  if count >= 3:
    validation_end = min(max(validation_end, train_end + 1), count - 1)
    train_end = min(max(train_end, 1), validation_end - 1)
    validation_end = max(validation_end, train_end + 1)
  return train_end, validation_end
