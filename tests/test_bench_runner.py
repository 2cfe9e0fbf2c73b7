"""The runner contract every framework implements (`dclf.bench.runner`), its registry, the JAX
runner, the device check, the host's platform, and the data every runner gets: what the study's
like-with-like rule stands on. No timing assertions: these run on shared CPUs."""

import math

import jax
import numpy as np
import pytest

from dclf.bench import data, jax_runner, platforms, runners, suite
from dclf.bench.jax_stats import COMPILATIONS
from dclf.bench.runner import Request, check_devices
from dclf.bench.timing import time_steps
from dclf.errors import UsageError

from _runs import tiny_config


def _request(config, **fields) -> Request:
  defaults = {
    "mode": "train",
    "platform": "cpu",
    "devices": 2,
    "num_steps": 2,
    "warmup": 1,
    "options": {"parallelism": "jit"},
  }
  return Request(config=suite.variant(config, "fp32"), **{**defaults, **fields})


# The device check.


def test_the_device_check_refuses_another_platform_too_few_devices_and_an_uneven_batch():
  request = _request(tiny_config(batch_size=8), platform="gpu", devices=2)
  with pytest.raises(UsageError, match=r"^gpu asked for, but this framework runs on cpu \(cpu\); no row is timed"):
    check_devices(request, "cpu", "cpu", 2)
  with pytest.raises(UsageError, match=r"^4 gpu devices asked for, 2 found \(NVIDIA H100\)$"):
    check_devices(_request(tiny_config(batch_size=8), platform="gpu", devices=4), "gpu", "NVIDIA H100", 2)
  with pytest.raises(UsageError, match="the global batch 6 does not split evenly over 4 devices"):
    check_devices(_request(tiny_config(batch_size=6), platform="tpu", devices=4), "tpu", "TPU v4", 4)
  check_devices(_request(tiny_config(batch_size=8), platform="tpu", devices=4), "tpu", "TPU v4", 8)  # 4 of 8: fine


@pytest.mark.parametrize(
  "fields,message",
  [
    ({"platform": "gpu", "devices": 1}, "gpu asked for, but this framework runs on cpu (cpu)"),
    ({"devices": 3}, "3 cpu devices asked for, 2 found (cpu)"),
  ],
)
def test_the_jax_runner_checks_its_devices_before_timing(fields, message):
  """conftest gives JAX 2 CPU devices and no GPU: JAX runs no row elsewhere, nor on fewer devices."""
  with pytest.raises(UsageError) as refused:
    jax_runner.run(_request(tiny_config(batch_size=6), **fields))
  assert str(refused.value).startswith(message)


# Data parallelism, through the runner.


@pytest.mark.parametrize("model,parallelism", [("softmax", "pmap"), ("small_cnn", "jit")])
def test_two_devices_reach_the_one_device_loss_on_half_the_batch_each(model, parallelism):
  """The same global batch on 1 and on 2 CPU devices: the same loss after a few steps (gradient,
  BatchNorm statistics and loss averaged over the devices), and about the XLA FLOPs per step of all
  devices together of one device: each device computed half the batch (all of it would double the
  count; the optimizer update that every device repeats adds a little)."""
  config = tiny_config(model=model, batch_size=32, image_size=32)
  one, two = (
    jax_runner.run(_request(config, devices=n, num_steps=2, warmup=1, options={"parallelism": parallelism}))
    for n in (1, 2)
  )
  assert (one.devices, two.devices) == (1, 2) and one.platform == two.platform == "cpu"
  assert math.isfinite(one.loss) and two.loss == pytest.approx(one.loss, rel=1e-4)
  assert one.flops_per_step <= two.flops_per_step < 1.25 * one.flops_per_step
  assert one.timings.recompiles == two.timings.recompiles == 0


