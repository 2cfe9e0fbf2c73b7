"""The PyTorch rows of the benchmark: the torch row (DistributedDataParallel, gloo processes here)
and the torch_xla row (SPMD over PJRT CPU devices here). PyTorch runs in processes of its own, with
its environment's interpreter (`_framework_python`): this process never imports it. No timing
assertions: these run on shared CPUs."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import psutil
import pytest

from dclf import models
from dclf.bench import flops, torch_runner, torch_xla_runner

from _framework_python import driver_result, interpreter, run_driver, skip_reason
from _runs import REPO, assert_one_line_error, module_env

POSTER_MODELS = ["softmax", "vgg16_scratch", "vgg16_transfer", "sgdnet"]
TINY_ROW = {"batch_size": 4, "image_size": 16}
# torch_xla on this host: PJRT's CPU client, its device count from the request (CPU_NUM_DEVICES unset).
PJRT_CPU = {"PJRT_DEVICE": "CPU", "CPU_NUM_DEVICES": None}


@pytest.fixture(scope="module")
def torch_python():
  return interpreter("torch") or pytest.skip(skip_reason("torch"))


@pytest.fixture(scope="module")
def torch_xla_python():
  return interpreter("torch_xla") or pytest.skip(skip_reason("torch_xla"))


def _measured_ok(m: dict, row: dict) -> None:
  """A Measurement of `row` (as `dataclasses.asdict` gives it) on the CPU devices asked for."""
  assert m["platform"] == "cpu" and m["device_kind"] == "cpu" and m["devices"] == row["devices"]
  timings = m["timings"]
  assert len(timings["step_s"]) == row.get("steps", 2) and min(timings["step_s"]) > 0
  assert timings["back_to_back_s"] > 0 and timings["first_call_s"] > 0 and m["compile_s"] >= 0
  policy = "bf16 autocast, fp32 parameters" if row.get("precision") == "bf16" else "fp32"
  assert m["settings"]["precision_policy"] == policy
  train = row.get("mode", "train") == "train"
  assert (math.isfinite(m["loss"]) and m["loss"] > 0) if train else m["loss"] is None  # the global batch's loss
  assert m["flops_source"] == "analytic" and m["flops_per_step"] is None and m["peak_memory_bytes"] is None


# Both rows: where they run at all. (No PyTorch needed: the runner modules import without it.)


def test_each_pytorch_row_says_where_it_cannot_run():
  """Asked in any environment (the study's, a GPU host's torch environment without torch_xla):
  neither runner module imports its framework."""
  assert "the torch-xla row" in torch_runner.unsupported("tpu", {}, 8)
  assert (
    torch_runner.unsupported("gpu", {"compile": True}, 8) is None and torch_runner.unsupported("cpu", {}, 2) is None
  )
  assert "the torch row" in torch_xla_runner.unsupported("gpu", {}, 8)
  assert torch_xla_runner.unsupported("tpu", {}, 8) is None and torch_xla_runner.unsupported("cpu", {}, 2) is None
  assert "takes no options" in torch_xla_runner.unsupported("tpu", {"compile": True}, 8)
  assert not {"torch", "torch_xla"} & set(sys.modules)


# The torch row.


def test_torch_graphs_have_the_flax_parameter_counts_and_flops(torch_python):
  """Parameter counts at 224x224 as the Flax models', and PyTorch's own FLOP counter over a forward
  and a training backward exactly the analytic count: the frozen parts run no backward."""
  found = driver_result(torch_python, "graphs")
  for name in POSTER_MODELS:
    flax_model = models.create_model(name, num_classes=3)
    assert tuple(found[name]["params"]) == models.count_params(
      models.init_shapes(flax_model), flax_model.trainable_keys
    )
    counted = flops.model_flops(flax_model, 32)
    assert tuple(found[name]["flops"]) == (counted.forward, counted.train), name


def _split_losses_ok(one: dict, two: dict, side: int) -> None:
  """Two devices, each with half the global batch (and different halves: their losses differ),
  reach after the same steps the loss one device reaches on the whole batch (fp32 tolerance)."""
  assert one["batch_shapes"] == [[4, side, side, 3]] and two["batch_shapes"] == [[2, side, side, 3]] * 2
  (whole,) = one["losses"]
  halves = two["losses"]
  assert math.isfinite(whole) and whole > 0
  assert np.mean(halves) == pytest.approx(whole, rel=1e-5)


def test_ddp_on_two_processes_splits_the_global_batch(torch_python):
  row = {"runner": "torch", "model": "softmax", **TINY_ROW, "steps": 3}
  one = driver_result(torch_python, "losses", {**row, "devices": 1})
  two = driver_result(torch_python, "losses", {**row, "devices": 2})
  _split_losses_ok(one, two, 16)
  assert two["losses"][0] != pytest.approx(two["losses"][1], rel=1e-3)  # each rank's own half


def test_torch_row_times_softmax_and_sgdnet_on_two_devices(torch_python):
  """Through the runner's `run`, as the study calls it: one global batch of 4 over 2 gloo processes."""
  rows = [
    {"runner": "torch", "model": "softmax", **TINY_ROW, "devices": 2, "mode": "train"},
    {"runner": "torch", "model": "softmax", **TINY_ROW, "devices": 2, "mode": "eval", "precision": "bf16"},
    {"runner": "torch", "model": "sgdnet", "batch_size": 4, "image_size": 32, "devices": 2, "mode": "train"},
  ]
  for m, row in zip(driver_result(torch_python, "run", rows), rows, strict=True):
    _measured_ok(m, row)
    assert m["settings"]["distribution"] == "DistributedDataParallel, 2 processes over gloo"
    assert (
      m["settings"]["threads_per_process"] == max(1, os.cpu_count() // 2) and m["settings"]["compile"] == "eager mode"
    )
    assert m["timings"]["recompiles"] is None and m["compile_cache_hit"] is None and set(m["versions"]) == {"torch"}


def test_the_torch_rows_loss_is_the_global_batchs_on_one_device_or_two(torch_python):
  """The loss a 2-process row reports is the mean over its ranks: the whole batch's, as on one."""
  rows = [{"runner": "torch", "model": "softmax", **TINY_ROW, "devices": n, "warmup": 0} for n in (1, 2)]
  one, two = driver_result(torch_python, "run", rows)
  assert math.isfinite(one["loss"]) and two["loss"] == pytest.approx(one["loss"], rel=1e-5)


@pytest.mark.parametrize(
  "row,fixture,recompiles", [("torch", "torch_python", None), ("torch-xla", "torch_xla_python", 0)]
)
def test_the_benchmark_command_records_a_pytorch_row_on_two_devices(row, fixture, recompiles, request, tmp_path):
  """Through the registry, as the study runs a row: its environment (JAX on the host CPU), the
  device check, one global batch over 2 devices, the record."""
  flags = ["--config=configs/softmax.py", "--config.batch_size=4", "--config.image_size=16", f"--rows={row}"]
  flags += [
    "--platform=cpu",
    "--devices=2",
    "--modes=train",
    "--steps=1",
    "--warmup=1",  # torch_xla compiles again once the optimizer has made its state
    f"--json={tmp_path / 'r.json'}",
  ]
  python = request.getfixturevalue(fixture)
  result = subprocess.run(
    [python, "-m", "dclf.benchmark", *flags], cwd=REPO, env=module_env(), capture_output=True, text=True, timeout=1200
  )
  assert result.returncode == 0, result.stderr[-3000:]
  (r,) = json.loads((tmp_path / "r.json").read_text())
  assert (r["row"], r["platform"], r["device_kind"], r["devices"]) == (row, "cpu", "cpu", 2)
  assert (r["batch_size"], r["batch_size_per_device"], r["recompiles"]) == (4, 2, recompiles)
  assert math.isfinite(r["loss"]) and r["images_per_sec"] > 0 and "torch" in r["versions"]
  assert r["host"]["environment"]["JAX_PLATFORMS"] == "cpu"


@pytest.mark.parametrize(
  "row,message",
  [
    (
      {"platform": "gpu", "devices": 1},
      "error: gpu asked for, but this framework runs on cpu (no CUDA device for torch",
    ),
    ({"platform": "tpu", "devices": 1}, "error: PyTorch reaches TPUs through torch_xla"),
    ({"devices": 2, "batch_size": 3}, "error: the global batch 3 does not split evenly over 2 devices"),
  ],
)
def test_torch_row_refuses_what_it_cannot_run_in_one_line(torch_python, row, message):
  result = run_driver(torch_python, "run", [{"runner": "torch", "model": "softmax", **TINY_ROW, **row}])
  assert_one_line_error(result.returncode, result.stderr)
  assert result.stderr.startswith(message) and not result.stdout


def test_a_failing_rank_ends_the_group_with_its_one_line(torch_python, tmp_path):
  """Rank 1 fails while rank 0 waits for it in a collective: the command ends with rank 1's error
  (exit code 1), long before the collective's timeout, and leaves no rank's process behind."""
  row = {"runner": "torch", "model": "softmax", **TINY_ROW, "devices": 2}
  result = run_driver(torch_python, "group_failure", row, {"DCLF_TEST_PIDS": str(tmp_path)}, timeout=300)
  assert_one_line_error(result.returncode, result.stderr, code=1)
  assert result.stderr == "error: torch rank 1 of 2 failed: ValueError: rank 1 stops here\n"
  pids = [int((tmp_path / str(rank)).read_text()) for rank in range(2)]
  assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]


