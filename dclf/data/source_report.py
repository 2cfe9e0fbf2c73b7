"""Counts what happened to the source photos of a build, for the log and the metadata."""

from __future__ import annotations

import collections
import dataclasses

from absl import logging


@dataclasses.dataclass
class SourceReport:
  """Sources used per split, skipped per reason, converted per kind (cmyk, alpha, ...)."""

  used: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  converted: collections.Counter = dataclasses.field(default_factory=collections.Counter)

  def add(self, split: str, skipped: str | None, conversions: tuple[str, ...]) -> None:
    if skipped:
      self.skipped[skipped] += 1
      return
    self.used[split] += 1
    self.converted.update(conversions)

  def add_count(self, kind: str, key: str, count: int) -> None:
    """Adds a count by its flat name, e.g. ("skipped", "truncated", 3) from Beam counters."""
    getattr(self, kind)[key] += count

  def as_metadata(self) -> dict[str, dict[str, int]]:
    return {
      "sources_used": dict(sorted(self.used.items())),
      "sources_skipped": dict(sorted(self.skipped.items())),
      "sources_converted": dict(sorted(self.converted.items())),
    }

  def summary(self) -> str:
    def fmt(counter):
      return ", ".join(f"{key} {count}" for key, count in sorted(counter.items())) or "none"

    return f"sources used: {fmt(self.used)}; skipped: {fmt(self.skipped)}; converted: {fmt(self.converted)}"

  def log(self, dataset: str) -> None:
    logging.info("%s: %s", dataset, self.summary())