def test_jax_compilations_are_counted_over_the_timed_steps():
  """A step that compiles every call (a new shape each time) is seen: every timed call counts."""
  calls = []

  def step():
    calls.append(1)
    return jax.jit(lambda x: x * 2)(np.zeros(len(calls), np.float32))

  timings = time_steps(step, jax.block_until_ready, steps=3, warmup=1, compilations=COMPILATIONS.compiled)
  assert timings.recompiles == 6  # 3 synced steps + 3 back to back, each of a new shape


@pytest.mark.parametrize("loading_call,expected", [(0, True), (1, False), (None, False)])
def test_a_cache_load_counts_for_the_first_call_only(loading_call, expected):
  """A compile loaded from a persistent cache inside the first call is the first call's; one in a
  later call (a recompile) is not what the record's compile time measured."""
  calls, loads = [], []

  def step():
    if len(calls) == loading_call:
      loads.append(1)
    calls.append(1)

  timings = time_steps(step, lambda _: None, steps=2, warmup=1, cache_loads=lambda: len(loads))
  assert timings.first_call_cache_load is expected
  assert time_steps(step, lambda _: None, steps=1, warmup=0).first_call_cache_load is None  # no counter: unknown


# The registry.


def test_every_row_names_a_registered_runner_and_the_environment_it_needs():
  assert list(runners.ROWS)[:2] == ["jax-jit", "jax-pmap"]
  for name, row in runners.ROWS.items():
    assert row.runner in runners.RUNNERS, name
    if row.runner != "jax" and row.options.get("keras_backend") != "jax":  # another framework holds the devices
      assert row.environment["JAX_PLATFORMS"] == "cpu", name
  assert runners.ROWS["keras-tensorflow-xla"].environment["KERAS_BACKEND"] == "tensorflow"
  assert runners.ROWS["torch-channels-last"].skip == {"softmax": "one Dense layer: no convolution layout to change"}
  assert runners.load("jax-pmap") is jax_runner and jax_runner.NAME == "jax"
  with pytest.raises(UsageError, match="unknown row.s. jax-vmap; known: jax-jit, jax-pmap, torch,"):
    runners.check(["jax-jit", "jax-vmap"])


def test_a_runner_imported_under_another_environment_is_refused(monkeypatch):
  """Keras fixes its backend at its first import: a second backend in one process would silently
  run the first one's."""
  monkeypatch.setitem(runners.ROWS, "jax-other", runners.Row("jax", {"parallelism": "jit"}, {"DCLF_TEST_ENV": "b"}))
  monkeypatch.setenv("DCLF_TEST_ENV", "a")
  with pytest.raises(UsageError, match="the jax-other row needs .* but its runner already runs here with"):
    runners.load("jax-other")


# The host's platform.


def _fake_host(root, tpu_chips=0, nvidia=0):
  for i in range(tpu_chips):
    pci = root / f"sys/bus/pci/devices/0000:00:0{i}.0"
    pci.mkdir(parents=True)
    (pci / "vendor").write_text("0x1ae0\n")
    (pci / "device").write_text("0x005e\n")
  nic = root / "sys/bus/pci/devices/0000:00:09.0"  # another Google device: not a TPU
  nic.mkdir(parents=True)
  (nic / "vendor").write_text("0x1ae0\n")
  (nic / "device").write_text("0x0042\n")
  (root / "dev").mkdir()
  for name in [f"nvidia{i}" for i in range(nvidia)] + (["nvidiactl", "nvidia-uvm"] if nvidia else []):
    (root / "dev" / name).write_text("")
  return str(root)


def test_the_hosts_accelerator_is_found_from_its_device_files(tmp_path, monkeypatch):
  monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
  tpu, gpu, cpu = (
    _fake_host(tmp_path / n, **kw) for n, kw in (("t", {"tpu_chips": 4}), ("g", {"nvidia": 8}), ("c", {}))
  )
  assert (
    platforms.detect(tpu) == ("tpu", 4) and platforms.detect(gpu) == ("gpu", 8) and platforms.detect(cpu) == ("cpu", 1)
  )
  assert platforms.resolve("auto", None, gpu) == ("gpu", 8) and platforms.resolve("auto", 2, gpu) == ("gpu", 2)
  assert platforms.resolve("cpu", None, tpu) == ("cpu", 1)  # the host CPU of a TPU VM, asked for
  monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
  assert platforms.detect(gpu) == ("gpu", 2)
  with pytest.raises(UsageError, match="no tpu devices found in this host's device files; pass --devices N"):
    platforms.resolve("tpu", None, gpu)
  with pytest.raises(UsageError, match="--platform takes auto, cpu, gpu, tpu"):
    platforms.resolve("ipu", None, cpu)


