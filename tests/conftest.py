"""Two CPU devices for every test (multi-device steps without accelerators)."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_DEFAULT_PRNG_IMPL", "rbg")  # as dclf.train uses: threefry init compiles slowly on CPU
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()

import pytest  # pylint: disable=g-import-not-at-top


@pytest.fixture
def tiny_config():
  """A config small enough to train in seconds on CPU (32x32 synthetic images, batch 8)."""
  from configs import default  # pylint: disable=g-import-not-at-top
  config = default.get_config()
  config.image_size = 32
  config.batch_size = 8
  config.num_train_steps = 6
  config.log_every_steps = 2
  config.checkpoint_every_steps = 3
  config.eval_every_steps = -1
  config.data_workers = 0
  return config


pytest_plugins = ["eval_fixtures"]  # session fixtures: tiny dataset builds and trained runs
