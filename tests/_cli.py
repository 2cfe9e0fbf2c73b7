"""Running dclf's command-line tools from tests, as a user would."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_module(module: str, *args, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
  """Runs `python -m module args...` from the repository root, capturing text output."""
  env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
  return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO, env=env, capture_output=True,
                        text=True, timeout=timeout, **kwargs)
