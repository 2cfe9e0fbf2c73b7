"""`python -m dclf.benchmark`: well-formed records, the CLI, the FLOPs counts (the PyTorch rows'
graphs are tested in tests/test_torch_rows.py). No timing assertions: these run on shared CPUs."""

import functools
import json
import math
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import default
from dclf import models, optim, steps
from dclf.bench import flops, peaks, suite, timing
from dclf.state import create_train_state

from _runs import run_module

# Hand-computed (docs/benchmarks.md): multiply-adds of every conv and dense layer at 224x224, x2.
VGG16_FEATURES_MACS = 13_959_364_608  # blocks 1-4
VGG16_HEAD_MACS = 462_422_016 + 102_760_448 + 12_288  # conv 14x14x512x(3x3x512), fc 25088x4096, predictions
EXPECTED_FLOPS_224 = {
  "softmax": (2 * 150_528 * 3, 2 * 2 * 150_528 * 3),
  "vgg16_transfer": (
    2 * (VGG16_FEATURES_MACS + VGG16_HEAD_MACS),
    # frozen features: forward only; head: kernel gradients, input gradients above head/conv
    2 * (VGG16_FEATURES_MACS + 2 * VGG16_HEAD_MACS + 102_760_448 + 12_288),
  ),
  "vgg16_scratch": (
    2 * (VGG16_FEATURES_MACS + VGG16_HEAD_MACS),
    # every layer trainable; block1_conv1 (224x224x64x27 MACs) takes the image: no input gradient
    2 * (3 * (VGG16_FEATURES_MACS + VGG16_HEAD_MACS) - 224 * 224 * 64 * 27),
  ),
  "sgdnet": (7_814_614_016, 7_814_614_016 + 2 * 512 * 3),
}


def run_cli(*args):
  return run_module("dclf.benchmark", *args)


def _record_fields_ok(record, mode, row):
  assert record["framework"] == "jax" and record["mode"] == mode and record["row"] == row
  assert record["options"] == {"parallelism": row.removeprefix("jax-")}
  assert record["devices"] == jax.device_count() == 2 and record["device_kind"] == "cpu" and record["platform"] == "cpu"
  assert record["batch_size"] == 8 and record["batch_size_per_device"] == 4 and record["precision"] == "fp32"
  assert record["versions"].keys() == {"jax", "jaxlib", "flax", "platform"}  # platform: PJRT's (CUDA, TPU runtime)
  assert record["settings"]["precision_policy"] == "float32" and record["settings"]["matmul_precision"] == "default"
  assert record["recompiles"] == 0 and record["compile_cache_hit"] in (True, False)  # the AOT executable: never
  assert record["repeats"] == 1 and record["images_per_sec_runs"] == [record["images_per_sec"]]
  assert (record["loss"] > 0) if mode == "train" else record["loss"] is None
  for key in (
    "step_time_ms_median",
    "step_time_ms_p90",
    "step_time_ms_back_to_back",
    "images_per_sec",
    "images_per_sec_per_device",
    "cpu_time_ms_per_step",
    "compile_s",
    "flops_per_step",
    "model_flops_per_step",
  ):
    assert isinstance(record[key], (int, float)) and record[key] > 0, key
  assert record["step_time_ms_p90"] >= record["step_time_ms_median"]
  assert math.isclose(record["images_per_sec"], 2 * record["images_per_sec_per_device"])
  assert record["flops_source"] == "xla"
  assert record["mfu"] is None and record["peak_flops_per_device"] is None  # no CPU peak in the table
  assert record["peak_memory_bytes"] is None  # the CPU backend reports no memory statistics
  assert record["program_memory_bytes"] > 0
  assert record["host"]["cpu_count"] >= 1 and len(record["host"]["load_average"]) == 3


def test_harness_records_for_train_and_eval_pmap_and_jit(tiny_config):
  results = suite.benchmark(
    tiny_config, rows=("jax-pmap", "jax-jit"), platform="cpu", devices=2, modes=("train", "eval"), num_steps=2, warmup=0
  )
  assert [(r["row"], r["mode"]) for r in results] == [
    ("jax-pmap", "train"),
    ("jax-pmap", "eval"),
    ("jax-jit", "train"),
    ("jax-jit", "eval"),
  ]
  for r in results:
    _record_fields_ok(r, r["mode"], r["row"])
  per_image = flops.model_flops(models.create_model("softmax", num_classes=3), 32)
  assert results[0]["model_flops_per_step"] == 8 * per_image.train
  assert results[1]["model_flops_per_step"] == 8 * per_image.forward
  json.dumps(results)


