"""Runs and workdirs under faults and hostile input (docs/reliability.md): bad configs refused before
the workdir is touched, resume rules, divergence, damaged checkpoints, signals, locks, disk faults,
file modes, and the last-resort error line."""

import importlib
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

from dclf import checkpoint, cli, errors, runlock, runtime, train
from dclf.errors import UsageError
from dclf.evaluate import main as evaluate_main
from dclf.predict import main as predict_main

import _lock_race
from _runs import (
  REPO,
  assert_one_line_error,
  module_env,
  run_main,
  run_module,
  start_module,
  tiny_config,
  tiny_flags,
)


def _steps(workdir: Path) -> list[int]:
  folder = workdir / "checkpoints"
  return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.exists() else []


def _files(folder: Path) -> dict[str, bytes]:
  """Every file under `folder` and its bytes: what "left as it was" compares."""
  return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _strict_json(text: str):
  def refuse(constant):
    raise ValueError(f"not JSON: {constant}")

  return json.loads(text, parse_constant=refuse)


def _main_args(workdir, *extra):
  return ["--config", REPO / "configs" / "default.py", "--workdir", workdir, *extra]


def _workdirs():
  """dclf.workdir, imported by the tests that use it (the others run on a tree without it)."""
  return importlib.import_module("dclf.workdir")


# Validated up front ------------------------------------------------------------------------------


@pytest.mark.parametrize(
  "fields,message",
  [
    ({"keep_checkpoints": 0}, "config.keep_checkpoints must be positive, got 0"),
    ({"keep_checkpoints": -1}, "config.keep_checkpoints must be positive, got -1"),
    ({"learning_rate": 0.0}, "config.learning_rate must be positive"),
    ({"learning_rate": -0.001}, "config.learning_rate must be positive"),
    ({"learning_rate": float("nan")}, "config.learning_rate must be a finite number, got nan"),
    ({"learning_rate": float("inf")}, "config.learning_rate must be a finite number, got inf"),
    ({"num_epochs": -1}, "config.num_epochs must be >= 0, got -1"),
    ({"data_workers": -2}, "config.data_workers must be -1 (fit the host) or >= 0, got -2"),
    ({"model": "small_cnn", "image_size": 16}, "config.image_size 16 is too small for model small_cnn"),
    ({"model": "vgg16_scratch", "image_size": 16}, "config.image_size 16 is too small for model vgg16_scratch"),
  ],
)
def test_a_bad_config_is_refused_before_the_workdir_is_touched(tmp_path, fields, message):
  with pytest.raises(UsageError, match=re.escape(message)):
    train.train_and_evaluate(tiny_config(num_train_steps=2, **fields), tmp_path / "w")
  assert not (tmp_path / "w").exists()


@pytest.mark.parametrize(
  "args,message",
  [
    (["--workdir", "", "--config.num_train_steps=2"], "--workdir is empty"),
    (["--workdir", "w", "--config.no_such_field=1"], "unknown config field 'no_such_field'"),
  ],
)
def test_an_empty_workdir_or_an_unknown_field_is_one_line(tmp_path, args, message):
  result = run_module("dclf.main", "--config", REPO / "configs" / "default.py", *tiny_flags(), *args, cwd=tmp_path)
  assert message in assert_one_line_error(result.returncode, result.stderr)
  assert not list(tmp_path.iterdir()), "nothing written (an empty --workdir is not the current folder)"


# The workdir's lifecycle -------------------------------------------------------------------------


def test_a_failed_run_leaves_no_folders_behind(tmp_path):
  missing_dataset = tiny_config(dataset="distortions/blur_noise", data_dir=str(tmp_path / "tfds"), num_train_steps=2)
  with pytest.raises(UsageError, match="blur_noise"):
    train.train_and_evaluate(missing_dataset, tmp_path / "a")
  assert not (tmp_path / "a").exists()
  (tmp_path / "weights.h5").write_text("not weights")
  bad_weights = tiny_config(init_from=str(tmp_path / "weights.h5"), num_train_steps=2)
  with pytest.raises(UsageError, match="config.init_from"):
    train.train_and_evaluate(bad_weights, tmp_path / "b" / "w")
  assert not (tmp_path / "b" / "w").exists(), "the folders the run had made are removed again"


