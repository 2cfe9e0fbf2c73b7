"""The raw copy under faults (`python -m dclf.data convert-raw`, `dclf.data.raw`): a disk without room
for it or one that fills while it is written, a damaged copy, SIGTERM and SIGINT, a worker process
that dies. Each ends with one `error:` line and leaves no partial copy behind; a damaged copy is
replaced by `convert-raw`."""

import contextlib
import faulthandler
import functools
import json
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import dclf.data
from dclf import datasets
from dclf.data import __main__ as data_cli
from dclf.data import building, raw, raw_writer
from dclf.data.builder_base import OrderedPool
from dclf.errors import DataError, RunError, UsageError

from _data_helpers import NAME, die_at, error_line, private_copy, version_dir, wait_for_file
from _runs import (
  REPO,
  assert_one_line_error,
  group_gone,
  module_env,
  run_main,
  run_module,
  start_module,
  tiny_config,
  tiny_flags,
)

# `python -m dclf.data ...` where a file may grow to 4 MB, less than the train split's image file:
# its allocation fails with EFBIG as it fails with ENOSPC on a full disk, on any machine (the limit
# is set in the child itself: a preexec_fn would fork the multithreaded test process).
LIMITED_DATA_COMMAND = (
  "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (4_000_000, 4_000_000)); "
  "sys.argv[0] = 'dclf.data'; runpy.run_module('dclf.data', run_name='__main__', alter_sys=True)"
)


def _leftovers(data_dir) -> list[str]:
  """The raw copy and any partial one (`raw.incomplete-*`) of the build in data_dir."""
  return sorted(path.name for path in version_dir(data_dir).glob("raw*"))


@contextlib.contextmanager
def _tmpfs(path: Path, options: str):
  """A small filesystem of its own at `path` (a tmpfs: mounting needs root or CAP_SYS_ADMIN)."""
  path.mkdir()
  try:
    mounted = subprocess.run(
      ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
    )
    reason = mounted.stderr.strip() if mounted.returncode else None
  except FileNotFoundError:
    reason = "no mount command"
  if reason is not None:
    pytest.skip(f"needs a small filesystem and cannot mount a tmpfs here (root only): {reason}")
  try:
    yield path
  finally:
    subprocess.run(["umount", str(path)], check=True, timeout=60)


def _tree_bytes(folder: Path) -> int:
  return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


# A disk without room ------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_a_disk_without_room_for_the_copy_is_one_line_before_any_work(built, tmp_path, workers):
  """The copy (108 examples, ~17 MB) on a filesystem with ~4 MB free: refused at once, naming the
  folder, the bytes needed and the bytes free; nothing written. (It hung, or died by SIGBUS with
  --workers 1, writing into a memory map of a sparse file.)"""
  with _tmpfs(tmp_path / "disk", f"size={(_tree_bytes(built) >> 10) + 4096}k") as disk:
    data_dir = private_copy(built, disk)
    result = run_module("dclf.data", "convert-raw", NAME, "--data_dir", data_dir, "--workers", workers, timeout=300)
    line = error_line(result.stderr)
    assert result.returncode == 1 and f"no room for the raw copy of {NAME} in {version_dir(data_dir)}" in line
    needed = raw_writer.needed_bytes(building.require_built(NAME, data_dir))
    assert f"it needs 17.3 MB ({needed:,} bytes), the disk has " in line and " free; " in line
    assert _leftovers(data_dir) == []


def test_a_disk_that_fills_during_the_conversion_is_one_line_and_the_partial_copy_is_removed(built, tmp_path):
  """The filesystem runs out of room after the conversion has made its folder and the train split's
  image file and decoded the split (here: of inodes, which a test can size exactly): ENOSPC, as
  when another process fills the disk."""
  with _tmpfs(tmp_path / "disk", "size=64m") as disk:
    data_dir = private_copy(built, disk)
    stats = os.statvfs(disk)
    used = stats.f_files - stats.f_ffree
    subprocess.run(["mount", "-o", f"remount,nr_inodes={used + 2}", str(disk)], check=True, timeout=60)
    result = run_module("dclf.data", "convert-raw", NAME, "--data_dir", data_dir, "--workers", 2, timeout=300)
    line = error_line(result.stderr)
    assert result.returncode == 1 and f"cannot write the raw copy of {NAME} in {version_dir(data_dir)}" in line
    assert "No space left on device" in line and "train.features.npy" in line and "partial copy was removed" in line
    assert _leftovers(data_dir) == []


