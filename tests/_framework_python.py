"""The interpreter that runs a reference framework's side of the tests, in a process of its own.

TensorFlow and PyTorch's Triton crash one process that imports both, and torch_xla needs another
torch release than the torch row: each framework runs in its own process, with its environment's
interpreter. DCLF_TORCH_PYTHON and DCLF_TORCH_XLA_PYTHON name them; unset, the tests' own
interpreter runs a framework it has, and the tests of a framework found nowhere are skipped with
that reason.
"""

import importlib.util
import json
import os
import subprocess
import sys

from _runs import REPO, module_env

# framework -> (the environment variable naming its interpreter, the module it needs).
FRAMEWORKS = {"torch": ("DCLF_TORCH_PYTHON", "torch"), "torch_xla": ("DCLF_TORCH_XLA_PYTHON", "torch_xla")}
DRIVER = REPO / "tests" / "_torch_driver.py"


def interpreter(framework: str) -> str | None:
  variable, module = FRAMEWORKS[framework]
  if os.environ.get(variable):
    return os.environ[variable]
  return sys.executable if importlib.util.find_spec(module) else None


def skip_reason(framework: str) -> str:
  variable, module = FRAMEWORKS[framework]
  return (
    f"{module} is not installed here and {variable} names no interpreter that has it (its tests run with the "
    "interpreter of its own environment: docs/benchmarks.md says how to make it)"
  )


def run_driver(python: str, check: str, arguments=None, env: dict | None = None, timeout: float = 1200):
  """`python tests/_torch_driver.py CHECK JSON` in the repository root, with `env` added to the
  environment (a None value removes that variable): the completed process."""
  environment = {name: value for name, value in module_env(env).items() if value is not None}
  return subprocess.run(
    [python, str(DRIVER), check, json.dumps(arguments)],
    cwd=REPO,
    env=environment,
    capture_output=True,
    text=True,
    timeout=timeout,
  )


def driver_result(python: str, check: str, arguments=None, env: dict | None = None):
  """The JSON result of a check that must succeed."""
  result = run_driver(python, check, arguments, env)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])