def test_resuming_with_another_config_is_refused_and_leaves_the_workdir_as_it_was(tmp_path):
  workdir = tmp_path / "w"
  train.train_and_evaluate(tiny_config(num_train_steps=4, checkpoint_every_steps=2, log_every_steps=2), workdir)
  before = _files(workdir)
  for fields, named in [
    ({"model": "small_cnn"}, "model (saved 'softmax', now 'small_cnn')"),
    ({"optimizer": "sgd"}, "optimizer (saved 'rmsprop', now 'sgd')"),
    ({"image_size": 48}, "image_size (saved 32, now 48)"),
    ({"batch_size": 16, "seed": 3}, "batch_size (saved 8, now 16); seed (saved 0, now 3)"),
  ]:
    with pytest.raises(UsageError, match="holds a run with another config") as refused:
      train.train_and_evaluate(tiny_config(num_train_steps=6, **fields), workdir)
    assert named in str(refused.value) and "start afresh in a new --workdir" in str(refused.value)
  assert _files(workdir) == before
  # What may change on resume: how long, what is logged, evaluated and kept, how data is read.
  allowed = {"num_train_steps": 6, "log_every_steps": 3, "checkpoint_every_steps": 3, "keep_checkpoints": 5}
  summary = train.train_and_evaluate(tiny_config(**allowed, eval_split="test", parallelism="jit"), workdir)
  assert summary["step"] == 6 and _steps(workdir) == [2, 4, 6]
  saved = json.loads((workdir / "config.json").read_text())
  assert (saved["num_train_steps"], saved["keep_checkpoints"], saved["eval_split"]) == (6, 5, "test")


def test_a_leftover_temporary_checkpoint_is_removed_on_resume(tmp_path):
  config = tiny_config(num_train_steps=2, checkpoint_every_steps=2, log_every_steps=2)
  train.train_and_evaluate(config, tmp_path)
  leftover = tmp_path / "checkpoints" / "4.orbax-checkpoint-tmp-1764780000000000"  # a SIGKILLed save
  (leftover / "state").mkdir(parents=True)
  (leftover / "state" / "_METADATA").write_text("{}")
  train.train_and_evaluate(tiny_config(num_train_steps=4, checkpoint_every_steps=2, log_every_steps=2), tmp_path)
  assert not leftover.exists() and _steps(tmp_path) == [2, 4]


def test_files_follow_the_umask(tmp_path):
  previous = os.umask(0o027)
  try:
    train.train_and_evaluate(tiny_config(num_train_steps=2, checkpoint_every_steps=2, log_every_steps=2), tmp_path)
  finally:
    os.umask(previous)
  for name in ("config.json", "summary.json", "eval/test/report.json", "eval/test/report.md"):
    assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name


def test_evaluate_is_refused_while_a_run_holds_the_workdir_and_holds_it_while_it_writes(tmp_path, monkeypatch):
  """dclf.evaluate writes W/eval/, where the run writes its own reports, while the run rotates its
  checkpoints: it takes W's lock, so it never runs beside the run (nor the run beside it)."""
  from dclf.evaluation import evaluator  # pylint: disable=g-import-not-at-top

  train.train_and_evaluate(tiny_config(num_train_steps=2, checkpoint_every_steps=2, log_every_steps=2), tmp_path)
  before = _files(tmp_path)
  run = runlock.Lock(tmp_path / "run.lock")  # a run training there (this live process)
  run.acquire()
  try:
    code, _, err = run_main(evaluate_main, "--workdir", tmp_path, "--split", "validation")
    assert f"{tmp_path} is in use by another run (host " in assert_one_line_error(code, err)
    assert _files(tmp_path) == {**before, "run.lock": (tmp_path / "run.lock").read_bytes()}
  finally:
    run.release()
  holders = []
  evaluate_split = evaluator.evaluate_split
  monkeypatch.setattr(
    evaluator,
    "evaluate_split",
    lambda *a, **k: (
      holders.append(json.loads((tmp_path / "run.lock").read_text())["command"]) or evaluate_split(*a, **k)
    ),
  )
  code, _, err = run_main(evaluate_main, "--workdir", tmp_path, "--split", "validation")
  assert code == 0, err
  assert holders == ["dclf.evaluate"] and not (tmp_path / "run.lock").exists()
  with pytest.raises(UsageError, match=r"is in use by another run \(host .*, dclf.evaluate, alive"):
    with _workdirs().locked(tmp_path, "dclf.evaluate"):
      train.train_and_evaluate(tiny_config(num_train_steps=4), tmp_path)  # a run while evaluate holds it