def test_a_write_that_fails_midway_is_one_line_and_the_partial_copy_is_removed(built, tmp_path):
  """The same on any machine (no mount): files may not grow past 4 MB (RLIMIT_FSIZE), so allocating
  the train split's 12.6 MB image file fails with EFBIG after the conversion has begun."""
  data_dir = private_copy(built, tmp_path)
  command = [sys.executable, "-c", LIMITED_DATA_COMMAND, "convert-raw", NAME, "--data_dir", data_dir, "--workers", "2"]
  result = subprocess.run(command, cwd=REPO, env=module_env(), capture_output=True, text=True, timeout=300)
  line = error_line(result.stderr)
  assert result.returncode == 1 and f"cannot write the raw copy of {NAME}" in line
  assert "File too large" in line and "train.image.npy" in line
  assert _leftovers(data_dir) == []


# A damaged copy -----------------------------------------------------------------------------------


def _truncate(path: Path, size: int | None = None) -> None:
  os.truncate(path, path.stat().st_size // 2 if size is None else size)


def _edit_manifest(raw_dir: Path, edit) -> None:
  manifest = json.loads((raw_dir / "manifest.json").read_text())
  edit(manifest)
  (raw_dir / "manifest.json").write_text(json.dumps(manifest))


DAMAGES = {  # what is done to the copy, what the error line says
  "truncated images": (lambda r: _truncate(r / "train.image.npy"), "train.image.npy holds 6,"),
  "missing images": (lambda r: (r / "validation.image.npy").unlink(), "validation.image.npy is missing"),
  "truncated header": (lambda r: _truncate(r / "test.features.npy", 50), "test.features.npy is not a .npy file"),
  "longer images": (lambda r: open(r / "test.image.npy", "ab").write(b"\0"), "test.image.npy holds 1,806,465 bytes"),
  "manifest []": (lambda r: (r / "manifest.json").write_text("[]"), "manifest.json holds a JSON list, not an object"),
  "manifest count a string": (
    lambda r: _edit_manifest(r, lambda m: m["splits"]["train"].update(num_examples="84")),
    "manifest.json: 'splits' is not an object of split names",
  ),
  "manifest without a field": (
    lambda r: _edit_manifest(r, lambda m: m.pop("image_features")),
    "manifest.json: 'image_features' is missing",
  ),
  "manifest of other splits": (
    lambda r: _edit_manifest(r, lambda m: m["splits"].pop("test")),
    "manifest.json: its splits are not the build's",
  ),
  "manifest garbage": (lambda r: (r / "manifest.json").write_bytes(b"\x89PNG\r\n\x1a\n"), "manifest.json is not JSON"),
  "manifest missing": (lambda r: (r / "manifest.json").unlink(), "manifest.json is missing"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_copy_is_one_line_naming_the_file_and_convert_raw_replaces_it(converted, tmp_path, damage):
  """verify-raw and every reader (training's included) refuse it with the file and the command that
  repairs it, where they failed with `internal error: ValueError: mmap length ...`, a TypeError or
  KeyError; convert-raw, which said the copy was up to date, replaces it and says so."""
  data_dir = private_copy(converted, tmp_path)
  damage_copy, message = DAMAGES[damage]
  damage_copy(version_dir(data_dir) / "raw")
  fix = f"replace it with: python -m dclf.data convert-raw {NAME} --data_dir {data_dir}"

  code, _, err = run_main(data_cli.main, "verify-raw", NAME, "--data_dir", data_dir)
  line = assert_one_line_error(code, err)
  assert f"cannot read the raw copy in {version_dir(data_dir) / 'raw'}: {message}" in line and fix in line
  with pytest.raises(DataError, match=f"{message}.*{fix}"):
    dclf.data.get_source(NAME, "train", data_dir, data_format="auto")

  code, out, err = run_main(data_cli.main, "convert-raw", NAME, "--data_dir", data_dir, "--workers", 1)
  assert code == 0, err
  assert message in out.splitlines()[0] and out.splitlines()[0].endswith("; replacing it")
  assert raw.copy_problem(building.require_built(NAME, data_dir)) is None
  assert raw_writer.verify(building.require_built(NAME, data_dir), every=9, log=lambda _: None) == 14


def test_training_on_a_damaged_copy_is_one_line_and_a_sample_is_converted_again(converted, tmp_path):
  data_dir = private_copy(converted, tmp_path)
  _truncate(version_dir(data_dir) / "raw" / "train.image.npy")
  config = tiny_config(dataset=NAME, data_dir=data_dir, data_format="auto")
  with pytest.raises(UsageError, match=f"train.image.npy holds .* bytes, not .*convert-raw {NAME}"):
    datasets.load(config, ("train", "validation"))
  # build_if_missing (dclf.main with --config.data_format=raw): the offline samples convert on first use
  source, _ = dclf.data.get_source(NAME, "train", data_dir, build_if_missing=True, data_format="raw")
  assert isinstance(source, raw.RawSource) and len(source) == 84
  assert raw.copy_problem(building.require_built(NAME, data_dir)) is None


# Signals and dead workers -------------------------------------------------------------------------


@pytest.mark.parametrize("signum, to_group", [(signal.SIGTERM, True), (signal.SIGINT, False)])
def test_a_signal_stops_a_conversion_with_one_line_and_removes_its_partial_copy(built, tmp_path, signum, to_group):
  """SIGTERM to the whole process group (a VM shutting down; the workers ignore it) or SIGINT to the
  command alone. (It printed the workers' BrokenPipe tracebacks, exited 143 and kept ~380 MB.)"""
  data_dir = private_copy(built, tmp_path)
  conversion = start_module(
    "dclf.data", "convert-raw", NAME, "--data_dir", data_dir, "--workers", 2,
    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
  )  # fmt: skip
  try:
    wait_for_file(conversion, version_dir(data_dir), "raw.incomplete-*/train.image.npy", poll_s=0.01)
  finally:
    os.killpg(conversion.pid, signum) if to_group else conversion.send_signal(signum)
  _, err = conversion.communicate(timeout=180)
  line = error_line(err)
  assert conversion.returncode == 130, err
  assert line == (
    f"error: interrupted ({signum.name}): the partial raw copy of {NAME} was removed; rerun the command to convert it"
  )
  assert _leftovers(data_dir) == [] and group_gone(conversion.pid), "the workers ended with the command"


def test_sigterm_during_a_training_runs_first_use_conversion(built, tmp_path):
  """`dclf.main` converts an offline sample on first use (data_format raw): a SIGTERM then (before
  the run has a workdir) ends it with the same line, and neither a partial copy nor a workdir is left."""
  data_dir, workdir = private_copy(built, tmp_path / "data"), tmp_path / "run"
  flags = tiny_flags(dataset=NAME, data_dir=data_dir, data_format="raw", num_train_steps=2)
  run = start_module(
    "dclf.main", "--config", REPO / "configs" / "default.py", "--workdir", workdir, *flags,
    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
  )  # fmt: skip
  try:
    wait_for_file(run, version_dir(data_dir), "raw.incomplete-*/train.image.npy", poll_s=0.01, timeout=300)
  finally:
    run.send_signal(signal.SIGTERM)
  _, err = run.communicate(timeout=180)
  assert run.returncode == 130 and "interrupted (SIGTERM): the partial raw copy" in error_line(err), err
  assert _leftovers(data_dir) == [] and not workdir.exists()


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGBUS])
def test_a_worker_that_dies_fails_the_pool_at_once(signum):
  """A dead worker (the kernel's OOM killer, a SIGBUS) ends `map` with one RunError naming how it
  died, and the other workers are stopped, where multiprocessing.Pool waited forever."""
  others = set(multiprocessing.active_children())
  faulthandler.dump_traceback_later(180, exit=True)  # a hang fails loudly instead of never ending
  try:
    with pytest.raises(RunError, match=rf"a worker process died \(killed by {signum.name}"):
      with OrderedPool(2, chunksize=1) as pool:
        list(pool.map(functools.partial(die_at, 5, signum), range(40)))
  finally:
    faulthandler.cancel_dump_traceback_later()
  assert set(multiprocessing.active_children()) <= others, "the pool's workers are gone"
