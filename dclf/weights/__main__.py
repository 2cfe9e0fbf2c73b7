"""`python -m dclf.weights`: fetch Keras' ImageNet files; import a Keras file into a dclf workdir.

  python -m dclf.weights download vgg16|resnet50 [--dir D] [--include-top]
  python -m dclf.weights import MODEL FILE --workdir W [--config.FIELD=VALUE ...]

`import` converts FILE into MODEL's variables and writes W (config.json + a step-0 checkpoint),
which `dclf.main` fine-tunes (rerun with the same --config overrides), and `dclf.predict` loads.
W's config.preprocess is what FILE's weights were trained on (raw pixels for a classifier trained
by the poster's code, `caffe` for ImageNet and SGDNet weights) unless --config.preprocess is given.
Bad input is one line `error: ...` on stderr with exit code 2, and leaves W as it was; a failed
download is one line with exit code 1.
"""

import argparse
import importlib
import logging
import sys
from pathlib import Path

import jax
from absl import flags
from ml_collections import config_flags

from dclf import checkpoint, cli, models, optim, state
from dclf.errors import UsageError
from dclf.weights import download as downloads
from dclf.weights.convert import convert


def _parser() -> argparse.ArgumentParser:
  parser = cli.ArgumentParser(prog="python -m dclf.weights", description=__doc__.split("\n\n")[0])
  commands = parser.add_subparsers(dest="command", required=True)
  fetch = commands.add_parser("download", help="fetch a Keras ImageNet weight file and check its hash")
  fetch.add_argument("model", choices=downloads.MODELS)
  fetch.add_argument("--dir", type=Path, default=downloads.DEFAULT_DIR, help="where to put it (default: %(default)s)")
  fetch.add_argument("--include-top", action="store_true", help="the file with the 1000-class ImageNet top")
  convert_file = commands.add_parser(
    "import",
    help="convert a Keras weight file into a new dclf workdir",
    epilog="--config.FIELD=VALUE overrides a field of configs/MODEL.py.",
  )
  convert_file.add_argument("model", choices=sorted(models.CLASSIFIERS))
  convert_file.add_argument("file", type=Path, help="Keras .h5 / .weights.h5 file (or a dclf workdir)")
  convert_file.add_argument("--workdir", type=Path, required=True, help="the new workdir")
  return parser


# The config file of each model: configs/<model>.py, but small_cnn's is configs/quickstart.py.
CONFIG_OF_MODEL = {"small_cnn": "quickstart"}


def load_config(model: str, overrides: list[str]):
  """configs/<model>.py's get_config() (CONFIG_OF_MODEL) with `--config.FIELD=VALUE` overrides, parsed as
  `dclf.main` parses them (ml_collections config flags: types checked, unknown fields refused)."""
  unknown = [arg for arg in overrides if not arg.startswith("--config.")]
  if unknown:
    raise UsageError(f"unrecognised arguments: {' '.join(unknown)}")
  argv = ["import", *overrides]
  flag_values = flags.FlagValues()
  try:
    module = importlib.import_module(f"configs.{CONFIG_OF_MODEL.get(model, model)}")
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


def import_file(model: str, file: Path, workdir: Path, overrides: list[str]) -> str:
  """Converts `file` for `model`, writes `workdir`, returns a one-line summary."""
  if checkpoint.config_path(workdir).exists() or (workdir / "checkpoints").exists():
    raise UsageError(f"{workdir} already holds a run: import into a new workdir")
  if any(arg.startswith("--config.init_from=") for arg in overrides):
    raise UsageError("import reads FILE; --config.init_from has no use here")
  config = load_config(model, overrides)
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


@cli.command
def main(argv=None) -> int:
  args, rest = _parser().parse_known_args(argv)
  logging.basicConfig(level=logging.WARNING, format="%(message)s")
  try:
    if args.command == "download":
      if rest:
        raise UsageError(f"unrecognised arguments: {' '.join(rest)}")
      print(downloads.download(args.model, args.dir, args.include_top))
    else:
      print(import_file(args.model, args.file, args.workdir, rest))
  except downloads.DownloadError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