# Divergence --------------------------------------------------------------------------------------


def test_a_diverging_run_stops_and_keeps_its_finite_checkpoints(tmp_path):
  # small_cnn with plain SGD at learning rate 1000: finite for a few steps, then NaN.
  config = tiny_config(
    model="small_cnn",
    optimizer="sgd",
    learning_rate=1e3,
    num_train_steps=12,
    checkpoint_every_steps=2,
    log_every_steps=1,
  )
  with pytest.raises(errors.RunError, match=r"the loss is nan at step (\d+): the run diverged") as stopped:
    train.train_and_evaluate(config, tmp_path)
  nan_step = int(re.search(r"at step (\d+)", str(stopped.value)).group(1))
  kept = _steps(tmp_path)
  assert kept and kept[-1] == (nan_step - 1) // 2 * 2, "the newest checkpoint is the last finite one"
  assert f"its checkpoints up to step {kept[-1]} are kept" in str(stopped.value)
  assert checkpoint.load_latest(tmp_path)[2] == kept[-1]  # finite weights: they load
  assert not (tmp_path / "summary.json").exists()
  rows = [_strict_json(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert rows[0]["train/images_per_sec"] is None  # the compiling step's rate: null, not NaN
  assert max(row["step"] for row in rows) < nan_step


def test_predict_and_evaluate_refuse_a_checkpoint_of_nan_weights(tmp_path):
  train.train_and_evaluate(tiny_config(num_train_steps=2, checkpoint_every_steps=2, log_every_steps=2), tmp_path)
  checkpointer = checkpoint.Checkpointer(tmp_path)
  tree = checkpointer.restore(2)
  tree["params"] = jax.tree.map(lambda v: np.full_like(v, np.nan), tree["params"])
  checkpointer.save(4, tree)  # what a diverged run used to save
  checkpointer.wait()
  checkpointer.close()
  photo = tmp_path / "photo.png"
  Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(photo)
  code, out, err = run_main(predict_main, "--workdir", tmp_path, photo)
  assert "checkpoint 4 holds NaN or infinite weights" in assert_one_line_error(code, err) and not out
  reports = _files(tmp_path / "eval")
  code, out, err = run_main(evaluate_main, "--workdir", tmp_path, "--split", "validation")
  assert "checkpoint 4 holds NaN or infinite weights" in assert_one_line_error(code, err) and not out
  assert _files(tmp_path / "eval") == reports and not (tmp_path / "run.lock").exists()


# Damaged checkpoints -----------------------------------------------------------------------------


def _truncate_arrays(step_dir: Path) -> None:
  for path in (step_dir / "state" / "ocdbt.process_0" / "d").iterdir():
    os.truncate(path, path.stat().st_size // 2)


def _remove_metadata(step_dir: Path) -> None:
  (step_dir / "state" / "_METADATA").unlink()


def _garble_data_position(step_dir: Path) -> None:
  (step_dir / "data" / "process_0-of-1.json").write_text("{not json")


@pytest.mark.parametrize(
  "damage, weights_intact", [(_truncate_arrays, False), (_remove_metadata, False), (_garble_data_position, True)]
)
def test_a_damaged_newest_checkpoint_falls_back_to_the_newest_intact_one(tmp_path, caplog, damage, weights_intact):
  config = dict(checkpoint_every_steps=3, log_every_steps=3, keep_checkpoints=5)
  train.train_and_evaluate(tiny_config(num_train_steps=6, **config), tmp_path)
  damage(tmp_path / "checkpoints" / "6")
  broken = _files(tmp_path / "checkpoints" / "6")
  # evaluate and predict fall back too, unless only the data position (which they do not read) is damaged
  assert checkpoint.load_latest(tmp_path)[2] == (6 if weights_intact else 3)
  summary = train.train_and_evaluate(tiny_config(num_train_steps=9, **config), tmp_path)
  assert "checkpoint 6 in" in caplog.text and "does not restore" in caplog.text
  assert summary["step"] == 9 and _steps(tmp_path) == [3, 6, 9]
  assert _files(tmp_path / "unreadable_checkpoints" / "6") == broken, "kept as it was, out of the way"


# Locks -------------------------------------------------------------------------------------------


def _lock(path: Path, **holder) -> None:
  path.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "boot_id": "", **holder}))


def _dead_pid() -> int:
  process = subprocess.Popen(["true"])
  process.wait()
  return process.pid