def test_real_data_feeds_the_trainers_loader_every_step(tiny_config):
  """--real-data: the trainer's loader of config.dataset (here the synthetic source) feeds each step, and
  the same configuration runs on one synthetic device batch beside it."""
  results = suite.benchmark(
    tiny_config, rows=("jax-pmap",), platform="cpu", devices=2, modes=("train",), num_steps=2, warmup=0, real_data=True
  )
  assert [r["data"] for r in results] == ["synthetic", "synthetic:train (synthetic, 0 workers, prefetch 4)"]
  for r in results:
    _record_fields_ok(r, "train", "jax-pmap")
  synthetic, real = results
  assert synthetic["real_vs_synthetic"] is None and synthetic["loader_images_per_sec_per_core"] is None
  assert real["real_vs_synthetic"] == pytest.approx(real["images_per_sec"] / synthetic["images_per_sec"])
  assert real["loader_images_per_sec_per_core"] > 0


def test_the_benchmark_times_the_trainers_own_step(tiny_config, tmp_path, monkeypatch):
  """The executable the benchmark compiles ahead of time (`lower(...).compile()`) and times is the
  trainer's train step (`steps.compile_steps(...).train`, which `dclf.train` calls): from the same
  state and batch, both give the same losses and the same state, step after step."""
  from dclf import parallel, state, train  # pylint: disable=g-import-not-at-top
  from dclf.bench import data  # pylint: disable=g-import-not-at-top

  built, compiled = [], []
  compile_steps, compile_lowered = steps.compile_steps, jax.stages.Lowered.compile
  monkeypatch.setattr(steps, "compile_steps", lambda config, par: built.append(compile_steps(config, par)) or built[-1])
  train.train_and_evaluate(tiny_config, tmp_path)
  trainer_steps = built[0]
  monkeypatch.setattr(
    jax.stages.Lowered, "compile", lambda self, *a, **k: compiled.append(compile_lowered(self, *a, **k)) or compiled[-1]
  )
  suite.benchmark(tiny_config, rows=("jax-pmap",), platform="cpu", devices=2, modes=("train",), num_steps=1, warmup=0)
  assert len(compiled) == 1, "the benchmark compiles the one step it times ahead of time"
  timed, bench_steps = compiled[0], built[-1]

  par = parallel.create("pmap")
  initial = state.initial_state(tiny_config)
  batch = par.put_batch(data.synthetic_batch(tiny_config, 3))
  trained, benched = par.put_state(initial), par.put_state(initial)  # each step donates its state
  for _ in range(3):
    trained, trainer_metrics = trainer_steps.train(trained, batch, trainer_steps.rng)
    # The same values in the executable's own structure (its state's static fields are the
    # benchmark's objects: equal, not identical).
    (args, kwargs) = jax.tree.unflatten(timed.in_tree, jax.tree.leaves(((benched, batch, bench_steps.rng), {})))
    benched, bench_metrics = timed(*args, **kwargs)
    assert float(par.get_replicated(trainer_metrics)["loss"]) == float(par.get_replicated(bench_metrics)["loss"])
  for got, want in zip(jax.tree.leaves(par.get_state(benched)), jax.tree.leaves(par.get_state(trained)), strict=True):
    np.testing.assert_array_equal(got, want)


def test_timing_loop_counts_and_syncs():
  calls, synced = [], []
  t = timing.time_steps(lambda: calls.append(1) or len(calls), synced.append, steps=3, warmup=2)
  assert len(calls) == 1 + 2 + 3 + 3 and len(t.step_s) == 3
  assert synced[-1] == [7, 8, 9]  # back-to-back: one sync over every output, at the end
  assert t.back_to_back_step_s == t.back_to_back_s / 3 and t.back_to_back_cpu_s >= 0
  assert t.recompiles is None  # no counter: unknown
  counted = timing.time_steps(
    lambda: calls.append(1), lambda _: None, steps=3, warmup=2, compilations=lambda: len(calls)
  )
  assert counted.recompiles == 6  # the calls after the first and the warm-up ones


