"""Two CPU devices for every test (multi-device steps without accelerators), and one persistent
JAX compilation cache for the whole session.

Most of the suite's time went into compiling the same small models again in many processes (each
`python -m dclf.main` a test starts compiles its steps afresh). JAX's persistent cache works on the
CPU backend and across processes: the subprocesses inherit the environment set here, so the second
process to compile a step loads it instead. The cache lives in a temporary folder of this session,
removed at its end: every session starts cold, as CI does. A JAX_COMPILATION_CACHE_DIR set by the
caller is used instead (and kept).
"""

import logging
import os
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("KERAS_BACKEND", "jax")  # Keras builds the weight tests' references, before any test imports it
os.environ.setdefault("JAX_DEFAULT_PRNG_IMPL", "rbg")  # as dclf.train uses: threefry init compiles slowly on CPU
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()

import pytest  # pylint: disable=g-import-not-at-top

import _runs  # pylint: disable=g-import-not-at-top

# Set before any test module imports JAX, which reads them once.
_SESSION_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _SESSION_CACHE = tempfile.mkdtemp(prefix="dclf-tests-jax-cache-")
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _SESSION_CACHE
# JAX caches compilations that took at least 1 s by default; the tests' small steps often take less.
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")


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


def pytest_sessionfinish(session, exitstatus):
  del session, exitstatus
  if _SESSION_CACHE:
    shutil.rmtree(_SESSION_CACHE, ignore_errors=True)