def test_a_lock_is_refused_while_alive_and_taken_over_when_stale(tmp_path):
  path = tmp_path / "run.lock"
  _lock(path, host="another-host", pid=1)
  with pytest.raises(UsageError, match=r"is in use by another run \(host another-host, pid 1, alive \d+ s ago\)"):
    runlock.Lock(path).acquire()
  old = time.time() - runlock.STALE_AFTER_S - 1  # a dead host: no heartbeat for too long
  os.utime(path, (old, old))
  took_over = []
  for stale in ({}, {"pid": _dead_pid()}):  # then: this host, its process gone
    if stale:
      _lock(path, **stale)
    lock = runlock.Lock(path)
    took_over.append(lock.acquire())
    assert json.loads(path.read_text())["pid"] == os.getpid()
    with pytest.raises(UsageError, match="is in use by another run"):
      runlock.Lock(path).acquire()  # held by this very process
    lock.release()
    assert not path.exists() and list(tmp_path.iterdir()) == [], "no lock and no claim left behind"
  assert took_over[0].startswith(f"took over the stale lock of {tmp_path} (host another-host, pid 1): no heartbeat")
  assert took_over[1].endswith("is gone")


def test_a_lock_of_a_live_process_is_taken_over_only_once_its_host_rebooted(tmp_path):
  """Same host, its pid alive (a pid is reused after a reboot): the boot id tells a lock of this
  boot (refused) from one of a boot before (stale). Locks without a boot id compare none."""
  path = tmp_path / "run.lock"
  alive = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
  try:
    for boot_id in (runlock._boot_id(), ""):
      _lock(path, pid=alive.pid, boot_id=boot_id)
      with pytest.raises(UsageError, match=f"is in use by another run \\(host .*, pid {alive.pid}, alive"):
        runlock.Lock(path).acquire()
    _lock(path, pid=alive.pid, boot_id="a-boot-before")
    lock = runlock.Lock(path)
    assert lock.acquire().endswith(f"(host {socket.gethostname()}, pid {alive.pid}): its host rebooted since")
    lock.release()
  finally:
    alive.communicate()
  assert runlock._boot_id(), "Linux gives every boot an id"


def test_a_held_lock_is_refreshed_by_its_heartbeat(tmp_path, monkeypatch):
  """A lock not refreshed for STALE_AFTER_S is stale; its holder's heartbeat refreshes it first."""
  monkeypatch.setattr(runlock, "HEARTBEAT_S", 0.01)
  path = tmp_path / "run.lock"
  lock = runlock.Lock(path)
  lock.acquire()
  try:
    old = time.time() - runlock.STALE_AFTER_S - 10  # as if the last beat were too long ago
    os.utime(path, (old, old))
    deadline = time.time() + 60
    while path.stat().st_mtime < time.time() - 60:  # the next beat refreshes it
      assert time.time() < deadline, "no heartbeat refreshed the lock"
      time.sleep(0.01)
    with pytest.raises(UsageError, match="is in use by another run"):
      runlock.Lock(path).acquire()
  finally:
    lock.release()


def test_a_late_taker_deletes_no_newer_lock_and_a_dead_takers_claim_blocks_nothing(tmp_path):
  """A taker that judged a lock stale, then slept while another took it over, finds other bytes
  and deletes nothing; a claim whose creator died is itself stale."""
  path = tmp_path / "run.lock"
  _lock(path, pid=_dead_pid())
  judged = path.read_bytes()
  lock = runlock.Lock(path)
  lock.acquire()  # the first taker
  assert not runlock.delete_if_unchanged(path, judged) and json.loads(path.read_text())["pid"] == os.getpid()
  lock.release()
  _lock(path, pid=_dead_pid())
  claim = runlock.claim_path(path, path.read_bytes())
  _lock(claim, pid=_dead_pid())  # a taker killed between its claim and its deletion
  lock = runlock.Lock(path)
  assert "is gone" in lock.acquire()
  lock.release()
  assert list(tmp_path.iterdir()) == []


def test_a_lock_that_is_a_folder_and_an_empty_workdir_are_one_line(tmp_path, monkeypatch):
  (tmp_path / "run.lock").mkdir()
  code, _, err = run_main(evaluate_main, "--workdir", tmp_path, "--split", "validation")
  assert f"{tmp_path / 'run.lock'} is a folder, not a lock file: move it away" in assert_one_line_error(code, err)
  monkeypatch.chdir(tmp_path)
  code, _, err = run_main(evaluate_main, "--workdir", "", "--split", "validation")
  assert "--workdir is empty" in assert_one_line_error(code, err)  # not the current folder


