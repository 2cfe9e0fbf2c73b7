"""Two CPU devices for every test (multi-device steps without accelerators)."""

import logging
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("KERAS_BACKEND", "jax")  # Keras builds the weight tests' references, before any test imports it
os.environ.setdefault("JAX_DEFAULT_PRNG_IMPL", "rbg")  # as dclf.train uses: threefry init compiles slowly on CPU
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()

import pytest  # pylint: disable=g-import-not-at-top

import _runs  # pylint: disable=g-import-not-at-top


@pytest.fixture
def tiny_config():
  """The tests' tiny run (`_runs.TINY`, synthetic data) for 6 steps: trains in seconds on CPU."""
  return _runs.tiny_config(num_train_steps=6, log_every_steps=2, checkpoint_every_steps=3)


@pytest.fixture(autouse=True)
def _dclf_log_lines_reach_caplog():
  """A command run in-process sets up dclf's own log handler (and stops propagation to the root
  logger, where caplog listens): undo it after each test."""
  yield
  logger = logging.getLogger("dclf")
  logger.handlers.clear()
  logger.propagate = True


pytest_plugins = ["eval_fixtures"]  # session fixtures: tiny dataset builds and trained runs
