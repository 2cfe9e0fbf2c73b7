"""Trains and evaluates a dclf model.

  python -m dclf.main --config configs/sgdnet.py --workdir workdirs/sgdnet [--config.batch_size=64]

Rerunning the same command resumes from the newest checkpoint in --workdir.
"""

from absl import app, flags, logging
from ml_collections import config_flags

from dclf import cli, distributed, log, train
from dclf.errors import UsageError

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Training configuration file (configs/*.py).", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and the summary.")
flags.DEFINE_enum("multihost", "auto", distributed.MODES,
                  "Join jax.distributed: auto-detected on multi-host TPU slices and multi-task SLURM jobs.")
flags.DEFINE_string("coordinator_address", None, "HOST:PORT of process 0, for explicit multi-process runs.")
flags.DEFINE_integer("num_processes", None, "Number of processes (with --coordinator_address).")
flags.DEFINE_integer("process_id", None, "This process's index (with --coordinator_address).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)
  cli.run_reporting_errors(distributed.initialize, FLAGS.multihost, FLAGS.coordinator_address, FLAGS.num_processes,
                           FLAGS.process_id, errors=(ValueError,))
  log.setup()
  cli.run_reporting_errors(train.train_and_evaluate, FLAGS.config, FLAGS.workdir, errors=(UsageError,))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags_or_fail)