def test_of_many_processes_taking_over_one_stale_lock_at_once_one_holds_it(tmp_path):
  """RACERS processes released together (a barrier) at a stale lock, ROUNDS times: in every round
  exactly one holds it (and its file is its own); the others are refused."""
  racers, rounds = 5, 100
  dead = {"host": socket.gethostname(), "pid": _dead_pid(), "boot_id": ""}
  paths = []
  for number in range(rounds):
    path = tmp_path / str(number) / "run.lock"
    path.parent.mkdir()
    path.write_text(json.dumps({**dead, "started": str(number)}))
    paths.append(str(path))
  context = multiprocessing.get_context("spawn")  # this process runs threads: no fork
  barrier, results = context.Barrier(racers), context.Queue()
  processes = [context.Process(target=_lock_race.race, args=(paths, barrier, results)) for _ in range(racers)]
  for process in processes:
    process.start()
  try:
    outcomes = dict(results.get(timeout=300) for _ in processes)
  finally:
    for process in processes:
      process.join(timeout=60)
  by_round = [[outcome for pid in outcomes for n, outcome in outcomes[pid] if n == number] for number in range(rounds)]
  errors = [outcome for pid in outcomes for n, outcome in outcomes[pid] if n < 0]
  assert not errors, errors[0]
  assert [sorted(outcome) for outcome in by_round] == [["holds"] + ["lost"] * (racers - 1)] * rounds, [
    (number, outcome)
    for number, outcome in enumerate(by_round)
    if sorted(outcome)[0] != "holds" or outcome.count("lost") != racers - 1
  ]
  assert not [p for p in tmp_path.rglob("*") if p.is_file()], "no lock and no claim left behind"


def test_a_second_run_on_a_workdir_in_use_is_refused(tmp_path):
  long_run = _main_args(tmp_path, *tiny_flags(num_train_steps=100000, checkpoint_every_steps=100000, log_every_steps=2))
  first = start_module("dclf.main", *long_run, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 240
  while not (tmp_path / "metrics.jsonl").exists():
    assert first.poll() is None and time.time() < deadline, "the first run ended early"
    time.sleep(0.05)
  second = run_module("dclf.main", *long_run)
  assert f"{tmp_path} is in use by another run" in assert_one_line_error(second.returncode, second.stderr)
  first.send_signal(signal.SIGTERM)
  _, err = first.communicate(timeout=120)
  assert first.returncode == 0, err
  assert not (tmp_path / "run.lock").exists()
  rows = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert rows == sorted(set(rows)), "one run's metrics, not two interleaved"


# Signals (sent to the whole process group, as a terminal or a VM shutdown does) ------------------


def _start_group(workdir, *flags):
  args = _main_args(workdir, *tiny_flags(model="small_cnn", data_workers=2, **dict(flags)))
  return start_module(
    "dclf.main", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
  )


def _group_gone(pgid: int, timeout: float = 30) -> bool:
  deadline = time.time() + timeout
  while time.time() < deadline:
    alive = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if _in_group(pid, pgid)]
    if not alive:
      return True
    time.sleep(0.2)
  return False


def _in_group(pid: int, pgid: int) -> bool:
  try:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
  except OSError:
    return False
  return int(fields[2]) == pgid and fields[0] != "Z"  # zombies are gone, just not reaped


@pytest.fixture
def sigint_as_in_a_terminal():
  """SIGINT raising KeyboardInterrupt in this process, and at its default in the commands it
  starts, as in a terminal's foreground job, whatever this test session started with: a test
  command run in the background (`python -m pytest &` in a script) inherits SIGINT ignored, and
  so would every command it starts."""
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)
  yield
  signal.signal(signal.SIGINT, previous)