def test_cli_writes_json(tmp_path):
  out = tmp_path / "bench" / "records.json"
  result = run_cli(
    "--config",
    "configs/softmax.py",
    "--config.image_size=32",
    "--config.batch_size=4",
    "--steps",
    "2",
    "--warmup",
    "0",
    "--modes",
    "eval",
    "--rows",
    "jax-jit",
    "--precision",
    "bf16",
    "--json",
    out,
  )
  assert result.returncode == 0, result.stderr
  records = json.loads(out.read_text())
  assert [(r["model"], r["mode"], r["precision"]) for r in records] == [("softmax", "eval", "bf16")]
  assert records[0]["platform"] == "cpu" and records[0]["devices"] == 1  # --platform auto: this host's CPU, 1 device
  assert records[0]["host"]["environment"]["XLA_FLAGS"].endswith("--xla_force_host_platform_device_count=1")
  assert "| jax-jit | softmax | eval | bf16 | 1x cpu (cpu) | 4 (4/device) |" in result.stdout
  assert not list(out.parent.glob(".*.tmp"))
  table = run_module("dclf.bench.records", out.parent)  # a folder of saved records -> a table per model
  assert table.returncode == 0 and "### softmax:" in table.stdout and "| jax-jit | bf16 | eval |" in table.stdout
  (out.parent / "notes.json").write_text('{"not": "records"}')
  bad = run_module("dclf.bench.records", out.parent)
  assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
  assert bad.stderr.startswith("error: ") and "notes.json: not a list of benchmark records" in bad.stderr
  missing = run_module("dclf.bench.records", tmp_path / "nope.json")
  assert missing.returncode == 2 and "nope.json: cannot read benchmark records" in missing.stderr


def test_unwritable_json_is_one_line(tmp_path):
  (tmp_path / "file").write_text("")
  result = run_cli(
    "--config",
    "configs/softmax.py",
    "--config.image_size=32",
    "--config.batch_size=4",
    "--steps",
    "1",
    "--warmup",
    "0",
    "--modes",
    "eval",
    "--rows",
    "jax-jit",
    "--json",
    tmp_path / "file" / "out.json",
  )
  last = result.stderr.strip().splitlines()[-1]  # after the progress lines of the runs
  assert result.returncode == 2 and last.startswith("error: --json ") and "cannot write the records" in last
  assert "Traceback" not in result.stderr and "| jax-jit | softmax | eval |" in result.stdout


@pytest.mark.parametrize(
  "args,message",
  [
    (["--modes", "train,fly"], "--modes takes a comma-separated subset of train,eval"),
    (["--rows", "jax-jit,jax-vmap"], "--rows takes a comma-separated subset of jax-jit,jax-pmap,torch,"),
    (["--rows", "jax-jit,torch"], "--rows jax-jit,torch: rows of jax, torch (or of other environments) need a process"),
    (["--rows", "keras-jax,keras-torch"], "rows of keras (or of other environments) need a process each"),
    (["--platform", "gpu"], "no gpu devices found in this host's device files; pass --devices N"),
    (["--devices", "0"], "--devices"),
    (["--steps", "0"], "--steps"),
    (["--config.model=resnet18"], "unknown model 'resnet18'"),
    (["--devices", "2", "--config.batch_size=3"], "does not divide by the 2 devices"),
    (["--config", "configs/nope.py"], "nope.py"),
  ],
)
def test_bad_flags_are_one_line_and_exit_code_2(args, message):
  result = run_cli("--config", "configs/softmax.py", "--config.image_size=32", *args)
  assert result.returncode == 2
  assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("error: ")
  assert message in result.stderr


def test_framework_torch_without_pytorch_is_one_line(tmp_path, monkeypatch):
  (tmp_path / "torch").mkdir()
  (tmp_path / "torch" / "__init__.py").write_text("raise ImportError('no torch here')\n")
  monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
  result = run_cli("--config", "configs/softmax.py", "--rows", "torch")
  assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
  assert result.stderr.strip().splitlines()[-1] == (  # after dclf's log line of the row it starts
    "error: the torch row needs torch, which is not installed here (no torch here; pip install -e '.[torch]')"
  )


