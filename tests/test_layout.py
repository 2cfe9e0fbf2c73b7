"""The layout is a checked contract: dclf's layers and the absence of import cycles
(`[tool.importlinter]` in pyproject.toml, checked by import-linter), and one style (ruff's lint rules
and formatter, as pyproject.toml sets them)."""

import subprocess
import sys

import pytest

from _runs import REPO, module_env, run_module

# import-linter in its own process: it reconfigures logging (disabling every logger already made).
LINT_IMPORTS = (
  "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"
)


def test_layers_and_no_import_cycles():
  result = subprocess.run(
    [sys.executable, "-c", LINT_IMPORTS], cwd=REPO, env=module_env(), capture_output=True, text=True, timeout=120
  )
  assert result.returncode == 0, result.stdout + result.stderr
  assert "0 broken" in result.stdout


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_ruff(command):
  result = run_module("ruff", *command, ".", timeout=120)
  assert result.returncode == 0, result.stdout + result.stderr
