"""Orbax checkpoints under `workdir/checkpoints/<step>` and the config beside them.

A step holds the item `state` (step, params, batch_stats, opt_state; saved without a device
axis, so it restores onto any number of devices) and, for training runs, the item `data` (each
process's grain iterator position). Orbax writes a step to a temporary folder and renames it when
complete, so a killed save never looks like a checkpoint.
"""

import json
from pathlib import Path

import grain
import jax
import ml_collections
import orbax.checkpoint as ocp

from dclf.fileio import atomic_write_text


def config_path(workdir) -> Path:
  return Path(workdir) / "config.json"


def save_config(workdir, config) -> None:
  if jax.process_index() == 0:
    atomic_write_text(config_path(workdir), config.to_json(indent=2, sort_keys=True) + "\n")


def load_config(workdir) -> ml_collections.ConfigDict:
  path = config_path(workdir)
  if not path.exists():
    raise FileNotFoundError(f"{path} not found: {workdir} is not a dclf workdir")
  return ml_collections.ConfigDict(json.loads(path.read_text()))


def saved_steps(workdir) -> list[int]:
  """The steps saved in `workdir/checkpoints`, oldest first, read from the folder names alone (orbax
  renames a step's temporary folder to its number when it is complete): nothing is created or
  opened, so a command can look before it touches the workdir."""
  directory = Path(workdir) / "checkpoints"
  if not directory.is_dir():
    return []
  return sorted(int(p.name) for p in directory.iterdir() if p.is_dir() and p.name.isdigit())


class Checkpointer:
  """Keeps the newest `keep` steps; saves asynchronously (call `wait` before exiting)."""

  def __init__(self, workdir, keep: int = 3):
    self.directory = Path(workdir).absolute() / "checkpoints"
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
    self._manager = ocp.CheckpointManager(self.directory, options=options)

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
    return self._manager.restore(step, args=ocp.args.Composite(**items))["state"]

  def has_data_state(self, step: int) -> bool:
    """Whether `step` holds this process's data position: imported weights hold none, and a run
    saved by a different number of processes holds other shards' positions."""
    name = f"process_{jax.process_index()}-of-{jax.process_count()}.json"
    return (self.directory / str(step) / "data" / name).exists()

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


def load_latest(workdir) -> tuple[ml_collections.ConfigDict, dict, int]:
  """The config saved in `workdir`, its latest checkpoint's `{'params', 'batch_stats'}` and step."""
  config = load_config(workdir)
  checkpointer = Checkpointer(workdir)
  step = checkpointer.latest_step()
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {checkpointer.directory}")
  tree = checkpointer.restore(step)
  checkpointer.close()
  return config, {"params": tree["params"], "batch_stats": tree.get("batch_stats") or {}}, step


def load_variables(workdir) -> tuple[ml_collections.ConfigDict, dict]:
  """The config saved in `workdir` and its latest checkpoint's `{'params', 'batch_stats'}`."""
  config, variables, _ = load_latest(workdir)
  return config, variables
