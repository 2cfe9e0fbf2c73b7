"""Trains and evaluates a dclf model.

  python -m dclf.main --config configs/sgdnet.py --workdir workdirs/sgdnet [--config.batch_size=64]

Rerunning the same command resumes from the newest checkpoint in --workdir.
"""

from absl import app, flags, logging
from ml_collections import config_flags

from dclf import cli, runtime, train
from dclf.errors import UsageError
from dclf.progress import setup_logging

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Training configuration file (configs/*.py).", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and the summary.")
flags.DEFINE_enum(
  "multihost",
  "auto",
  runtime.MODES,
  "Join jax.distributed: auto-detected on multi-host TPU slices and multi-task SLURM jobs.",
)
flags.DEFINE_string("coordinator_address", None, "HOST:PORT of process 0, for explicit multi-process runs.")
flags.DEFINE_integer("num_processes", None, "Number of processes (with --coordinator_address).")
flags.DEFINE_integer("process_id", None, "This process's index (with --coordinator_address).")
flags.mark_flags_as_required(["config", "workdir"])


@cli.command
def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  # Libraries' errors (orbax logs a failed asynchronous write with its traceback) reach dclf as
  # exceptions, which dclf.cli reports on one line: absl logging keeps only fatal messages.
  logging.set_verbosity(logging.FATAL)
  runtime.initialize(FLAGS.multihost, FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  setup_logging()
  train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags_or_fail)
