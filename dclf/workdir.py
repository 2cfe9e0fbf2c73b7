"""A training run's workdir: its path checked before any work, then created, locked for the run
and compared with the config it already holds, before the run writes anything.

- The lock is `W/run.lock` (`dclf.runlock`: host, pid, boot id, start time), refreshed while the
  run lives and removed when it ends, however it ends short of SIGKILL. A second run on W is
  refused, and so are `dclf.evaluate` and `dclf.weights import`, which take the same lock while
  they write (`locked`). A stale lock (its process gone, its host rebooted, or no heartbeat for
  `runlock.STALE_AFTER_S`) is taken over with a warning, by one run of any number racing for it.
- A workdir that holds checkpoints is resumed only by the config that wrote them, up to
  `RESUMABLE_FIELDS`: everything that shapes the model, the optimizer, the data order or the
  numbers must match, or the run is refused before anything is touched. Imported weights (a
  step-0 checkpoint of `dclf.weights import`) must match in `MODEL_FIELDS` only.
- With several processes, process 0 does all this and tells the others whether it went well.
- If the run then fails having written nothing, the folders this created are removed again.
"""

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import jax
import numpy as np
from jax.experimental import multihost_utils

from dclf import checkpoint, cli
from dclf.errors import RunError, UsageError
from dclf.progress import warn
from dclf.runlock import Lock

LOCK_NAME = "run.lock"
# May differ between a run and its resumption: how long it runs, what it logs, evaluates and
# keeps, where and how fast it reads its data, how it spreads over devices (checkpoints have no
# device axis), and init_from (a resumed run restores its own checkpoint, not init_from).
RESUMABLE_FIELDS = frozenset(
  {
    "num_train_steps",
    "num_epochs",
    "log_every_steps",
    "eval_every_steps",
    "checkpoint_every_steps",
    "keep_checkpoints",
    "data_workers",
    "data_dir",
    "eval_split",
    "parallelism",
    "init_from",
    "profile_steps",
    "data_format",  # the PNG build and its raw copy give the same batches
    "prefetch_batches",
  }
)
_MISSING = "(absent)"


def check_path(workdir) -> Path:
  """`workdir` as a Path, if a run can make and write it; UsageError saying why not."""
  if not str(workdir).strip():
    raise UsageError("--workdir is empty: name a folder for the run's checkpoints and outputs")
  path = Path(workdir)
  if path.exists() and not path.is_dir():
    raise UsageError(f"workdir {path} is not writable: it is a file, not a folder")
  ancestor = path.absolute()
  while not ancestor.exists():
    ancestor = ancestor.parent
  if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
    raise UsageError(f"workdir {path} is not writable: {ancestor} is not a writable folder")
  return path


# Fields that shape a model's variables: a workdir of imported weights (`dclf.weights import`: a
# step-0 checkpoint, nothing trained yet) may start a run with any training fields, but not these.
MODEL_FIELDS = frozenset({"model", "image_size", "bn_epsilon", "multilabel", "class_names"})


def config_differences(saved: dict, config, fields=None) -> list[str]:
  """`field (saved X, now Y)` for each field that `config` changes: of `fields`, or of all but
  RESUMABLE_FIELDS. A field the saved config lacks is one a later dclf added; the run was made
  with the behaviour its default keeps, so it is not compared."""
  new = json.loads(config.to_json())
  fields = sorted(fields or (set(saved) - RESUMABLE_FIELDS))
  return [
    f"{field} (saved {saved.get(field, _MISSING)!r}, now {new.get(field, _MISSING)!r})"
    for field in fields
    if saved.get(field, _MISSING) != new.get(field, _MISSING)
  ]