def test_every_framework_names_a_tpu_generation_as_jax_does(tmp_path):
  """TensorFlow names its TPU devices "TPU" (with the VM's accelerator type where it is known): one
  name per generation, JAX's, so that the rows of every framework share a table."""
  v4_host, no_tpu = _fake_host(tmp_path / "t", tpu_chips=4), _fake_host(tmp_path / "c")
  assert platforms.tpu_device_kind("TPU v5 lite", no_tpu) == "TPU v5 lite"  # JAX's own
  assert platforms.tpu_device_kind("TPU v5litepod-8", no_tpu) == "TPU v5 lite"
  assert platforms.tpu_device_kind("TPU v5p-16", no_tpu) == "TPU v5"
  assert platforms.tpu_device_kind("TPU v4-8", no_tpu) == "TPU v4"
  assert platforms.tpu_device_kind("TPU", v4_host) == "TPU v4"  # from the host's chips
  assert platforms.tpu_device_kind("TPU", no_tpu) == "TPU"  # nothing tells: as reported


def test_cpu_rows_get_their_host_devices_from_the_environment():
  env = platforms.environment(
    "cpu", 4, {"XLA_FLAGS": "--xla_cpu_use_thunk_runtime=true --xla_force_host_platform_device_count=2"}
  )
  assert env == {
    "XLA_FLAGS": "--xla_cpu_use_thunk_runtime=true --xla_force_host_platform_device_count=4",
    "CPU_NUM_DEVICES": "4",
  }
  assert platforms.environment("tpu", 4, {}) == {}
  assert platforms.default_precisions("cpu") == ("fp32",) and platforms.default_precisions("gpu") == ("fp32", "bf16")


# What every runner eats.


def test_the_shards_of_a_synthetic_batch_make_up_the_one_global_batch():
  """N processes of one device each (PyTorch DDP) see together what one process of N devices sees."""
  config = tiny_config(batch_size=8)
  whole = data.synthetic_batch(config, 3)
  halves = [data.synthetic_batch(config, 3, shard=(i, 2)) for i in range(2)]
  for key in ("image", "label"):
    np.testing.assert_array_equal(np.concatenate([h[key] for h in halves]), whole[key])
  assert whole["image"].shape == (8, 32, 32, 3) and whole["image"].dtype == np.uint8
  with pytest.raises(ValueError, match="shard"):
    data.synthetic_batch(config, 3, shard=(0, 3))


def test_every_framework_gets_the_loader_through_the_same_prefetch():
  """`device_batches` with a framework's own `put` (here a plain NumPy one, as a framework without
  JAX would): the real loader's shard of each global batch, put in the prefetch thread."""
  config = tiny_config(batch_size=8, dataset="synthetic", data_workers=0)
  put_threads = []

  def put(batch):
    import threading  # pylint: disable=g-import-not-at-top

    put_threads.append(threading.current_thread().name)
    return batch["image"].shape, batch["label"].copy()

  batches = data.device_batches(config, put, real_data=True, num_classes=3, shard=(1, 2))
  try:
    shape, labels = next(batches)
  finally:
    batches.close()
  assert shape == (4, 32, 32, 3) and labels.shape == (4,)
  assert set(put_threads) == {"dclf-prefetch"}
  loader = data.real_loader(config)
  try:
    np.testing.assert_array_equal(next(loader)["label"][4:], labels)  # the second half of global batch 0
  finally:
    loader.close()
  synthetic = data.device_batches(config, put, real_data=False, num_classes=3)
  assert next(synthetic) is next(synthetic)  # put once
