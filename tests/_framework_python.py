"""The interpreter that runs a reference framework's side of the tests, in a process of its own.

TensorFlow and PyTorch's Triton crash one process that imports both, Keras fixes its backend per
process, and torch_xla needs another torch release than PyTorch's newest: each framework runs in
its own process, with its environment's interpreter. DCLF_TORCH_PYTHON, DCLF_TORCH_XLA_PYTHON and
DCLF_KERAS_PYTHON name them (each one or more interpreters, separated by os.pathsep: the first that
has the framework runs it); DCLF_STUDY_ENVS=DIR names the environments `launch/study_envs.sh DIR`
made, each framework run by the one that serves it (launch/study-envs.txt); after them, the tests'
own interpreter runs a framework it has, and the tests of a framework found nowhere are skipped with
that reason.
"""

import functools
import importlib.util
import json
import os
import subprocess
import sys

from _runs import REPO, module_env

# framework -> (the environment variable naming its interpreters, the modules it needs).
FRAMEWORKS = {
  "torch": ("DCLF_TORCH_PYTHON", ("torch",)),
  "torch_xla": ("DCLF_TORCH_XLA_PYTHON", ("torch_xla",)),
  "keras-jax": ("DCLF_KERAS_PYTHON", ("keras", "jax")),
  "keras-tensorflow": ("DCLF_KERAS_PYTHON", ("keras", "tensorflow")),
  "keras-torch": ("DCLF_KERAS_PYTHON", ("keras", "torch")),
}
DRIVER = REPO / "tests" / "_torch_driver.py"


@functools.cache
def _has(python: str, modules: tuple[str, ...]) -> bool:
  """Whether `python` can import `modules` (looked up, not imported)."""
  if python == sys.executable:
    return all(importlib.util.find_spec(m) for m in modules)
  probe = f"import importlib.util, sys; sys.exit(not all(importlib.util.find_spec(m) for m in {modules!r}))"
  return subprocess.run([python, "-c", probe], capture_output=True, check=False).returncode == 0


def _study_environment(framework: str) -> str | None:
  """The environment of launch/study-envs.txt that serves `framework` (a row such as keras-torch by
  its own name, else by its framework's: keras-jax by keras)."""
  serves = {}
  for line in (REPO / "launch" / "study-envs.txt").read_text().splitlines():
    if line.strip() and not line.startswith("#"):
      env, field, *values = line.split()
      if field == "serves":
        serves.update(dict.fromkeys(values, env))
  return serves.get(framework) or serves.get(framework.split("-")[0])


def _candidates(framework: str) -> list[str]:
  variable, _ = FRAMEWORKS[framework]
  named = [p for p in os.environ.get(variable, "").split(os.pathsep) if p]
  envs, env = os.environ.get("DCLF_STUDY_ENVS"), _study_environment(framework)
  if envs and env:
    named.append(os.path.join(envs, env, "bin", "python"))
  return named + [sys.executable]


def interpreter(framework: str) -> str | None:
  """The first interpreter that has `framework`, or None."""
  _, modules = FRAMEWORKS[framework]
  return next((python for python in _candidates(framework) if _has(python, modules)), None)


def skip_reason(framework: str) -> str:
  variable, modules = FRAMEWORKS[framework]
  return (
    f"{framework} is not tested: none of {', '.join(_candidates(framework))} has {' and '.join(modules)}; set "
    f"{variable} to the interpreter of its environment, or DCLF_STUDY_ENVS to the folder of launch/study_envs.sh "
    "(docs/benchmarks.md, the study's environments)"
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