def check_resumable(workdir: Path, config) -> None:
  """Refuses (UsageError, one line) a config that differs from the one of the checkpoints in
  `workdir`; a workdir without checkpoints holds nothing to resume."""
  steps = checkpoint.saved_steps(workdir)
  if not steps:
    return
  if not checkpoint.config_path(workdir).exists():
    raise UsageError(f"{workdir} holds checkpoints but no config.json: use a new --workdir")
  try:
    saved = checkpoint.load_config(workdir).to_dict()
  except ValueError as e:
    raise UsageError(f"{e}: use a new --workdir") from None
  trained = max(steps) > 0
  differences = config_differences(saved, config, None if trained else MODEL_FIELDS)
  if differences:
    may_change = "" if not trained else f"; only {', '.join(sorted(RESUMABLE_FIELDS))} may change on resume"
    raise UsageError(
      f"{workdir} holds {'a run' if trained else 'imported weights'} with another config: {'; '.join(differences)}. "
      f"Resume with the saved values ({checkpoint.config_path(workdir)}), or start afresh in a new --workdir"
      + may_change
    )


def _missing_folders(workdir: Path) -> list[Path]:
  """The folders a run makes (its checkpoints/, the workdir and its missing parents) that do not
  exist yet, deepest first."""
  folders = [workdir / "checkpoints", *([workdir] + list(workdir.absolute().parents))]
  missing = []
  for folder in folders:
    if folder.exists():
      break
    missing.append(folder)
  return missing


def _remove_if_empty(folders) -> None:
  for folder in folders:
    with contextlib.suppress(OSError):
      folder.rmdir()  # only if empty: whatever a run wrote stays


def _agree(refused: bool) -> bool:
  """Process 0's verdict, on every process."""
  if jax.process_count() == 1:
    return refused
  return bool(multihost_utils.broadcast_one_to_all(np.int32(refused)))


def _lock(lock: Lock, workdir: Path) -> None:
  """Creates `workdir` and takes `lock` in it (UsageError if that fails), saying whose stale lock it took over."""
  try:
    workdir.mkdir(parents=True, exist_ok=True)
    took_over = lock.acquire()
  except OSError as e:
    raise UsageError(f"workdir {workdir} is not writable: {e.strerror or e}") from None
  if took_over:
    warn("%s", took_over)


@contextlib.contextmanager
def open_run(workdir: Path, config) -> Iterator[None]:
  """Creates `workdir`, locks it and checks its saved config against `config` (process 0),
  yields, then unlocks. Folders this created and the run left empty are removed again."""
  created = _missing_folders(workdir)
  lock = Lock(workdir / LOCK_NAME)
  error = None
  if jax.process_index() == 0:
    try:
      _lock(lock, workdir)
      check_resumable(workdir, config)
    except (UsageError, OSError) as e:
      error = e if isinstance(e, UsageError) else UsageError(f"workdir {workdir} is not writable: {e.strerror or e}")
  if _agree(error is not None):
    _release(lock, created)
    raise error or UsageError(f"process 0 refused workdir {workdir}: its error line says why")
  try:
    yield
  except BaseException as e:
    _release(lock, created)
    if isinstance(e, Exception) and not isinstance(e, (UsageError, RunError)) and workdir.is_dir():
      cli.mark_trace_dir(e, workdir / "logs")  # a bug: its trace goes with the run
    raise
  _release(lock, created)


@contextlib.contextmanager
def locked(workdir, command: str) -> Iterator[Path]:
  """Holds `workdir`'s lock (creating the folder) while `command`, a command other than a
  training run, writes into it: `dclf.evaluate` (W/eval/), `dclf.weights import` (a new
  workdir); yields it as a Path. Refused (UsageError) while a run or another such command holds
  it. Folders this created and left empty are removed again."""
  workdir = check_path(workdir)
  created = _missing_folders(workdir)
  lock = Lock(workdir / LOCK_NAME, command)
  _lock(lock, workdir)
  try:
    yield workdir
  finally:
    _release(lock, created)


def _release(lock: Lock, created) -> None:
  lock.release()
  _remove_if_empty(created)
