"""What every dclf command does with bad input: one line `error: ...` on stderr, exit code 2."""

import argparse
import sys
from typing import Callable, NoReturn

from absl import flags


def fail(message: str) -> NoReturn:
  print(f"error: {message}", file=sys.stderr, flush=True)
  sys.exit(2)


def parse_flags_or_fail(argv):
  """An absl `flags_parser` that reports flag and config-file errors on one line.

  A `--config` file is loaded here too: ml_collections defers a load error to the first use.
  """
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


def run_reporting_errors(fn: Callable, *args, errors=(), **kwargs):
  """Calls `fn`; the given exception types become one-line errors with exit code 2."""
  try:
    return fn(*args, **kwargs)
  except errors as e:
    fail(str(e))


class ArgumentParser(argparse.ArgumentParser):
  """argparse with dclf's convention for bad input: one `error: ...` line, exit code 2."""

  def error(self, message):
    fail(message)
