"""Speed of the training and inference steps: JAX, a PyTorch reference and a Keras reference side by side.

  python -m dclf.benchmark --config configs/sgdnet.py [--config.batch_size=8] [--steps 20]
      [--warmup 3] [--framework jax|torch|keras|both|all] [--keras-backend tensorflow|tensorflow-xla|jax|torch]
      [--modes train,eval] [--parallelism pmap,jit] [--precision fp32,bf16] [--json OUT] [--real-data]
      [--channels-last] [--compile] [--profile DIR]

JAX runs time the trainer's own compiled steps (`dclf.steps.compile_steps`, run by
`dclf.bench.jax_runner`); PyTorch runs time `dclf.bench.torch_reference` (optional:
`pip install -e '.[torch]'`); Keras runs time Keras' own compiled steps of the original code's
models (`dclf.bench.keras_reference`, optional: `pip install -e '.[keras]'`) on one backend per
process (Keras fixes it at import): run one process per --keras-backend and merge the --json files
(`python -m dclf.bench.records DIR`, or `python -m dclf.bench.study` for every row). `both` is JAX
and PyTorch, `all` adds Keras. All use one timing loop (`dclf.bench.timing`): compilation and
warm-up excluded and reported apart, device work waited for before the clock is read, synthetic
data placed on the device once unless --real-data. Prints a Markdown table; --json writes the
records (fields: `dclf.bench.records`).
"""

import os

from absl import app, flags, logging
from ml_collections import config_flags

from dclf import cli
from dclf.bench import peaks, records
from dclf.errors import UsageError
from dclf.fileio import atomic_write_json

FRAMEWORKS = {
  "jax": ("jax",),
  "torch": ("torch",),
  "keras": ("keras",),
  "both": ("jax", "torch"),
  "all": ("jax", "torch", "keras"),
}
TORCH_MISSING = "PyTorch is not installed (pip install -e '.[torch]')"

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Model configuration file (configs/*.py).", lock_config=True)
flags.DEFINE_integer("steps", 20, "Timed steps per configuration.", lower_bound=1)
flags.DEFINE_integer("warmup", 3, "Untimed steps after the first call, before timing.", lower_bound=0)
flags.DEFINE_enum(
  "framework", "jax", list(FRAMEWORKS), "Which implementation(s) to time: both = jax,torch; all adds keras."
)
flags.DEFINE_string(
  "keras-backend",
  None,
  "Keras' backend for --framework keras|all: tensorflow, tensorflow-xla (jit_compile=True), jax or torch; one "
  "backend per process.",
)
flags.DEFINE_list("modes", None, "train (train_step, state donated) and/or eval (predict_step); default: both.")
flags.DEFINE_list(
  "parallelism", None, "JAX data parallelism(s), pmap and/or jit (default: both); PyTorch runs one device."
)
flags.DEFINE_list("precision", None, "fp32 and/or bf16 (bfloat16 compute, float32 parameters); default: both.")
flags.DEFINE_string("json", None, "Write the records here as a JSON list (atomically).")
flags.DEFINE_bool("real-data", False, "Feed the grain train loader of config.dataset every step (transfer included).")
flags.DEFINE_bool("channels-last", False, "PyTorch reference: channels-last memory format.")
flags.DEFINE_bool("compile", False, "PyTorch reference: torch.compile the model (JAX steps are always compiled).")
flags.DEFINE_string("profile", None, "Write a jax.profiler trace of a few steps of each JAX configuration under DIR.")
flags.mark_flags_as_required(["config"])


def choices(name: str) -> tuple[str, ...]:
  """What --modes, --parallelism and --precision take (all of it by default). The registries import
  JAX (seconds): they are read when the flags are checked, after --help has had its answer."""
  from dclf import parallel  # pylint: disable=g-import-not-at-top
  from dclf.bench import suite  # pylint: disable=g-import-not-at-top

  return {
    "modes": suite.MODES,
    "parallelism": tuple(parallel.PARALLELISMS),
    "precision": peaks.PRECISIONS,
    "keras-backend": tuple(suite.KERAS_BACKENDS),
  }[name]


def _check_subset(name: str, values) -> bool:
  known = choices(name)
  if values is not None and not (values and set(values) <= set(known)):
    raise flags.ValidationError(f"--{name} takes a comma-separated subset of {','.join(known)}")
  return True


def _check_keras_backend(value) -> bool:
  if value is not None and value not in choices("keras-backend"):
    raise flags.ValidationError(f"--keras-backend takes one of {', '.join(choices('keras-backend'))}")
  return True


for _name in ("modes", "parallelism", "precision"):
  flags.register_validator(_name, lambda values, name=_name: _check_subset(name, values))
flags.register_validator("keras-backend", _check_keras_backend)


def _header(results: list[dict]) -> str:
  host = records.host_info()
  kinds = sorted({f"{r['framework']}: {r['devices']}x {r['device_kind']}" for r in results})
  versions = sorted({f"{k} {v}" for r in results for k, v in r["versions"].items()})
  return (
    f"host: {host['cpu']} ({host['cpu_count']} cores), load average "
    f"{', '.join(map(str, host['load_average']))}; devices: {'; '.join(kinds)}; {', '.join(versions)}"
  )


def _frameworks(name: str, keras_backend: str | None):
  """The frameworks to run, and the reference modules they need: {"torch": module, "keras": module}.
  A reference missing where it was asked for alone is a UsageError; in `both` and `all`, a note."""
  from dclf.bench import suite  # pylint: disable=g-import-not-at-top  (JAX: slow to import)

  frameworks, references = FRAMEWORKS[name], {}
  if "keras" in frameworks and keras_backend is None:
    raise UsageError(f"--framework {name} needs --keras-backend ({', '.join(suite.KERAS_BACKENDS)}; one per process)")
  if set(frameworks) - {"jax"}:
    # JAX would otherwise reserve most of a GPU's memory up front and leave the others none.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
  if "torch" in frameworks:
    references["torch"] = suite.load_torch_reference()
    if references["torch"] is None:
      if name == "torch":
        raise UsageError(TORCH_MISSING)
      print(f"note: {TORCH_MISSING}; PyTorch records skipped", flush=True)
  if "keras" in frameworks:
    try:
      references["keras"] = suite.load_keras_reference(keras_backend)
    except UsageError as e:
      if name == "keras":
        raise
      print(f"note: {e}; Keras records skipped", flush=True)
  return tuple(f for f in frameworks if f == "jax" or references.get(f)), references


@cli.command
def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  from dclf.bench import suite  # pylint: disable=g-import-not-at-top  (JAX: slow to import)
  from dclf.progress import setup_logging  # pylint: disable=g-import-not-at-top

  logging.set_verbosity(logging.WARNING)
  setup_logging()
  frameworks, references = _frameworks(FLAGS.framework, FLAGS["keras-backend"].value)
  results = suite.benchmark(
    FLAGS.config,
    frameworks=frameworks,
    modes=tuple(FLAGS.modes or choices("modes")),
    parallelisms=tuple(FLAGS.parallelism or choices("parallelism")),
    precisions=tuple(FLAGS.precision or choices("precision")),
    num_steps=FLAGS.steps,
    warmup=FLAGS.warmup,
    real_data=FLAGS["real-data"].value,
    torch_reference=references.get("torch"),
    torch_options={"channels_last": FLAGS["channels-last"].value, "compile_model": FLAGS.compile},
    keras_reference=references.get("keras"),
    keras_backend=FLAGS["keras-backend"].value,
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
