"""The Keras reference of the speed study (`dclf.bench.keras_runner`, `keras_models`): the original
code's models, Keras' own step data-parallel over 2 CPU devices on each backend, the device check,
and the rows it cannot run.

Keras fixes its backend when first imported, and TensorFlow crashes a process that imports PyTorch
after it: every backend runs in a process of its own (tests/_keras_child.py), with the first
interpreter that has Keras and the backend's package among DCLF_KERAS_PYTHON (one or more
interpreters, separated by os.pathsep) and this one (tests/_framework_python.py). `pip install -e '.[test]'` gives Keras on JAX;
TensorFlow needs e.g. `python -m venv /work/venvs/keras && /work/venvs/keras/bin/pip install -e
'.[test,keras]'`, PyTorch a venv with `.[test,torch]`. No timing assertions: these run on shared CPUs.
"""

import json
import math
import os
import subprocess
import sys

import pytest

from dclf.bench import keras_runner
from dclf.bench.runner import Request, Unsupported
from dclf.errors import UsageError

from _framework_python import interpreter, skip_reason
from _runs import REPO, module_env, tiny_config

CHILD = REPO / "tests" / "_keras_child.py"
PACKAGES = {"jax": "jax", "tensorflow": "tensorflow", "tensorflow-xla": "tensorflow", "torch": "torch"}
STEPS, BATCH = 3, 4  # the child's parity run: 3 training steps of one global batch of 4
# Timed on 2 CPU devices: training and inference on synthetic data, training on the trainer's loader.
TIMED = ("time:softmax:train:cpu:2", "time:softmax:eval:cpu:2", "time:softmax:train:cpu:2:real")


def keras_python(backend: str) -> str:
  """The interpreter that runs Keras on `backend`; skips the test (saying why) where there is none."""
  framework = f"keras-{PACKAGES[backend]}"
  return interpreter(framework) or pytest.skip(skip_reason(framework))


def run_child(backend: str, *checks: str, env: dict | None = None) -> subprocess.CompletedProcess:
  return subprocess.run(
    [keras_python(backend), str(CHILD), backend, *checks],
    cwd=REPO,
    env=module_env(env),
    capture_output=True,
    text=True,
    timeout=600,
  )


