"""What a run shows its user between log lines: compilations announced and timed, evaluations
with progress when stderr is not a terminal, training metrics averaged over a log interval."""

import logging

import jax.numpy as jnp
import pytest

from dclf import progress


@pytest.fixture
def lines(caplog):
  caplog.set_level(logging.INFO, logger="dclf")
  return lambda: [record.getMessage() for record in caplog.records if record.name == "dclf"]


def test_window_means_average_the_last_steps():
  window = progress.WindowMeans(2)
  assert window.read(lambda metrics: metrics) == ({}, 0)
  for loss in (1.0, 3.0):
    window.add({"loss": jnp.float32(loss), "accuracy": jnp.float32(loss / 4)})
  assert window.read(lambda metrics: metrics) == ({"loss": 2.0, "accuracy": 0.5}, 2)
  window.add({"loss": jnp.float32(5.0), "accuracy": jnp.float32(1.25)})  # the window slides: steps 2 and 3
  assert window.read(lambda metrics: metrics) == ({"loss": 4.0, "accuracy": 1.0}, 2)


def test_first_call_is_announced_and_timed_once(lines):
  calls = []
  step = progress.FirstCall(lambda x: calls.append(x) or jnp.float32(x), "train step")
  assert [float(step(i)) for i in range(3)] == [0.0, 1.0, 2.0] and calls == [0, 1, 2]
  assert lines()[0] == "compiling the train step ..."
  assert lines()[1].startswith("compiling the train step ... done in ") and lines()[1].endswith(" s")
  assert len(lines()) == 2


def test_an_evaluation_pass_logs_its_progress_off_a_terminal(lines, monkeypatch):
  monkeypatch.setattr(progress, "EVAL_LOG_EVERY_S", 0.0)  # every batch, instead of every 10 s
  assert list(progress.tracked(iter("abc"), 3, "evaluating on validation")) == ["a", "b", "c"]
  assert lines() == [
    "evaluating on validation: 3 batches ...",
    "evaluating on validation: batch 1/3",
    "evaluating on validation: batch 2/3",
    "evaluating on validation: batch 3/3",
  ]
