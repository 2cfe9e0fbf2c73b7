"""Multi-process training over loopback (CPU collectives over gloo), as on a TPU pod or GPU cluster."""

import json
import signal
import socket
import subprocess
import time

import jax
import numpy as np
import pytest

from dclf import checkpoint

from _runs import REPO, run_module, start_module, tiny_flags

ARGS = ["--config", str(REPO / "configs" / "default.py"), "--config.model=small_cnn", *tiny_flags(log_every_steps=2)]


def _env(devices: int) -> dict:
  return {"JAX_PLATFORMS": "cpu", "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _start_processes(workdir, *extra, num=2):
  port = _free_port()
  return [
    start_module(
      "dclf.main",
      *ARGS,
      "--workdir",
      workdir,
      *extra,
      "--coordinator_address",
      f"localhost:{port}",
      "--num_processes",
      num,
      "--process_id",
      i,
      env=_env(1),
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
    for i in range(num)
  ]


def _wait(procs, timeout=600):
  try:
    outputs = [p.communicate(timeout=timeout) for p in procs]
  finally:  # a hung run (processes waiting at different collectives) fails the test, and ends
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.communicate()
  for p, (_, err) in zip(procs, outputs):
    assert p.returncode == 0, err
  return outputs


def _single_process(workdir, *extra, devices=2):
  result = run_module("dclf.main", *ARGS, "--workdir", workdir, *extra, env=_env(devices), timeout=600)
  assert result.returncode == 0, result.stderr
  return result


def _assert_same_run(a, b, rtol=1e-6, atol=1e-7):
  summary_a = json.loads((a / "summary.json").read_text())
  summary_b = json.loads((b / "summary.json").read_text())
  assert summary_a["step"] == summary_b["step"]
  assert summary_a["train_loss"] == pytest.approx(summary_b["train_loss"], rel=max(rtol, 1e-6))
  jax.tree.map(
    lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=atol),
    checkpoint.load_variables(a)[1],
    checkpoint.load_variables(b)[1],
  )
  return summary_a, summary_b


@pytest.fixture(scope="module")
def one_process_two_devices(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("single")
  _single_process(workdir, "--config.num_train_steps=40", "--config.checkpoint_every_steps=4")
  return workdir


def test_two_processes_train_like_one_process_with_two_devices(tmp_path, one_process_two_devices):
  _wait(_start_processes(tmp_path, "--config.num_train_steps=40", "--config.checkpoint_every_steps=4"))
  multi, single = _assert_same_run(tmp_path, one_process_two_devices)
  assert (multi["processes"], multi["devices"], single["processes"]) == (2, 2, 1)
  assert multi["eval_accuracy"] == single["eval_accuracy"]
  assert multi["test_accuracy"] == single["test_accuracy"]  # the test report gathers both processes' shards
  assert json.loads((tmp_path / "eval" / "test" / "report.json").read_text())["num_examples"] == 256
  data = tmp_path / "checkpoints" / "40" / "data"
  assert sorted(p.name for p in data.glob("*.json")) == ["process_0-of-2.json", "process_1-of-2.json"]


def test_sigterm_on_one_host_stops_all_at_one_step_then_resumes(tmp_path, one_process_two_devices):
  procs = _start_processes(tmp_path, "--config.num_train_steps=40", "--config.checkpoint_every_steps=4")
  deadline = time.time() + 300
  while not (tmp_path / "checkpoints" / "4").exists():
    assert all(p.poll() is None for p in procs) and time.time() < deadline, "run ended before step 4"
    time.sleep(0.01)
  procs[1].send_signal(signal.SIGTERM)
  for p in procs:
    p.communicate(timeout=300)
  assert [p.returncode for p in procs] == [0, 0]
  summary = json.loads((tmp_path / "summary.json").read_text())
  assert summary["preempted"] is True and summary["step"] < 40
  assert (tmp_path / "checkpoints" / str(summary["step"])).exists()
  _wait(_start_processes(tmp_path, "--config.num_train_steps=40", "--config.checkpoint_every_steps=4"))
  _assert_same_run(tmp_path, one_process_two_devices)


def test_a_checkpoint_damaged_on_one_host_is_skipped_by_every_host(tmp_path):
  """Step 8's data position of process 1 is damaged: process 1 cannot restore step 8, process 0
  can. Both resume from step 4, the newest step every process restores, and train on in step
  (a process resuming elsewhere would leave the other waiting at a collective)."""
  _wait(_start_processes(tmp_path, "--config.num_train_steps=8", "--config.checkpoint_every_steps=4"))
  (tmp_path / "checkpoints" / "8" / "data" / "process_1-of-2.json").write_text("{not json")
  (_, first), (_, second) = _wait(
    _start_processes(tmp_path, "--config.num_train_steps=12", "--config.checkpoint_every_steps=4")
  )
  assert "checkpoint 8 in" in second and "does not restore (Expecting property name" in second
  assert "checkpoint 8 in" not in first, "process 0 restores step 8, and resumes from step 4 all the same"
  assert "resuming from checkpoint at step 4" in first and "moved checkpoint 8, which does not restore" in first
  assert (tmp_path / "unreadable_checkpoints" / "8" / "data").is_dir()
  positions = [
    json.loads((tmp_path / "checkpoints" / "12" / "data" / f"process_{i}-of-2.json").read_text()) for i in (0, 1)
  ]
  assert [p["next_batch"] for p in positions] == [12, 12], "both read 8 batches after step 4's position"


def test_checkpoint_from_two_devices_resumes_on_one(tmp_path, one_process_two_devices):
  _single_process(tmp_path, "--config.num_train_steps=8", "--config.checkpoint_every_steps=4", devices=2)
  resumed = _single_process(tmp_path, "--config.num_train_steps=40", "--config.checkpoint_every_steps=4", devices=1)
  assert "resuming from checkpoint at step 8" in resumed.stderr
  assert json.loads((tmp_path / "summary.json").read_text())["devices"] == 1
  # Same global batches; one device instead of two only changes float summation order.
  _assert_same_run(tmp_path, one_process_two_devices, rtol=1e-4, atol=1e-5)


def test_incomplete_multihost_flags_are_a_usage_error(tmp_path):
  result = run_module("dclf.main", *ARGS, "--workdir", tmp_path, "--coordinator_address", "localhost:1")
  assert result.returncode == 2
  assert result.stderr.strip() == "error: --coordinator_address needs --num_processes and --process_id"
