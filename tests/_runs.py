"""Running dclf from tests as a user would: the tests' one tiny run (as a config and as command
flags), one subprocess runner for every test, and an in-process runner for commands' `main`."""

import contextlib
import importlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The tiny run every training test starts from: 32x32 images, batch 8 (4 per forced CPU device), no
# evaluation inside the loop, examples read in the test's own process. Tests add their step counts.
TINY = {"image_size": 32, "batch_size": 8, "eval_every_steps": -1, "data_workers": 0}


def tiny_config(base: str = "default", **fields):
  """configs/<base>.py with TINY and `fields` on top."""
  config = importlib.import_module(f"configs.{base}").get_config()
  config.update({**TINY, **fields})
  return config


def tiny_flags(**fields) -> list[str]:
  """TINY and `fields` as `--config.FIELD=VALUE` flags."""
  return [f"--config.{key}={value}" for key, value in {**TINY, **fields}.items()]


def module_command(module: str, *args) -> list[str]:
  return [sys.executable, "-m", module, *map(str, args)]


def module_env(extra_env: dict | None = None) -> dict:
  """The environment of a command run from this checkout (its `dclf` and `configs` first)."""
  path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
  return {**os.environ, "PYTHONPATH": path, **(extra_env or {})}


def run_module(
  module: str, *args, timeout: float = 300, cwd=REPO, env: dict | None = None, **kwargs
) -> subprocess.CompletedProcess:
  """Runs `python -m module args...` (from the repository root unless `cwd`), capturing text output;
  `env` adds to the environment."""
  return subprocess.run(
    module_command(module, *args),
    cwd=cwd,
    env=module_env(env),
    capture_output=True,
    text=True,
    timeout=timeout,
    **kwargs,
  )


def start_module(module: str, *args, cwd=REPO, env: dict | None = None, **kwargs) -> subprocess.Popen:
  """Starts `python -m module args...` without waiting (to signal or kill it); output discarded
  unless `stdout` / `stderr` say otherwise."""
  kwargs.setdefault("stdout", subprocess.DEVNULL)
  kwargs.setdefault("stderr", subprocess.DEVNULL)
  return subprocess.Popen(module_command(module, *args), cwd=cwd, env=module_env(env), **kwargs)


def run_main(main, *args) -> tuple[int, str, str]:
  """Calls a command's `main(argv)` in this process: (exit code, stdout, stderr), an argparse
  exit included."""
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
      code = main([str(a) for a in args])
    except SystemExit as e:
      code = e.code
  return code, out.getvalue(), err.getvalue()


def assert_one_line_error(returncode: int, stderr: str, code: int = 2) -> str:
  """`error: ...` on one line, exit code `code`, no traceback; returns the line."""
  assert returncode == code, stderr
  assert stderr.startswith("error: ") and stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
  return stderr


def group_members(pgid: int) -> list[int]:
  """The live processes of process group `pgid` (zombies are gone, just not reaped)."""
  members = []
  for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
    try:
      fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
      continue
    if int(fields[2]) == pgid and fields[0] != "Z":
      members.append(pid)
  return members


def group_gone(pgid: int, timeout: float = 60) -> bool:
  """Whether every process of group `pgid` has ended within `timeout` seconds (a resource tracker
  ends a moment after the process that started it)."""
  deadline = time.monotonic() + timeout
  while group_members(pgid):
    if time.monotonic() > deadline:
      return False
    time.sleep(0.1)
  return True