def _wait_until(condition, what: str, timeout: float = 60) -> None:
  """Waits for `condition()` (a signal handler's effect: handlers run between bytecodes of this
  thread, at once or a moment later) until `timeout`, then fails naming `what`."""
  deadline = time.monotonic() + timeout
  while not condition():
    assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
    time.sleep(0.001)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_training_saves_and_exits_cleanly_workers_included(tmp_path, signum, sigint_as_in_a_terminal):
  run = _start_group(tmp_path, ("num_train_steps", 100000), ("checkpoint_every_steps", 100000), ("log_every_steps", 2))
  deadline = time.time() + 240
  while not (tmp_path / "metrics.jsonl").exists():
    assert run.poll() is None and time.time() < deadline, "the run ended early"
    time.sleep(0.05)
  os.killpg(run.pid, signum)
  _, err = run.communicate(timeout=120)
  assert run.returncode == 0 and "Traceback" not in err and "\nerror: " not in "\n" + err, err
  summary = json.loads((tmp_path / "summary.json").read_text())
  assert f"{signum.name}: saved checkpoint at step {summary['step']}" in err
  assert summary["preempted"] and _steps(tmp_path) == [summary["step"]]
  assert _group_gone(run.pid), "the data workers ended with the run"


def test_a_signal_during_the_first_step_saves_it(tmp_path):
  run = _start_group(tmp_path, ("num_train_steps", 100000), ("checkpoint_every_steps", 100000))
  deadline = time.time() + 240
  # The data workers run and ignore signals (they set that first thing): the first step waits for
  # their batches, and a signal to the group reaches the main process alone.
  while len(_workers(run.pid)) < 2 or not all(
    _ignores(pid, signal.SIGINT, signal.SIGTERM) for pid in _workers(run.pid)
  ):
    assert run.poll() is None and time.time() < deadline, "the run ended early"
    time.sleep(0.01)
  os.killpg(run.pid, signal.SIGTERM)
  _, err = run.communicate(timeout=240)
  assert run.returncode == 0 and "Traceback" not in err and "\nerror: " not in "\n" + err, err
  summary = json.loads((tmp_path / "summary.json").read_text())
  assert summary["preempted"] and summary["step"] >= 1, err
  assert f"SIGTERM: saved checkpoint at step {summary['step']}" in err and _steps(tmp_path) == [summary["step"]]


def _ignores(pid: int, *signums) -> bool:
  """Whether process `pid` ignores every one of `signums` (its SigIgn mask in /proc)."""
  try:
    status = Path(f"/proc/{pid}/status").read_text()
  except OSError:
    return False
  ignored = int(re.search(r"^SigIgn:\s*([0-9a-f]+)$", status, re.M).group(1), 16)
  return all(ignored >> (signum - 1) & 1 for signum in signums)


def _workers(pgid: int) -> list[int]:
  pids = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if _in_group(pid, pgid)]
  return [pid for pid in pids if "multiprocessing.spawn" in _cmdline(pid)]


def _cmdline(pid: int) -> str:
  try:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
  except OSError:
    return ""


def _interrupt_self(argv) -> None:
  """A command that gets a Ctrl-C: SIGINT to itself, then its work (until the handler raises)."""
  del argv
  os.kill(os.getpid(), signal.SIGINT)
  _wait_until(lambda: False, "Ctrl-C to interrupt the command")


def test_a_second_signal_aborts_at_once_with_one_line(sigint_as_in_a_terminal):
  with pytest.raises(KeyboardInterrupt):  # raised again as the guard exits
    with runtime.PreemptionGuard() as guard:
      assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler, "the guard handles Ctrl-C"
      os.kill(os.getpid(), signal.SIGINT)
      _wait_until(lambda: guard.received is not None, "the guard to see the first signal")
      assert guard.received == "SIGINT" and guard.should_stop(1)
      try:
        os.kill(os.getpid(), signal.SIGTERM)  # a second signal, of either kind
        _wait_until(lambda: False, "the second signal to interrupt")
      except KeyboardInterrupt:
        pass  # swallowed, as Python swallows it in a garbage-collection callback or a __del__
      with pytest.raises(KeyboardInterrupt):
        guard.should_stop(2)  # raised again
  assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "the guard's handlers are gone"
  code, _, err = run_main(cli.command(_interrupt_self), "x")
  assert "interrupted" in assert_one_line_error(code, err, code=130)


def test_a_run_started_with_sigint_ignored_keeps_ignoring_it():
  """A background job of a non-interactive shell starts with SIGINT ignored, so that a Ctrl-C
  meant for the foreground job spares it; SIGTERM (preemption) is handled all the same."""
  previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
  try:
    with runtime.PreemptionGuard() as guard:
      assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
      os.kill(os.getpid(), signal.SIGINT)  # discarded
      os.kill(os.getpid(), signal.SIGTERM)
      _wait_until(lambda: guard.received is not None, "the guard to see SIGTERM")
      assert guard.received == "SIGTERM"
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
  finally:
    signal.signal(signal.SIGINT, previous)