def test_torch_compile_does_not_recompile_after_warmup_for_any_model(torch_python):
  """Every model, training and predicting, compiles to one graph with no break, and not again after
  the warm-up (dynamo's own eager backend: the graphs and guards are dynamo's, whatever compiles
  them after). Across 2 processes, DistributedDataParallel's own wrapper breaks the graph, and is
  reported; the model is still one graph."""
  rows = [
    {"runner": "torch", "model": model, "mode": mode, "batch_size": 2, "image_size": 32, "devices": 1}
    for model in POSTER_MODELS
    for mode in ("train", "eval")
  ]
  rows.append({"runner": "torch", "model": "softmax", "mode": "train", "batch_size": 2, "image_size": 32, "devices": 2})
  rows = [{**row, "options": {"compile": "eager"}} for row in rows]
  for m, row in zip(driver_result(torch_python, "run", rows), rows, strict=True):
    label = f"{row['model']} {row['mode']} on {row['devices']}"
    assert m["timings"]["recompiles"] == 0 and m["settings"]["dynamo_graphs"] == 1, label
    assert m["settings"]["compile"] == "eager" and m["compile_cache_hit"] is None, label
    assert m["settings"]["graph_breaks"] >= len(m["settings"]["graph_break_reasons"]), label
    if row["devices"] == 1:
      assert m["settings"]["graph_breaks"] == 0 and m["settings"]["graph_break_reasons"] == [], label
    else:
      assert m["settings"]["graph_breaks"] > 0 and m["settings"]["graph_break_reasons"], label


