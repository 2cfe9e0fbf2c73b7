"""The registry of the study's rows: each a runner module (`dclf.bench.runner`'s contract) with
its options, imported only when a row runs, so `--help` and the study's own process import no
framework. Adding a framework is one runner module, one RUNNERS line and its ROWS lines.

A row's `environment` is set in its process before its runner is imported: Keras' backend, and
`JAX_PLATFORMS=cpu` for every row whose accelerator belongs to another framework (dclf's analytic
FLOP count and config checks use JAX: on its CPU backend it cannot take the TPU from torch_xla or
TensorFlow, nor preallocate a GPU's memory).
"""

import contextlib
import dataclasses
import importlib
import os
import sys

from dclf.errors import UsageError


@dataclasses.dataclass(frozen=True)
class Runner:
  module: str  # the runner module
  install: str  # how to get its framework


@dataclasses.dataclass(frozen=True)
class Row:
  runner: str  # a RUNNERS key
  options: dict  # Request.options
  environment: dict = dataclasses.field(default_factory=dict)
  skip: dict = dataclasses.field(default_factory=dict)  # model -> why the row does not apply to it


RUNNERS = {
  "jax": Runner("dclf.bench.jax_runner", "pip install -e ."),
  "torch": Runner("dclf.bench.torch_runner", "pip install -e '.[torch]'"),
  "torch_xla": Runner(
    "dclf.bench.torch_xla_runner", "torch==2.9.0 with torch_xla==2.9.0: bash launch/study_envs.sh --envs torch"
  ),
  "keras": Runner("dclf.bench.keras_runner", "pip install -e '.[keras]'"),
}

NOT_JAX = {"JAX_PLATFORMS": "cpu"}
NO_LAYOUT = {"softmax": "one Dense layer: no convolution layout to change"}


def _torch(channels_last: bool, compile_model: bool) -> Row:
  return Row(
    "torch", {"channels_last": channels_last, "compile": compile_model}, NOT_JAX, NO_LAYOUT if channels_last else {}
  )


def _keras(backend: str, jit_compile: bool) -> Row:
  framework = backend.split("-")[0]
  environment = {"KERAS_BACKEND": framework, **(NOT_JAX if framework != "jax" else {})}
  return Row("keras", {"keras_backend": backend, "jit_compile": jit_compile}, environment)


# Row name -> row, in the order the study runs them. Keras' jit_compile is explicit: its "auto" is
# False for TensorFlow on a machine without GPU and True with one.
ROWS = {
  "jax-jit": Row("jax", {"parallelism": "jit"}),
  "jax-pmap": Row("jax", {"parallelism": "pmap"}),
  "torch": _torch(False, False),
  "torch-channels-last": _torch(True, False),
  "torch-compile": _torch(False, True),
  "torch-compile-channels-last": _torch(True, True),
  "torch-xla": Row("torch_xla", {}, NOT_JAX),
  "keras-tensorflow": _keras("tensorflow", False),
  "keras-tensorflow-xla": _keras("tensorflow-xla", True),
  "keras-jax": _keras("jax", True),
  "keras-torch": _keras("torch", False),
}


def check(names) -> list[str]:
  """`names` (an iterable of row names) as a list; a UsageError naming the unknown ones."""
  names = list(names)
  unknown = [name for name in names if name not in ROWS]
  if unknown or not names:
    raise UsageError(f"unknown row(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(ROWS)}")
  return names


def framework(row: str) -> str:
  return ROWS[row].runner


@contextlib.contextmanager
def framework_imports(row: str):
  """A framework that fails to import inside the block (a runner module, or its `run`: runners of
  optional frameworks import them only then, so that `unsupported` can be asked anywhere) becomes a
  UsageError naming the row and what installs it; dclf's own import errors are bugs and pass."""
  try:
    yield
  except ImportError as e:
    if (e.name or "").startswith("dclf"):
      raise
    spec = ROWS[row]
    raise UsageError(
      f"the {row} row needs {spec.runner}, which is not installed here ({e}; {RUNNERS[spec.runner].install})"
    ) from None


def load(row: str):
  """The runner module of `row`, imported after setting the row's environment. A UsageError when
  its runner was imported here under another environment (Keras fixes its backend when first
  imported: a process per backend)."""
  spec, runner = ROWS[row], RUNNERS[ROWS[row].runner]
  other = {k: os.environ.get(k) for k, v in spec.environment.items() if os.environ.get(k) != v}
  if other and runner.module in sys.modules:
    raise UsageError(
      f"the {row} row needs {spec.environment}, but its runner already runs here with {other}: a process of its own"
    )
  os.environ.update(spec.environment)
  with framework_imports(row):
    return importlib.import_module(runner.module)