def test_a_second_signal_during_training_stops_at_once_and_the_checkpoints_stay_intact(
  tmp_path, sigint_as_in_a_terminal
):
  """Ctrl-C, then SIGTERM (two signals: two Ctrl-Cs in a row could arrive as one) to a run saving
  a checkpoint every 2 steps: exit code 130 and one line at once, no summary, no lock, no
  worker left; every checkpoint it completed is as it was and the newest restores."""
  flags = (
    ("num_train_steps", 100000),
    ("checkpoint_every_steps", 2),
    ("log_every_steps", 2),
    ("keep_checkpoints", 1000),
  )
  run = _start_group(tmp_path, *flags)
  deadline = time.time() + 240
  while not (tmp_path / "checkpoints" / "2").exists():  # renamed there once complete
    assert run.poll() is None and time.time() < deadline, "the run ended before it saved step 2"
    time.sleep(0.05)
  before = _files(tmp_path / "checkpoints" / "2")
  os.killpg(run.pid, signal.SIGINT)
  os.killpg(run.pid, signal.SIGTERM)
  _, err = run.communicate(timeout=120)
  assert run.returncode == 130 and "Traceback" not in err, err
  assert err.splitlines()[-1] == "error: interrupted: stopped without saving (the newest checkpoint, if any, is intact)"
  assert [line for line in err.splitlines() if line.startswith("error: ")] == [err.splitlines()[-1]]
  assert _files(tmp_path / "checkpoints" / "2") == before
  assert checkpoint.load_latest(tmp_path)[2] == _steps(tmp_path)[-1], "the newest checkpoint restores"
  assert not (tmp_path / "summary.json").exists() and not (tmp_path / "run.lock").exists()
  assert _group_gone(run.pid), "the data workers ended with the run"


def test_sigkill_leaves_no_worker_and_no_shared_memory_behind(tmp_path):
  run = _start_group(tmp_path, ("num_train_steps", 100000), ("checkpoint_every_steps", 100000), ("log_every_steps", 2))
  deadline = time.time() + 240
  while not (tmp_path / "metrics.jsonl").exists():
    assert run.poll() is None and time.time() < deadline, "the run ended early"
    time.sleep(0.05)
  group = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if _in_group(pid, run.pid)]
  shared = {line.split()[-1] for pid in group for line in _maps(pid) if "/dev/shm/" in line}
  run.kill()
  run.communicate(timeout=60)
  assert len(group) >= 3 and _group_gone(run.pid), "the workers (and the resource tracker) exit"
  assert not [path for path in shared if Path(path).exists()], "their shared memory is freed"


def _maps(pid: int) -> list[str]:
  try:
    return Path(f"/proc/{pid}/maps").read_text().splitlines()
  except OSError:
    return []


# Disk faults and the last resort -----------------------------------------------------------------


# `python -m dclf.main` where a file may grow to 20 kB, less than a checkpoint's arrays: writes fail
# with EFBIG, as they fail with ENOSPC on a full disk (the limit is set in the child itself: a
# preexec_fn would fork the multithreaded test process).
LIMITED_MAIN = (
  "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000)); "
  "sys.argv[0] = 'dclf.main'; runpy.run_module('dclf.main', run_name='__main__', alter_sys=True)"
)


def test_a_write_failure_is_one_line_and_the_checkpoints_stay_intact(tmp_path):
  args = _main_args(tmp_path, *tiny_flags(num_train_steps=4, checkpoint_every_steps=2, log_every_steps=2))
  assert run_module("dclf.main", *args).returncode == 0
  before = {step: _files(tmp_path / "checkpoints" / step) for step in ("2", "4")}
  args = _main_args(tmp_path, *tiny_flags(num_train_steps=8, checkpoint_every_steps=2, log_every_steps=2))
  no_cache = {"JAX_ENABLE_COMPILATION_CACHE": "false"}  # its entries would hit the limit too
  command = [sys.executable, "-c", LIMITED_MAIN, *map(str, args)]
  result = subprocess.run(command, cwd=REPO, env=module_env(no_cache), capture_output=True, text=True, timeout=300)
  errors_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
  assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
  assert errors_lines == [result.stderr.splitlines()[-1]] and "File too large" in errors_lines[0]
  assert _steps(tmp_path) == [2, 4] and {step: _files(tmp_path / "checkpoints" / step) for step in before} == before


