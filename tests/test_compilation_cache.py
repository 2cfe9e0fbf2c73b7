"""The session's persistent compilation cache (tests/conftest.py) reaches the commands the tests
start: a subprocess writes what it compiles where this process reads."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import jax

from _runs import module_env


def test_subprocesses_share_the_sessions_compilation_cache():
  cache = Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
  assert jax.config.jax_compilation_cache_dir == str(cache)
  before = set(cache.iterdir()) if cache.exists() else set()
  constant = uuid.uuid4().int % 10**6  # a function no test compiled before
  program = f"import jax, jax.numpy as jnp; jax.jit(lambda x: x * {constant} + 1)(jnp.ones(3)).block_until_ready()"
  env = module_env({"JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"})
  done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=120)
  assert done.returncode == 0, done.stderr
  assert set(cache.iterdir()) - before, f"the subprocess wrote nothing to {cache}"