def test_peak_table_lookup():
  assert peaks.peak_flops("NVIDIA H100 80GB HBM3", "bf16") == 989.4e12
  assert peaks.peak_flops("NVIDIA H200", "fp32") == 494.7e12
  assert peaks.peak_flops("NVIDIA A100-SXM4-40GB", "bf16") == 312e12
  assert peaks.peak_flops("Tesla V100-SXM2-16GB", "bf16") is None
  assert peaks.peak_flops("TPU v5 lite", "bf16") == 197e12 and peaks.peak_flops("TPU v5", "bf16") == 459e12
  assert peaks.peak_flops("cpu", "fp32") is None and peaks.peak_flops("NVIDIA H100 PCIe", "bf16") is None
  with pytest.raises(ValueError, match="unknown precision"):
    peaks.peak_flops("cpu", "fp16")


# FLOPs.


class _OneConv(nn.Module):
  strides: int = 1

  @nn.compact
  def __call__(self, x, train=False):
    return nn.Conv(16, (3, 3), strides=self.strides, padding="SAME")(x)


@pytest.mark.parametrize("strides,side", [(1, 32), (2, 16)])
def test_flops_of_one_conv_layer(strides, side):
  """Output pixels x output channels x (3x3 kernel x 3 input channels) multiply-adds, 2 FLOPs each."""
  (layer,) = flops.layers(_OneConv(strides), image_size=32)
  assert layer.macs == side * side * 16 * 3 * 3 * 3
  assert flops.model_flops(_OneConv(strides), 32).forward == 2 * side * side * 16 * 27


@pytest.mark.parametrize("name", sorted(EXPECTED_FLOPS_224))
def test_flops_per_image_match_hand_counts(name):
  counted = flops.model_flops(models.create_model(name, num_classes=3), 224)
  assert (counted.forward, counted.train) == EXPECTED_FLOPS_224[name]


@functools.cache
def _xla_flops_batch_1(name, image_size):
  """XLA's cost analysis of the real train step (and of the forward) for one image, lowered from
  shapes only: nothing is initialised or compiled."""
  model = models.create_model(name, num_classes=3, bn_axis_name=steps.AXIS)
  state = jax.eval_shape(
    lambda: create_train_state(model, optim.create_optimizer(default.get_config()), jax.random.key(0), image_size)
  )
  images = jax.ShapeDtypeStruct((1, 1, image_size, image_size, 3), jnp.uint8)
  batch = {"image": images, "label": jax.ShapeDtypeStruct((1, 1), jnp.int32)}
  step = jax.vmap(
    functools.partial(steps.train_step, preprocess_mode="raw"),
    in_axes=(None, 0, None),
    axis_name=steps.AXIS,
    axis_size=1,
  )
  train = flops.xla_flops(jax.jit(step).lower(state, batch, jax.random.key(0)))
  x = jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.float32)
  forward = flops.xla_flops(jax.jit(lambda v, x: model.apply(v, x)).lower(state.variables(), x))
  return forward, train


@pytest.mark.parametrize("name", ["vgg16_transfer", "vgg16_scratch", "sgdnet"])
def test_analytic_flops_agree_with_xla_cost_analysis(name):
  """Within 5%: XLA leaves out the zero-padding taps of SAME convolutions (-3% at 224) and adds
  the elementwise work and the optimizer update. A backward pass through the frozen layers would
  show as +190% (vgg16_transfer)."""
  forward, train = _xla_flops_batch_1(name, 224)
  counted = flops.model_flops(models.create_model(name, num_classes=3), 224)
  assert forward == pytest.approx(counted.forward, rel=0.05)
  assert train == pytest.approx(counted.train, rel=0.05)


def test_softmax_flops_match_xla_exactly():
  """One dense layer: XLA's count is the 2 x 150528 x 3 multiply-add FLOPs plus the 3 bias adds."""
  forward, _ = _xla_flops_batch_1("softmax", 224)
  assert forward == 2 * 150_528 * 3 + 3
