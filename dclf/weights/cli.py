"""`python -m dclf.weights`: fetch Keras' ImageNet files; import a Keras file into a dclf workdir.

  python -m dclf.weights download vgg16|resnet50 [--dir D] [--include-top]
  python -m dclf.weights import MODEL FILE --workdir W [--config.FIELD=VALUE ...]

`import` converts FILE into MODEL's variables and writes W (config.json + a step-0 checkpoint),
which `dclf.main` fine-tunes or resumes, and `dclf.evaluate` and `dclf.predict` load. Errors are
one line `error: ...` on stderr with exit code 2, and leave W as it was.
"""

import argparse
import importlib
import logging
import sys
from pathlib import Path

from absl import flags
from ml_collections import config_flags

from dclf import models
from dclf.weights import download as downloads
from dclf.weights.convert import convert
from dclf.weights.errors import WeightsError


class UsageError(Exception):
  """Bad input: reported as one line, exit code 2."""


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="python -m dclf.weights", description=__doc__.split("\n\n")[0])
  commands = parser.add_subparsers(dest="command", required=True)
  fetch = commands.add_parser("download", help="fetch a Keras ImageNet weight file and check its hash")
  fetch.add_argument("model", choices=downloads.MODELS)
  fetch.add_argument("--dir", type=Path, default=downloads.DEFAULT_DIR, help="where to put it (default: %(default)s)")
  fetch.add_argument("--include-top", action="store_true", help="the file with the 1000-class ImageNet top")
  convert = commands.add_parser("import", help="convert a Keras weight file into a dclf workdir",
                                epilog="Any --config.FIELD=VALUE overrides a field of configs/MODEL.py.")
  convert.add_argument("model", choices=sorted(models.CLASSIFIERS))
  convert.add_argument("file", type=Path, help="Keras .h5 / .weights.h5 file (or a dclf workdir)")
  convert.add_argument("--workdir", type=Path, required=True, help="new workdir to write")
  return parser


def load_config(model: str, overrides: list[str]):
  """configs/<model>.py's get_config(), with `--config.FIELD=VALUE` overrides applied as
  `dclf.main` applies them (ml_collections' config flags: types checked, unknown fields refused)."""
  bad = [arg for arg in overrides if not arg.startswith("--config.")]
  if bad:
    raise UsageError(f"unrecognised arguments: {' '.join(bad)}")
  flag_values = flags.FlagValues()
  argv = ["import", *overrides]
  config_flags.DEFINE_config_dict("config", importlib.import_module(f"configs.{model}").get_config(),
                                  flag_values=flag_values, sys_argv=argv)
  try:
    flag_values(argv)
  except flags.Error as e:
    raise UsageError(str(e).splitlines()[0]) from None
  return flag_values.config


def import_file(model: str, file: Path, workdir: Path, overrides: list[str]) -> str:
  """Converts `file` for `model` and writes `workdir`; returns a one-line summary."""
  from dclf import checkpoint, train  # pylint: disable=g-import-not-at-top  (heavy: only for import)
  if (workdir / "config.json").exists() or (workdir / "checkpoints").exists():
    raise UsageError(f"{workdir} already holds a run: import into a new workdir")
  config = load_config(model, overrides)
  state = train.initial_state(config)  # freshly initialised: what the file does not cover stays so
  result = convert(file, state.variables(), model)
  if result.bn_epsilon is not None and result.bn_epsilon != config.bn_epsilon:
    if any(arg.startswith("--config.bn_epsilon=") for arg in overrides):
      raise UsageError(f"{file} needs bn_epsilon={result.bn_epsilon:g}, not the given {config.bn_epsilon:g}")
    config.bn_epsilon = result.bn_epsilon
  checkpoint.write_variables(str(workdir), config, result.variables)
  summary = f"{workdir}: {model} with {len(result.loaded)} layers from {file} ({result.source})"
  if result.kept:
    summary += f"; initialised: {', '.join(result.kept)}"
  if result.unused:
    summary += f"; unused: {', '.join(result.unused)}"
  return summary + (f"; bn_epsilon {result.bn_epsilon:g}" if result.bn_epsilon is not None else "")


def main(argv=None) -> int:
  args, rest = _parser().parse_known_args(argv)
  logging.basicConfig(level=logging.INFO, format="%(message)s")
  try:
    if args.command == "download":
      if rest:
        raise UsageError(f"unrecognised arguments: {' '.join(rest)}")
      print(downloads.download(args.model, args.dir, args.include_top))
    else:
      print(import_file(args.model, args.file, args.workdir, rest))
  except (UsageError, WeightsError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except downloads.DownloadError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  return 0
