"""Every command's --help: exit 0, the usage a newcomer needs, and no JAX imported to print it (JAX,
orbax, grain and tfds take seconds to import; a command imports them once it has work to do)."""

import importlib

import pytest

from _runs import run_module

HEAVY = ("jax", "flax", "optax", "orbax", "grain")


def help_of(module: str) -> tuple[str, set[str]]:
  """`python -m module --help`'s output and the modules it imported (`-X importtime`'s log)."""
  done = run_module(module, "--help", env={"PYTHONPROFILEIMPORTTIME": "1"}, timeout=120)
  assert done.returncode == 0, done.stderr[-2000:]
  imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
  assert "dclf.cli" in imported, "no import log"  # every command imports dclf.cli: the log was read
  return done.stdout, imported


@pytest.mark.parametrize(
  "module",
  [
    "dclf.main",
    "dclf.predict",
    "dclf.evaluate",
    "dclf.report",
    "dclf.benchmark",
    "dclf.data",
    "dclf.distort",
    "dclf.weights",
  ],
)
def test_help_imports_no_jax(module):
  text, imported = help_of(module)
  assert text.strip()
  heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY)
  assert not heavy, f"{module} --help imports {', '.join(heavy[:5])} ..."


def test_main_help_lists_the_configs_and_explains_overrides():
  text, _ = help_of("dclf.main")
  assert "configs/quickstart.py: Quickstart: a small CNN on the embedded sample dataset" in text
  assert "configs/sgdnet.py: SGDNet" in text
  assert "--config.FIELD=VALUE" in text and "configs/default.py lists every field" in text
  assert "(default: 'None')" not in text and "dclf/main.py:" not in text


def test_predict_and_evaluate_help_name_what_their_usage_shows():
  text, _ = help_of("dclf.predict")
  assert "usage: python -m dclf.predict [-h] --workdir W [--format {json,table}]" in text
  assert ".jpg" in text and ".webp" in text and "IMAGE_EXTENSIONS" not in text
  assert "json: one JSON line per image" in text  # --format is explained
  text, _ = help_of("dclf.evaluate")
  assert "--workdir W (--split NAME | --images PATH)" in text and "--view {windows,crop}" in text


def test_weights_import_offers_every_classifier_and_no_other():
  """`python -m dclf.weights import MODEL`'s choices are written out (dclf.models imports flax): they
  must stay the classifier registry's, each with a config file."""
  from dclf import models  # pylint: disable=g-import-not-at-top
  from dclf.weights.__main__ import CONFIG_OF_MODEL  # pylint: disable=g-import-not-at-top

  assert set(CONFIG_OF_MODEL) == set(models.CLASSIFIERS)
  for model, config_name in CONFIG_OF_MODEL.items():
    assert importlib.import_module(f"configs.{config_name}").get_config().model == model
