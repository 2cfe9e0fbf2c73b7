"""One convention for every dclf command.

- Bad input (a `dclf.errors.UsageError`: flag, config field, file, folder, dataset, weights) ends
  the command with one line `error: ...` on stderr and exit code 2: `main` functions are wrapped
  in `@command`, and argument parsers report the same way (`ArgumentParser`, or
  `parse_flags_or_fail` for the absl commands that take a `--config` file).
- `--help` prints the usage and exits 0.
- A run that cannot go on (`dclf.errors.RunError`: a diverged loss) and a full or read-only disk
  end with one `error:` line and exit code 1; Ctrl-C that reaches a command's top (a second
  SIGINT) with one line and exit code 130, as does a signal that stops a command which cannot save
  its work (`dclf.errors.Interrupted`: a dataset conversion; its line says what was removed).
- Anything else is a bug: one line `error: internal error: ...; full trace in PATH` and exit
  code 1, the trace in the workdir's `logs/` when the failing code marked one
  (`mark_trace_dir`), else in a temporary file. `DCLF_TRACEBACK=1` lets the exception through,
  traceback and all.

Each command module defines `main(argv=None) -> int` and ends with `sys.exit(main())` (argparse)
or `app.run(main, flags_parser=cli.parse_flags_or_fail)` (absl).
"""

import argparse
import datetime
import errno
import functools
import os
import re
import socket
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from absl import flags

from dclf.errors import Interrupted, RunError, UsageError

HELP_FLAGS = ("--help", "-h", "--helpshort", "-?")
TRACEBACK_ENV = "DCLF_TRACEBACK"
_TRACE_DIR_ATTR = "_dclf_trace_dir"
# Errors of the machine, not of dclf: reported as they are, without a trace.
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}
_DISK_REASONS = re.compile(r"No space left on device|Disk quota exceeded|File too large|Read-only file system")


def fail(message: str) -> NoReturn:
  print(f"error: {message}", file=sys.stderr, flush=True)
  sys.exit(2)


def _error(message: str, code: int) -> int:
  print(f"error: {message}", file=sys.stderr, flush=True)
  return code


def mark_trace_dir(exc: BaseException, directory) -> None:
  """Asks the last-resort handler to write `exc`'s trace in `directory` (a workdir's `logs/`)."""
  if not hasattr(exc, _TRACE_DIR_ATTR):
    setattr(exc, _TRACE_DIR_ATTR, Path(directory))


def _chain(exc: BaseException):
  while exc is not None:
    yield exc
    exc = exc.__cause__ or exc.__context__


def _disk_error(exc: BaseException) -> str | None:
  """`PATH: reason` from a full, read-only or failing disk, if that is what `exc` comes from
  (orbax's writer, tensorstore, reports it in a ValueError's text)."""
  for e in _chain(exc):
    if isinstance(e, OSError) and e.errno in _DISK_ERRNOS:
      return f"{e.filename}: {e.strerror}" if e.filename else e.strerror or str(e)
    reason = _DISK_REASONS.search(str(e))
    if reason:
      paths = re.findall(r'"(/[^"]+)"', str(e))
      return f"{paths[-1] if paths else str(e).splitlines()[0][:200]}: {reason.group(0)}"
  return None


def _write_trace(text: str, folder: Path | None = None) -> str:
  """`text` (tracebacks) in `folder`, else in a temporary file; says where (or why not)."""
  stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
  name = f"trace-{stamp}-{socket.gethostname()}-{os.getpid()}.txt"
  for directory in filter(None, (folder, Path(tempfile.gettempdir()))):
    try:
      directory.mkdir(parents=True, exist_ok=True)
      (directory / name).write_text(text)
      return f"full trace in {directory / name}"
    except OSError:
      continue
  return f"set {TRACEBACK_ENV}=1 to see the trace"


class _BackgroundErrors:
  """While a command runs, exceptions that no caller catches (a library's background thread or
  callback, a failing `__del__`) are written to a trace file instead of the terminal: they follow
  from an error the command reports on its line, or they are counted in one warning line."""

  def __init__(self):
    self.traces = []
    self._hooks = None

  def _record(self, exc: BaseException | None) -> None:
    if exc is not None and not isinstance(exc, SystemExit):
      self.traces.append("".join(traceback.format_exception(exc)))

  def __enter__(self):
    self._hooks = sys.excepthook, threading.excepthook, sys.unraisablehook
    if os.environ.get(TRACEBACK_ENV, "") in ("", "0"):
      sys.excepthook = lambda kind, exc, tb: self._record(exc)
      threading.excepthook = lambda args: self._record(args.exc_value)
      sys.unraisablehook = lambda args: self._record(args.exc_value)
    return self

  def __exit__(self, *exc):
    sys.excepthook, threading.excepthook, sys.unraisablehook = self._hooks
    return False


def command(main: Callable[..., int | None]) -> Callable[..., int]:
  """Wraps a command's `main` in the convention above: every way out is one line and an exit code."""

  @functools.wraps(main)
  def wrapped(*args, **kwargs) -> int:
    _quiet_resource_tracker()
    with _BackgroundErrors() as background:
      code = _run_command(main, *args, **kwargs)
    if background.traces:
      where = _write_trace("\n".join(background.traces))
      if code == 0:
        print(f"warning: {len(background.traces)} exception(s) in background threads; {where}", file=sys.stderr)
    return code

  return wrapped


# multiprocessing's resource tracker (a process of its own) frees the shared memory that a command
# stopped at once left behind (the data workers' batches in flight after a second Ctrl-C), then
# warns that it did, after the command's one line. It takes its warning filters from the
# environment of the process that starts it; the memory is freed all the same.
_QUIET_TRACKER = "ignore:resource_tracker:UserWarning"


def _quiet_resource_tracker() -> None:
  filters = [f for f in os.environ.get("PYTHONWARNINGS", "").split(",") if f]
  if _QUIET_TRACKER not in filters:
    os.environ["PYTHONWARNINGS"] = ",".join([*filters, _QUIET_TRACKER])


def _run_command(main, *args, **kwargs) -> int:
  try:
    return main(*args, **kwargs) or 0
  except UsageError as e:
    return _error(str(e), 2)
  except RunError as e:
    return _error(str(e), 1)
  except Interrupted as e:
    return _error(str(e), 130)
  except KeyboardInterrupt:
    return _error("interrupted: stopped without saving (the newest checkpoint, if any, is intact)", 130)
  except Exception as e:  # the last resort: no traceback reaches a user
    if os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
      raise
    disk = _disk_error(e)
    if disk:
      return _error(f"cannot write {disk}", 1)
    summary = " ".join(str(e).split())[:300]
    where = _write_trace("".join(traceback.format_exception(e)), getattr(e, _TRACE_DIR_ATTR, None))
    return _error(f"internal error: {type(e).__name__}: {summary}; {where}", 1)


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


def _fail_on_unknown_field(e: Exception, argv) -> None:
  """ml_collections reports a `--config.FIELD=...` naming no field as AttributeError('FIELD')."""
  field = str(e).strip("\"'")
  overridden = {part for arg in argv if arg.startswith("--config.") for part in arg.split("=")[0].split(".")[1:]}
  if isinstance(e, AttributeError) and field in overridden:
    fail(f"unknown config field {field!r}: --config.FIELD overrides only the fields the --config file defines")


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
    _fail_on_unknown_field(e, argv)
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if "Failed loading config file" in str(e):
      fail(f"cannot load the config file: {lines[-1]}")
    fail(f"{type(e).__name__}: {lines[0] if lines else ''}")