_LEAVES_SHARED_MEMORY = """
import os
from multiprocessing import shared_memory
from dclf import cli

@cli.command
def main():
  memory = shared_memory.SharedMemory(create=True, size=64)  # in flight, as a data worker's batch
  print(memory.name, flush=True)
  raise KeyboardInterrupt

os._exit(main())  # at once, as after a second signal: nothing unlinks it
"""


def test_a_command_stopped_at_once_ends_with_its_one_line_and_its_shared_memory_is_freed():
  """multiprocessing's resource tracker frees the shared memory a stopped command left and would
  warn that it did, after the command's line (`test_a_second_signal_during_training_...` met it
  when the stop caught the data workers' batches in flight)."""
  env = {k: v for k, v in module_env().items() if k != "PYTHONWARNINGS"}  # as a user's shell has it
  run = subprocess.run(
    [sys.executable, "-c", _LEAVES_SHARED_MEMORY], capture_output=True, text=True, timeout=120, cwd=REPO, env=env
  )
  assert run.returncode == 130
  assert run.stderr.splitlines() == [
    "error: interrupted: stopped without saving (the newest checkpoint, if any, is intact)"
  ]
  assert not (Path("/dev/shm") / run.stdout.strip().lstrip("/")).exists()


def test_an_internal_error_is_one_line_and_its_trace_goes_to_the_workdir(tmp_path, monkeypatch):
  workdirs = _workdirs()

  def failing(argv):
    with workdirs.open_run(tmp_path / "w", tiny_config()):
      (tmp_path / "w" / "notes.txt").write_text("the run wrote something")
      raise RuntimeError(f"a bug {argv}")

  code, _, err = run_main(cli.command(failing), "x")
  line = assert_one_line_error(code, err, code=1)
  assert line.startswith("error: internal error: RuntimeError: a bug ['x']; full trace in ")
  trace = Path(line.split("full trace in ")[1].strip())
  assert trace.parent == tmp_path / "w" / "logs" and 'raise RuntimeError(f"a bug {argv}")' in trace.read_text()
  assert not (tmp_path / "w" / workdirs.LOCK_NAME).exists()
  monkeypatch.setenv(cli.TRACEBACK_ENV, "1")
  with pytest.raises(RuntimeError, match="a bug"):
    cli.command(failing)("y")


class _FailsWhenCollected:
  def __del__(self):
    raise ValueError("a failing __del__")


def _fail_in_the_background(argv) -> int:
  """A command that succeeds while a thread of it and a `__del__` raise."""
  thread = threading.Thread(target=lambda: 1 / 0, name="a-library-thread")
  thread.start()
  thread.join()
  _FailsWhenCollected()  # collected at once: its __del__ raises where no caller can catch
  return 2 if argv == ["fail"] else 0


def test_exceptions_in_background_threads_and_del_go_to_a_trace_file(tmp_path, monkeypatch):
  monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where a command without a workdir writes traces
  code, out, err = run_main(cli.command(_fail_in_the_background), "succeed")
  assert code == 0 and not out and "Traceback" not in err and err.count("\n") == 1, err
  line = re.fullmatch(r"warning: 2 exception\(s\) in background threads; full trace in (\S+)\n", err)
  assert line, err
  trace = Path(line.group(1))
  assert trace.parent == tmp_path
  trace = trace.read_text()
  assert "ZeroDivisionError" in trace and "ValueError: a failing __del__" in trace
  code, _, err = run_main(cli.command(_fail_in_the_background), "fail")
  assert code == 2 and err == "", "a failing command's own line says what failed; the traces stay in their file"


def test_checkpoints_of_another_layout_are_never_moved_aside(tmp_path):
  """When no checkpoint restores (another dclf version, another model), nothing is set aside."""
  train.train_and_evaluate(tiny_config(num_train_steps=2, checkpoint_every_steps=2, log_every_steps=2), tmp_path)
  config = json.loads((tmp_path / "config.json").read_text())
  (tmp_path / "config.json").write_text(json.dumps({**config, "model": "small_cnn"}))
  before = _files(tmp_path / "checkpoints")
  with pytest.raises(errors.RunError, match="no checkpoint in .* restores"):
    train.train_and_evaluate(tiny_config(model="small_cnn", num_train_steps=4), tmp_path)
  assert _files(tmp_path / "checkpoints") == before and not (tmp_path / "unreadable_checkpoints").exists()
