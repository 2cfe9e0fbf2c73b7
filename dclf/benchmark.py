"""Speed of the training and inference steps of one model, for rows of one framework, in this process.

  python -m dclf.benchmark --config configs/sgdnet.py [--config.batch_size=8] [--rows jax-pmap,jax-jit]
      [--platform auto|cpu|gpu|tpu] [--devices N] [--modes train,eval] [--precision fp32,bf16]
      [--steps 20] [--warmup 3] [--json OUT] [--real-data] [--profile DIR]

Each row (`dclf.bench.runners.ROWS`: jax-jit, jax-pmap, torch, torch-compile, torch-xla,
keras-tensorflow, keras-jax, ...) is a framework runner with its options, run data-parallel over
--devices devices of --platform (auto: the host's accelerator, found from its device files;
default: all of its devices) with config.batch_size as the global batch. Before timing, each row
checks that its framework got that platform and that many devices, else one `error:` line; a row
a framework cannot run on the platform is recorded as unsupported, never run elsewhere. The rows
of one run are of one framework: several frameworks in one process crash each other (TensorFlow and
PyTorch) or fix a backend per process (Keras), so `python -m dclf.bench.study` runs each row in a
process (and interpreter) of its own, and repeats it. All rows share one timing loop
(`dclf.bench.timing`): compilation and warm-up excluded and reported apart, recompilations in the
timed steps counted, device work waited for before the clock is read, synthetic data placed on the
device once unless --real-data. Precision: fp32 on CPUs by default (PyTorch's bf16 convolutions are
about 20x slower than its fp32 ones there), fp32 and bf16 on accelerators. Prints a Markdown table;
--json writes the records (fields: `dclf.bench.records`).
"""

import os

from absl import app, flags, logging
from ml_collections import config_flags

from dclf import cli
from dclf.bench import peaks, platforms, records, runners
from dclf.errors import UsageError
from dclf.fileio import atomic_write_json

MODES = ("train", "eval")
DEFAULT_ROWS = ("jax-pmap", "jax-jit")

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Model configuration file (configs/*.py).", lock_config=True)
flags.DEFINE_list("rows", list(DEFAULT_ROWS), f"Rows to time, of one framework: {', '.join(runners.ROWS)}.")
flags.DEFINE_enum("platform", "auto", ["auto", *platforms.PLATFORMS], "Where to run: auto is the host's accelerator.")
flags.DEFINE_integer(
  "devices", None, "Devices to run data-parallel over (default: all of the platform).", lower_bound=1
)
flags.DEFINE_integer("steps", 20, "Timed steps per configuration.", lower_bound=1)
flags.DEFINE_integer("warmup", 3, "Untimed steps after the first call, before timing.", lower_bound=0)
flags.DEFINE_list("modes", None, "train (train step, state donated) and/or eval (predict step); default: both.")
flags.DEFINE_list(
  "precision", None, "fp32 and/or bf16 (bfloat16 compute, float32 parameters); default: fp32 on CPUs, both elsewhere."
)
flags.DEFINE_string("json", None, "Write the records here as a JSON list (atomically).")
flags.DEFINE_bool("real-data", False, "Feed the grain train loader of config.dataset every step (transfer included).")
flags.DEFINE_string("profile", None, "Write a trace of a few steps of each configuration under DIR (JAX rows).")
flags.mark_flags_as_required(["config"])


def _check_subset(name: str, values, known) -> bool:
  if values is not None and not (values and set(values) <= set(known)):
    raise flags.ValidationError(f"--{name} takes a comma-separated subset of {','.join(known)}")
  return True


flags.register_validator("modes", lambda v: _check_subset("modes", v, MODES))
flags.register_validator("precision", lambda v: _check_subset("precision", v, peaks.PRECISIONS))
flags.register_validator("rows", lambda v: _check_subset("rows", v, runners.ROWS))


def one_process(rows) -> None:
  """A UsageError unless `rows` can share a process: one framework, one environment."""
  frameworks = sorted({runners.framework(row) for row in rows})
  environments = {tuple(sorted(runners.ROWS[row].environment.items())) for row in rows}
  if len(frameworks) > 1 or len(environments) > 1:
    raise UsageError(
      f"--rows {','.join(rows)}: rows of {', '.join(frameworks)} (or of other environments) need a process each "
      "(frameworks in one process crash each other or fix one backend); run them with python -m dclf.bench.study"
    )


def _header(results: list[dict]) -> str:
  host = records.host_info()
  timed = [r for r in results if "unsupported" not in r]
  kinds = sorted({f"{r['devices']}x {r['device_kind']} ({r['platform']})" for r in timed})
  versions = sorted({f"{k} {v}" for r in timed for k, v in r["versions"].items()})
  return (
    f"host: {host['cpu']} ({host['cpu_count']} cores), load average "
    f"{', '.join(map(str, host['load_average']))}; devices: {'; '.join(kinds) or 'none'}; {', '.join(versions)}"
  )


@cli.command
def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  one_process(FLAGS.rows)
  platform, devices = platforms.resolve(FLAGS.platform, FLAGS.devices)
  os.environ.update(platforms.environment(platform, devices))  # before any framework starts
  os.environ.update(runners.ROWS[FLAGS.rows[0]].environment)
  from dclf.bench import suite  # pylint: disable=g-import-not-at-top  (JAX: slow to import)
  from dclf.progress import setup_logging  # pylint: disable=g-import-not-at-top

  logging.set_verbosity(logging.WARNING)
  setup_logging()
  results = suite.benchmark(
    FLAGS.config,
    rows=FLAGS.rows,
    platform=platform,
    devices=devices,
    modes=tuple(FLAGS.modes or MODES),
    precisions=tuple(FLAGS.precision or platforms.default_precisions(platform)),
    num_steps=FLAGS.steps,
    warmup=FLAGS.warmup,
    real_data=FLAGS["real-data"].value,
    profile_dir=FLAGS.profile,
  )
  print(_header(results))
  print(records.markdown_table(results), flush=True)
  if FLAGS.json:
    try:
      atomic_write_json(FLAGS.json, results)
    except OSError as e:
      raise UsageError(f"--json {FLAGS.json}: cannot write the records ({e}); the table above has them") from None
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags_or_fail)
