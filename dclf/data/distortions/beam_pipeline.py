"""The same per-source work as a Beam PTransform, for builds that outgrow one machine.

apache_beam is imported lazily: it is an optional extra (`pip install dclf[beam]`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence

from dclf.data.distortions.examples import Job, SourceOutcome, make_examples

COUNTER_NAMESPACE = "dclf.distortions"


def examples_transform(refs: Sequence, job: Job, split: str):
  """PTransform: [] -> (key, features) for every example of `refs`."""
  import apache_beam as beam

  return (
    "ListSources" >> beam.Create(list(refs))
    | "MakeExamples" >> beam.Map(functools.partial(make_examples, job))
    | "CountAndUnpack" >> beam.FlatMap(functools.partial(_count_and_unpack, split))
  )


def _count_and_unpack(split: str, outcome: SourceOutcome) -> Iterator[tuple[str, dict]]:
  import apache_beam as beam

  def count(kind: str, key: str) -> None:
    beam.metrics.Metrics.counter(COUNTER_NAMESPACE, f"{kind}.{key}").inc()

  if outcome.skipped:
    count("skipped", outcome.skipped)
    return
  count("used", split)
  for conversion in outcome.conversions:
    count("converted", conversion)
  yield from outcome.examples


def counters(pipeline_result) -> Iterator[tuple[str, str, int]]:
  """(kind, key, count) of the counters above, read from a finished pipeline."""
  from apache_beam.metrics.metric import MetricsFilter

  query = pipeline_result.metrics().query(MetricsFilter().with_namespace(COUNTER_NAMESPACE))
  for counter in query["counters"]:
    kind, key = counter.key.metric.name.split(".", 1)
    yield kind, key, counter.committed or counter.attempted
