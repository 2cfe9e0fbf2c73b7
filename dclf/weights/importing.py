"""`python -m dclf.weights import`: a Keras weight file converted into a new dclf workdir (config.json
and a step-0 checkpoint that `dclf.main` fine-tunes and `dclf.evaluate` / `dclf.predict` load).

Apart from the command-line module so that the CLI's `--help` and its `download` command do not
import JAX, flax and orbax.
"""

import importlib
from pathlib import Path

import jax
from absl import flags
from ml_collections import config_flags

from dclf import checkpoint, optim, state
from dclf import workdir as workdirs
from dclf.errors import UsageError
from dclf.weights.conversion import convert


def load_config(config_name: str, overrides: list[str]):
  """configs/<config_name>.py's get_config() with `--config.FIELD=VALUE` overrides, parsed as
  `dclf.main` parses them (ml_collections config flags: types checked, unknown fields refused)."""
  unknown = [arg for arg in overrides if not arg.startswith("--config.")]
  if unknown:
    raise UsageError(f"unrecognised arguments: {' '.join(unknown)}")
  argv = ["import", *overrides]
  flag_values = flags.FlagValues()
  try:
    module = importlib.import_module(f"configs.{config_name}")
    config_flags.DEFINE_config_dict("config", module.get_config(), flag_values=flag_values, sys_argv=argv)
    flag_values(argv)
  except flags.Error as e:
    raise UsageError(str(e).splitlines()[0]) from None
  except Exception as e:  # ml_collections raises AttributeError, TypeError ... for a bad field
    raise UsageError(f"bad --config override ({type(e).__name__}: {e})") from None
  return flag_values.config


def _write_workdir(workdir, config, variables: dict) -> None:
  """Writes `config.json` and a step-0 checkpoint holding `variables` with a fresh optimizer state:
  `dclf.main` fine-tunes from it, `dclf.evaluate` and `dclf.predict` load it."""
  model = state.build_model(config, len(config.class_names))
  imported = state.state_from_variables(model, optim.create_optimizer(config), variables)
  checkpointer = checkpoint.Checkpointer(workdir)
  checkpointer.save(0, jax.device_get(imported.checkpoint_tree()))
  checkpointer.wait()
  checkpointer.close()
  checkpoint.save_config(workdir, config)


def _set_preprocess(config, trained_on, overrides: list[str]) -> str:
  """Sets `config.preprocess` to the pixels the file's weights were trained on (an explicit
  `--config.preprocess` wins) and says which, and why, for the summary line."""
  if any(arg.startswith("--config.preprocess=") for arg in overrides):
    return f"preprocess {config.preprocess} (given)"
  if trained_on is None:
    return f"preprocess {config.preprocess} (configs/{config.model}.py)"
  summary = f"preprocess {trained_on.mode}: {trained_on.why}"
  if trained_on.mode != config.preprocess:  # configs/<model>.py says otherwise: dclf.main must be told
    summary += f" (give dclf.main --config.preprocess={trained_on.mode})"
  config.preprocess = trained_on.mode
  return summary


def import_file(model: str, config_name: str, file: Path, workdir, overrides: list[str]) -> str:
  """Converts `file` for `model` (configured by configs/<config_name>.py), writes `workdir`
  (holding its lock: no run starts there meanwhile), returns a one-line summary."""
  with workdirs.locked(workdir, "dclf.weights import") as workdir:
    if checkpoint.config_path(workdir).exists() or (workdir / "checkpoints").exists():
      raise UsageError(f"{workdir} already holds a run: import into a new workdir")
    return _import(model, config_name, file, workdir, overrides)


def _import(model: str, config_name: str, file: Path, workdir: Path, overrides: list[str]) -> str:
  if any(arg.startswith("--config.init_from=") for arg in overrides):
    raise UsageError("import reads FILE; --config.init_from has no use here")
  config = load_config(config_name, overrides)
  config.init_from = ""  # the imported checkpoint replaces the config's default pretrained file
  state.validate(config)
  with config.unlocked():
    config.class_names = list(state.output_names(config))
  initial = state.initial_state(config)  # random weights: what the file does not cover keeps them
  result = convert(file, initial.variables(), model)
  summary = f"{workdir}: {model}, {len(result.loaded)} layer(s) from {file} ({result.source})"
  if result.bn_epsilon is not None and result.bn_epsilon != config.bn_epsilon:
    if any(arg.startswith("--config.bn_epsilon=") for arg in overrides):
      raise UsageError(f"{file} needs --config.bn_epsilon={result.bn_epsilon:g}, not {config.bn_epsilon:g}")
    config.bn_epsilon = result.bn_epsilon
    summary += f"; bn_epsilon set to {result.bn_epsilon:g} (give dclf.main --config.bn_epsilon={result.bn_epsilon:g})"
  summary += "; " + _set_preprocess(config, result.preprocessing, overrides)
  _write_workdir(workdir, config, result.variables)
  if result.kept:
    summary += f"; freshly initialised: {', '.join(result.kept)}"
  return summary + (f"; unused: {', '.join(result.unused)}" if result.unused else "")
