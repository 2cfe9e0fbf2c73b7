"""One convention for every dclf command.

- Bad input (a `dclf.errors.UsageError`: flag, config field, file, folder, dataset, weights) ends
  the command with one line `error: ...` on stderr and exit code 2: `main` functions are wrapped
  in `@command`, and argument parsers report the same way (`ArgumentParser`, or
  `parse_flags_or_fail` for the absl commands that take a `--config` file).
- `--help` prints the usage and exits 0.

Each command module defines `main(argv=None) -> int` and ends with `sys.exit(main())` (argparse)
or `app.run(main, flags_parser=cli.parse_flags_or_fail)` (absl).
"""

import argparse
import functools
import sys
from collections.abc import Callable
from typing import NoReturn

from absl import flags

from dclf.errors import UsageError

HELP_FLAGS = ("--help", "-h", "--helpshort", "-?")


def fail(message: str) -> NoReturn:
  print(f"error: {message}", file=sys.stderr, flush=True)
  sys.exit(2)


def command(main: Callable[..., int | None]) -> Callable[..., int]:
  """Wraps a command's `main`: a UsageError becomes its one-line error and exit code 2."""

  @functools.wraps(main)
  def wrapped(*args, **kwargs) -> int:
    try:
      return main(*args, **kwargs) or 0
    except UsageError as e:
      print(f"error: {e}", file=sys.stderr, flush=True)
      return 2

  return wrapped


class ArgumentParser(argparse.ArgumentParser):
  """argparse with dclf's convention for bad input: one `error: ...` line, exit code 2."""

  def error(self, message):
    fail(message)


def _print_help(argv) -> NoReturn:
  """The command's docstring and its own flags (absl's --help exits 1 and lists every library's).
  absl's listing is headed by the module's file path and shows a required flag's missing default
  as `(default: 'None')`: both are left out."""
  main_module = sys.modules.get("__main__")
  doc = (getattr(main_module, "__doc__", None) or "").strip()
  print(doc + "\n" if doc else f"usage: {argv[0]} [flags]\n")
  if main_module:
    listing = [line for line in flags.FLAGS.main_module_help().splitlines() if line.startswith(" ")]
    print("\n".join(["flags:"] + [line for line in listing if line.strip() != "(default: 'None')"]))
  sys.exit(0)


def parse_flags_or_fail(argv):
  """An absl `flags_parser` that reports flag and config-file errors on one line.

  A `--config` file is loaded here too: ml_collections defers a load error to the first use.
  """
  if any(arg in HELP_FLAGS for arg in argv[1:]):
    _print_help(argv)
  try:
    argv = flags.FLAGS(argv)
    if "config" in flags.FLAGS and flags.FLAGS["config"].present:
      flags.FLAGS.config.keys()  # raises now if the file failed to load
    return argv
  except flags.Error as e:
    fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
  except Exception as e:  # config files are Python: loading one can raise anything
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if "Failed loading config file" in str(e):
      fail(f"cannot load the config file: {lines[-1]}")
    fail(f"{type(e).__name__}: {lines[0] if lines else ''}")
