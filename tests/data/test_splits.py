import pytest

from dclf.data.splits import split_sources


def test_fractions_and_no_overlap():
  items = [f"photo{i:05d}" for i in range(1000)]
  parts = split_sources(items, (0.85, 0.075, 0.075))
  assert [len(parts[name]) for name in ("train", "validation", "test")] == [850, 75, 75]
  assert sorted(sum(parts.values(), [])) == items


def test_scratch_split_and_limit():
  items = list(range(10_000))
  parts = split_sources(items, (0.95, 0.025, 0.025), limit=2000)
  assert [len(parts[name]) for name in ("train", "validation", "test")] == [1900, 50, 50]


def test_shuffle_is_seed_1_and_stable():
  items = list(range(50))
  assert split_sources(items, (0.85, 0.075, 0.075)) == split_sources(items, (0.85, 0.075, 0.075))
  assert split_sources(items, (0.85, 0.075, 0.075))["train"] != items[:42]


@pytest.mark.parametrize("count", [3, 4, 7, 12])
def test_every_split_gets_a_source_when_possible(count):
  parts = split_sources(list(range(count)), (0.85, 0.075, 0.075))
  assert all(parts[name] for name in ("train", "validation", "test"))
  assert sum(len(part) for part in parts.values()) == count
