"""Orbax checkpoints under `workdir/checkpoints/<step>` and the config beside them.

A step holds the item `state` (step, params, batch_stats, opt_state; saved without a device
axis, so it restores onto any number of devices) and, for training runs, the item `data` (each
process's grain iterator position). Orbax writes a step to a temporary folder and renames it when
complete, so a killed save never looks like a checkpoint; the trainer's Checkpointer removes such
leftovers when it opens the folder (it holds the workdir's lock: no other run is writing). A step
that does not restore (a truncated file, missing metadata) is skipped for the newest one that
does, with a warning; it is never deleted (`set_aside` moves it out of the trainer's way).
"""

import json
from pathlib import Path

import grain
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from dclf.fileio import atomic_write_text
from dclf.progress import warn

UNREADABLE_FOLDER = "unreadable_checkpoints"


def config_path(workdir) -> Path:
  return Path(workdir) / "config.json"


def save_config(workdir, config) -> None:
  if jax.process_index() == 0:
    atomic_write_text(config_path(workdir), config.to_json(indent=2, sort_keys=True) + "\n")


def load_config(workdir) -> ml_collections.ConfigDict:
  path = config_path(workdir)
  if not path.exists():
    raise FileNotFoundError(f"{path} not found: {workdir} is not a dclf workdir")
  try:
    return ml_collections.ConfigDict(json.loads(path.read_text()))
  except (OSError, ValueError) as e:
    raise ValueError(f"{path} is not a readable config ({e})") from None


def non_finite(tree) -> list[str]:
  """The paths of the float arrays of `tree` holding a NaN or an infinity."""
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return [
    jax.tree_util.keystr(path)
    for path, leaf in leaves
    if np.issubdtype(np.asarray(leaf).dtype, np.floating) and not np.isfinite(np.asarray(leaf)).all()
  ]


def _first_line(e: Exception) -> str:
  return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


def saved_steps(workdir) -> list[int]:
  """The steps saved in `workdir/checkpoints`, oldest first, read from the folder names alone (orbax
  renames a step's temporary folder to its number when it is complete): nothing is created or
  opened, so a command can look before it touches the workdir."""
  directory = Path(workdir) / "checkpoints"
  if not directory.is_dir():
    return []
  return sorted(int(p.name) for p in directory.iterdir() if p.is_dir() and p.name.isdigit())


class Checkpointer:
  """Keeps the newest `keep` steps; saves asynchronously (call `wait` before exiting).

  `writer=False` (evaluation, prediction: a run may be writing the folder) neither creates the
  folder nor removes leftovers of unfinished saves. With several processes, saving is collective
  (every process writes its part) but restoring is each process's own: orbax's restore waits at
  barriers, which a process that fails a step the others restore would miss, and the processes'
  barriers would pair up wrongly from then on (the trainer then agrees on one step)."""

  def __init__(self, workdir, keep: int = 3, *, writer: bool = True):
    self.directory = Path(workdir).absolute() / "checkpoints"
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=writer, cleanup_tmp_directories=writer)
    self._manager = ocp.CheckpointManager(self.directory, options=options)
    self._reader = self._manager
    if jax.process_count() > 1:
      me = jax.process_index()
      alone = ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me})
      options = ocp.CheckpointManagerOptions(read_only=True, create=False, multiprocessing_options=alone)
      self._reader = ocp.CheckpointManager(self.directory, options=options)

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state_tree, data_state=None) -> None:
    items = {"state": ocp.args.StandardSave(state_tree)}
    if data_state is not None and data_state.get_state() is not None:
      items["data"] = grain.checkpoint.CheckpointSave(data_state)
    self._manager.save(step, args=ocp.args.Composite(**items), force=True)

  def restore(self, step: int, target_tree=None, data_state=None):
    """Restores `state` (into the structure of `target_tree` when given) and, when the step has
    one and `data_state` is given, the data position into `data_state`."""
    items = {"state": ocp.args.StandardRestore(target_tree)}
    if data_state is not None and self.has_data_state(step):
      items["data"] = grain.checkpoint.CheckpointRestore(data_state)
    return self._reader.restore(step, args=ocp.args.Composite(**items))["state"]

  def restore_latest(self, target_tree=None, data_state=None) -> tuple[int, dict] | None:
    """(step, state tree) of the newest step that restores, None when there is no step; newer
    ones are skipped with a warning. ValueError when no step restores."""
    failed = {}
    for step in sorted(self._reader.all_steps(), reverse=True):
      if data_state is not None:
        data_state.set_state(None)  # a failed attempt may have set it
      try:
        return step, self.restore(step, target_tree, data_state)
      except Exception as e:  # orbax and tensorstore raise many types for a damaged step
        failed[step] = _first_line(e)
        warn("checkpoint %d in %s does not restore (%s); trying the one before", step, self.directory, failed[step])
    if failed:
      reasons = "; ".join(f"step {step}: {reason}" for step, reason in failed.items())
      raise ValueError(f"no checkpoint in {self.directory} restores ({reasons})")
    return None

  def set_aside_after(self, step: int) -> None:
    """Moves the steps after `step` (which did not restore) to `workdir/unreadable_checkpoints/`,
    never deleting them, so that the run can write those steps again. Process 0 moves; the
    caller holds the workdir's lock."""
    for newer in (s for s in self._manager.all_steps() if s > step):
      if jax.process_index() == 0:
        target = self.directory.parent / UNREADABLE_FOLDER / str(newer)
        suffix = 1
        while target.exists():
          target, suffix = target.with_name(f"{newer}.{suffix}"), suffix + 1
        target.parent.mkdir(parents=True, exist_ok=True)
        (self.directory / str(newer)).rename(target)
        warn("moved checkpoint %d, which does not restore, to %s", newer, target)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices("dclf: unreadable checkpoints set aside")
    self._manager.reload()
    self._reader.reload()

  def has_data_state(self, step: int) -> bool:
    """Whether `step` holds this process's data position: imported weights hold none, and a run
    saved by a different number of processes holds other shards' positions."""
    name = f"process_{jax.process_index()}-of-{jax.process_count()}.json"
    return (self.directory / str(step) / "data" / name).exists()

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()
    if self._reader is not self._manager:
      self._reader.close()


def load_latest(workdir) -> tuple[ml_collections.ConfigDict, dict, int]:
  """The config saved in `workdir`, its newest readable checkpoint's `{'params', 'batch_stats'}`
  and step. ValueError if that checkpoint holds NaN or infinite weights (a diverged run)."""
  config = load_config(workdir)
  checkpointer = Checkpointer(workdir, writer=False)
  try:
    found = checkpointer.restore_latest()
  finally:
    checkpointer.close()
  if found is None:
    raise FileNotFoundError(f"no checkpoint in {checkpointer.directory}")
  step, tree = found
  variables = {"params": tree["params"], "batch_stats": tree.get("batch_stats") or {}}
  bad = non_finite(variables)
  if bad:
    raise ValueError(
      f"checkpoint {step} holds NaN or infinite weights ({len(bad)} arrays, e.g. {bad[0]}): its run diverged"
    )
  return config, variables, step


def load_variables(workdir) -> tuple[ml_collections.ConfigDict, dict]:
  """The config saved in `workdir` and its latest checkpoint's `{'params', 'batch_stats'}`."""
  config, variables, _ = load_latest(workdir)
  return config, variables