def test_torch_compile_row_with_inductor_cold_then_from_its_cache(torch_python, tmp_path):
  """inductor's kernels go to TORCHINDUCTOR_CACHE_DIR: a first run compiles them (not a cache hit), a
  second process loads them (a hit); neither compiles again after the warm-up."""
  row = {"runner": "torch", "model": "softmax", **TINY_ROW, "devices": 1, "options": {"compile": True}}
  env = {"TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
  cold, warm = (driver_result(torch_python, "run", [row], env)[0] for _ in range(2))
  for m, hit in ((cold, False), (warm, True)):
    _measured_ok(m, row)
    assert m["compile_cache_hit"] is hit and m["timings"]["recompiles"] == 0 and m["settings"]["compile"] == "inductor"
    assert m["settings"]["dynamo_graphs"] == 1 and m["settings"]["graph_breaks"] == 0
  assert cold["compile_s"] > 0 and list(tmp_path.glob("inductor/*"))


# The torch_xla row.


def test_spmd_on_two_devices_splits_the_global_batch(torch_xla_python):
  row = {"runner": "torch_xla", "model": "softmax", **TINY_ROW, "steps": 3}
  one = driver_result(torch_xla_python, "losses", {**row, "devices": 1}, PJRT_CPU)
  two = driver_result(torch_xla_python, "losses", {**row, "devices": 2}, PJRT_CPU)
  (loss,) = two["losses"]  # one program over the mesh: the whole batch's loss
  _split_losses_ok(one, {**two, "losses": [loss]}, 16)


def test_torch_xla_row_times_softmax_and_sgdnet_on_two_devices(torch_xla_python):
  rows = [
    {"runner": "torch_xla", "model": "softmax", **TINY_ROW, "devices": 2, "mode": "train"},
    {"runner": "torch_xla", "model": "softmax", **TINY_ROW, "devices": 2, "mode": "eval", "precision": "bf16"},
    {"runner": "torch_xla", "model": "sgdnet", "batch_size": 4, "image_size": 32, "devices": 2, "mode": "train"},
  ]
  for m, row in zip(driver_result(torch_xla_python, "run", rows, PJRT_CPU), rows, strict=True):
    _measured_ok(m, row)
    assert m["settings"]["distribution"] == "SPMD, a 1-D mesh of 2 devices, the batch sharded over it"
    assert m["timings"]["recompiles"] == 0 and m["compile_s"] > 0 and m["settings"]["xla_compilations"] >= 1
    assert m["compile_cache_hit"] is False and m["settings"]["persistent_cache"] is None
    assert set(m["versions"]) == {"torch", "torch_xla"}


@pytest.mark.parametrize(
  "row,env,message",
  [
    ({"platform": "tpu", "devices": 2}, PJRT_CPU, "error: tpu asked for, but this framework runs on cpu (cpu)"),
    ({"platform": "gpu", "devices": 2}, PJRT_CPU, "error: torch_xla 2.9 has no GPU build"),
    ({"devices": 1}, {**PJRT_CPU, "CPU_NUM_DEVICES": "2"}, "error: torch_xla's SPMD mesh spans every device"),
  ],
)
def test_torch_xla_row_refuses_what_it_cannot_run_in_one_line(torch_xla_python, row, env, message):
  result = run_driver(torch_xla_python, "run", [{"runner": "torch_xla", "model": "softmax", **TINY_ROW, **row}], env)
  last = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
  assert result.returncode == 2 and last.startswith(message) and not result.stdout, result.stderr
