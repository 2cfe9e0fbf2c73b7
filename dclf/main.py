"""Trains and evaluates a dclf model.

  python -m dclf.main --config configs/CONFIG.py --workdir W [--config.FIELD=VALUE ...]

Rerunning the same command resumes from the newest checkpoint in W; rerunning a finished run says
so and changes nothing (raise --config.num_train_steps or --config.num_epochs to train on). Any
field of the config can be overridden with --config.FIELD=VALUE, e.g. --config.batch_size=64
--config.num_train_steps=100; configs/default.py lists every field and what it means.

Configs (configs/*.py):
"""

import ast
from pathlib import Path

from absl import app, flags, logging
from ml_collections import config_flags

import configs
from dclf import cli
from dclf.errors import UsageError

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
  "config", None, "Training configuration file, e.g. configs/quickstart.py (required).", lock_config=True
)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and the summary (required).")
flags.DEFINE_string(
  "multihost",
  "auto",
  "Join jax.distributed: auto (detected on multi-host TPU slices and multi-task SLURM jobs), on or off.",
)
flags.DEFINE_string("coordinator_address", None, "HOST:PORT of process 0, for explicit multi-process runs.")
flags.DEFINE_integer("num_processes", None, "Number of processes (with --coordinator_address).")
flags.DEFINE_integer("process_id", None, "This process's index (with --coordinator_address).")
flags.mark_flags_as_required(["config", "workdir"])


def configs_help() -> str:
  """One line per config file: its name and the first line of its docstring (read, not run)."""
  lines = []
  for path in sorted(Path(configs.__file__).parent.glob("[!_]*.py")):
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    lines.append(f"  configs/{path.name}: {doc.splitlines()[0] if doc else ''}".rstrip())
  return "\n".join(lines) + "\n"


__doc__ += configs_help()


@cli.command
def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  # JAX, orbax, grain and tfds take seconds to import: imported here, after the flags are parsed,
  # so that --help and flag errors answer at once.
  from dclf import runtime, train  # pylint: disable=g-import-not-at-top
  from dclf.progress import setup_logging  # pylint: disable=g-import-not-at-top

  # Libraries' errors (orbax logs a failed asynchronous write with its traceback) reach dclf as
  # exceptions, which dclf.cli reports on one line: absl logging keeps only fatal messages.
  logging.set_verbosity(logging.FATAL)
  runtime.initialize(FLAGS.multihost, FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  setup_logging()
  train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags_or_fail)