def child_results(backend: str, *checks: str, env: dict | None = None) -> dict:
  result = run_child(backend, *checks, env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


def _request(backend: str, platform: str = "cpu", devices: int = 2) -> Request:
  config = tiny_config("softmax", batch_size=BATCH, image_size=32)
  return Request(config, "train", platform, devices, num_steps=1, warmup=0, options={"keras_backend": backend})


# What a registry asks without loading Keras.


def test_the_runner_module_imports_no_framework():
  """A registry may list the runner in any process: importing it loads no Keras, TensorFlow or PyTorch."""
  probe = "import sys, dclf.bench.keras_runner; print(sorted({'keras', 'tensorflow', 'torch'} & set(sys.modules)))"
  result = subprocess.run([sys.executable, "-c", probe], env=module_env(), capture_output=True, text=True, timeout=300)
  assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


def test_rows_a_backend_cannot_run_are_unsupported_with_the_reason():
  for platform in ("cpu", "gpu", "tpu"):
    for backend in ("jax", "tensorflow"):
      assert keras_runner.unsupported(platform, {"keras_backend": backend}, 8) is None
  assert keras_runner.unsupported("tpu", {"keras_backend": "torch"}, 1) == keras_runner.NO_TPU
  assert "never on a TPU" in keras_runner.NO_TPU and "not run on the CPU instead" in keras_runner.NO_TPU
  assert keras_runner.unsupported("gpu", {"keras_backend": "torch"}, devices=2) == keras_runner.NO_TORCH_DATA_PARALLEL
  assert keras_runner.unsupported("gpu", {"keras_backend": "torch"}, devices=1) is None
  assert keras_runner.unsupported("gpu", {"keras_backend": "tensorflow-xla"}, devices=2) == keras_runner.NO_XLA_STRATEGY
  assert keras_runner.unsupported("gpu", {"keras_backend": "tensorflow-xla"}, devices=1) is None
  assert keras_runner.unsupported("tpu", {"keras_backend": "tensorflow-xla"}, devices=1) == keras_runner.XLA_ON_TPU
  with pytest.raises(UsageError, match="options\\['keras_backend'\\], one of tensorflow, tensorflow-xla, jax, torch"):
    keras_runner.unsupported("cpu", {"keras_backend": "cntk"}, 1)


def test_run_refuses_an_unsupported_row_before_loading_keras():
  """`run` called without asking `unsupported` first: the row is recorded as unsupported (the
  suite's `Unsupported`), with the same reason, and Keras is not loaded."""
  with pytest.raises(Unsupported) as refused:
    keras_runner.run(_request("torch", "tpu"))
  assert str(refused.value) == keras_runner.NO_TPU


# Each backend in its own process.


@pytest.fixture(scope="module", params=["jax", "tensorflow"])
def two_devices(request):
  """(backend, the child's results): parity of 1 and 2 devices, and 2-device timings of both modes
  and of training on the trainer's loader."""
  backend = request.param
  return backend, child_results(backend, f"parity:softmax:{STEPS}", *TIMED)


def test_two_devices_split_one_global_batch_and_match_one_device(two_devices):
  """Proof that the batch is split: the loss of every step on 2 devices equals the 1-device run's
  with the same global batch, each device holds half of it, the variables live on both devices
  (the distribution is used), and TensorFlow's metrics saw each image once per step."""
  backend, results = two_devices
  one, two = results[f"parity:softmax:{STEPS}"]["one"], results[f"parity:softmax:{STEPS}"]["two"]
  assert two["losses"] == pytest.approx(one["losses"], rel=1e-5)
  assert len(set(one["losses"])) == STEPS, one["losses"]  # each step starts from the last one's weights
  assert one["rows"] == [BATCH] and two["rows"] == [BATCH // 2, BATCH // 2]
  assert one["variable_devices"] == 1 and two["variable_devices"] == 2
  distributions = {
    "jax": ("DataParallel", "DataParallel"),
    "tensorflow": ("DefaultDistributionStrategy", "MirroredStrategy"),
  }
  assert (one["distribution"], two["distribution"]) == distributions[backend]
  if backend == "tensorflow":
    assert one["samples_seen"] == two["samples_seen"] == STEPS * BATCH
  flax_params = results[f"parity:softmax:{STEPS}"]["flax_params"]
  assert one["params"] == two["params"] == flax_params  # parameter counts unchanged by the distribution


def test_two_device_rows_are_timed_with_what_changes_their_numbers(two_devices):
  backend, results = two_devices
  for check in TIMED:
    m = results[check]
    assert (m["platform"], m["device_kind"], m["devices"]) == ("cpu", "cpu", 2)
    assert len(m["timings"]["step_s"]) == 2 and m["timings"]["back_to_back_s"] > 0 and m["compile_s"] >= 0
    assert m["timings"]["recompiles"] == 0  # nothing compiled again after the warm-up
    assert math.isfinite(m["loss"]) if check.split(":")[2] == "train" else m["loss"] is None
    assert m["settings"]["keras_backend"] == backend and m["settings"]["precision_policy"] == "float32"
    assert m["settings"]["distribution"] == {"jax": "DataParallel", "tensorflow": "MirroredStrategy"}[backend]
    assert m["settings"]["jit_compile"] == (backend == "jax") and m["settings"]["matmul_precision"]
    assert set(m["versions"]) == {"jax": {"keras", "jax", "jaxlib"}, "tensorflow": {"keras", "tensorflow"}}[backend]
    assert isinstance(m["compile_cache_hit"], bool) if backend == "jax" else m["compile_cache_hit"] is None
  assert "torch" not in results["imported"]  # TensorFlow never shares a process with PyTorch


def error_line(result: subprocess.CompletedProcess) -> str:
  """The one `error:` line a failed child ends with, exit code 2, no traceback; TensorFlow's own
  start-up lines (its C++ logging, which no setting silences before it starts) may come before."""
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
  assert lines and lines[-1].startswith("error: ") and sum(line.startswith("error") for line in lines) == 1, lines
  return lines[-1]


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_the_device_check_refuses_another_platform(backend):
  line = error_line(run_child(backend, "time:softmax:train:gpu:2"))
  assert "gpu asked for, but this framework runs on cpu" in line


def test_tensorflow_xla_compiles_the_one_device_step():
  """XLA with TensorFlow's default strategy (one device); several devices are unsupported (above)."""
  m = child_results("tensorflow-xla", "time:softmax:train:cpu:1")["time:softmax:train:cpu:1"]
  assert m["settings"]["jit_compile"] is True and m["settings"]["distribution"] == "DefaultDistributionStrategy"
  assert m["devices"] == 1 and m["timings"]["recompiles"] == 0


def test_keras_on_torch_runs_one_device_without_tensorflow(tmp_path):
  """The study's torch environment has no TensorFlow. Where the interpreter has one (CI's single
  reference environment), Keras on PyTorch would import it of its own accord, so the child runs
  with TensorFlow hidden: a package of that name first on its path whose import raises ImportError,
  which is how Keras and its dependencies find TensorFlow absent."""
  hidden = tmp_path / "tensorflow"
  hidden.mkdir()
  (hidden / "__init__.py").write_text('raise ImportError("TensorFlow is hidden from this process")\n')
  path = os.pathsep.join(filter(None, [str(tmp_path), str(REPO), os.environ.get("PYTHONPATH")]))
  results = child_results("torch", "time:softmax:train:cpu:1", env={"PYTHONPATH": path})
  m = results["time:softmax:train:cpu:1"]
  assert (m["platform"], m["devices"], m["timings"]["recompiles"], m["settings"]["distribution"]) == (
    "cpu",
    1,
    0,
    "none",
  )
  assert "tensorflow" not in results["imported"]


def test_models_have_the_flax_parameter_counts_and_the_old_decay():
  results = child_results("jax", "counts", "decay")
  for name, counts in results["counts"].items():
    assert counts["keras"] == counts["flax"], name
  assert sorted(results["counts"]) == sorted(["softmax", "vgg16_scratch", "vgg16_transfer", "sgdnet"])
  # RMSprop(decay=2e-5) of Keras 2.3: lr / (1 + 2e-5 step) at the step count before the update.
  assert results["decay"]["class"] == "RMSprop" and results["decay"]["rho"] == 0.9
  assert results["decay"]["epsilon"] == 1e-7
  assert results["decay"]["learning_rate"] == pytest.approx(1e-3 / (1 + 2e-5 * 3), rel=1e-6)


def test_a_missing_backend_package_is_one_line(tmp_path):
  """Keras on TensorFlow in an interpreter without TensorFlow (a package that fails to import in its place)."""
  (tmp_path / "tensorflow").mkdir()
  (tmp_path / "tensorflow" / "__init__.py").write_text("raise ImportError('no tensorflow here')\n")
  path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
  args = [keras_python("jax"), str(CHILD), "tensorflow", "time:softmax:train:cpu:1"]
  result = subprocess.run(args, cwd=REPO, env=module_env({"PYTHONPATH": path}), capture_output=True, text=True)
  assert "Keras on tensorflow is not installed (no tensorflow here; pip install -e '.[keras]')" in error_line(result)
