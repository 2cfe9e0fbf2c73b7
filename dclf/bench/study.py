"""`python -m dclf.bench.study OUT_DIR`: the framework-speed study in one command, every framework
row for every model, its records, tables and plot in one folder.

  python -m dclf.bench.study OUT_DIR [--models softmax,sgdnet,vgg16_transfer,vgg16_scratch]
      [--rows ROW,...] [--precision fp32,bf16] [--modes train,eval] [--batch-size N]
      [--steps 20] [--warmup 3] [--quick] [--python PATH] [--force] [--dry-run]

Each (model, row) is one `python -m dclf.benchmark` process (Keras fixes its backend per process,
and JAX's peak memory is the process's), writing OUT_DIR/MODEL__ROW.json, its output in
OUT_DIR/logs/. A row whose records exist is skipped, so rerunning the same command after an
interruption (or with other --rows) continues; --force runs them again. Progress: a line when a row
starts, dclf's log lines as it runs, and one when it ends, with its time, images/s and the load
average; a failed row is reported with its last line and the suite goes on (exit code 1 at the end).
Then the tables go to OUT_DIR/study.md (and stdout) and the plot to OUT_DIR/study.png
(`python -m dclf.bench.records OUT_DIR --plot OUT.png` redraws them). `--quick` is 3 timed steps
after 1 warm-up step (--steps/--warmup override it). `--python` runs the rows with another
interpreter (e.g. a virtual environment with TensorFlow for GPUs). torch.compile rows run with an
empty inductor (and Triton) cache of their own, so their compile time is a cold start's.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import configs
from dclf import cli
from dclf.bench import records
from dclf.errors import UsageError
from dclf.fileio import atomic_write_text

MODELS = ("softmax", "sgdnet", "vgg16_transfer", "vgg16_scratch")
# Row name -> its `python -m dclf.benchmark` flags; in the order the suite runs them.
ROWS = {
  "jax-jit": ("--framework", "jax", "--parallelism", "jit"),
  "jax-pmap": ("--framework", "jax", "--parallelism", "pmap"),
  "torch": ("--framework", "torch"),
  "torch-channels-last": ("--framework", "torch", "--channels-last"),
  "torch-compile": ("--framework", "torch", "--compile"),
  "torch-compile-channels-last": ("--framework", "torch", "--compile", "--channels-last"),
  "keras-tensorflow": ("--framework", "keras", "--keras-backend", "tensorflow"),
  "keras-tensorflow-xla": ("--framework", "keras", "--keras-backend", "tensorflow-xla"),
  "keras-jax": ("--framework", "keras", "--keras-backend", "jax"),
  "keras-torch": ("--framework", "keras", "--keras-backend", "torch"),
}
QUICK = {"steps": 3, "warmup": 1}


def plan(models, rows, out_dir: Path, force: bool = False) -> list[tuple[str, str, str | None]]:
  """(model, row, why it is skipped or None) for every row of every model, in running order."""
  jobs = []
  for model in models:
    for row in rows:
      if "--channels-last" in ROWS[row] and model == "softmax":
        why = "one Dense layer: no convolution layout to change"
      elif not force and record_path(out_dir, model, row).exists():
        why = f"recorded before ({record_path(out_dir, model, row).name})"
      else:
        why = None
      jobs.append((model, row, why))
  return jobs


def record_path(out_dir: Path, model: str, row: str) -> Path:
  return out_dir / f"{model}__{row}.json"


def command(python: str, model: str, row: str, out: Path, settings: dict) -> list[str]:
  """The `python -m dclf.benchmark` command line of one row."""
  flags = [f"--config={Path(configs.__file__).parent / model}.py", *ROWS[row], f"--json={out}"]
  flags += [f"--{name}={value}" for name, value in settings.items() if value is not None]
  return [python, "-m", "dclf.benchmark", *flags]


def _run_row(argv: list[str], log_path: Path, compiles: bool) -> int:
  """Runs one row, its output into `log_path`, echoing dclf's own log lines; returns its exit code."""
  log_path.parent.mkdir(parents=True, exist_ok=True)
  with tempfile.TemporaryDirectory(prefix="dclf-study-cache-") as cache, log_path.open("w") as log:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if compiles:  # a cold torch.compile: no kernels compiled by an earlier row or run
      env.update(TORCHINDUCTOR_CACHE_DIR=f"{cache}/inductor", TRITON_CACHE_DIR=f"{cache}/triton")
    with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
      for line in process.stdout:
        log.write(line)
        if line[:9].count(":") == 2 and line[8:9] == " ":  # dclf's log lines: "HH:MM:SS message"
          print(f"    {line.rstrip()}", flush=True)
    return process.returncode


def _summary(out: Path) -> str:
  rows = records.load([out])
  return ", ".join(
    f"{r['mode']} {r['precision']} {records.significant(r['images_per_sec_per_device'])} img/s" for r in rows
  )


def _last_line(log_path: Path) -> str:
  lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
  return lines[-1] if lines else "no output"


def _load() -> str:
  return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def _parser() -> cli.ArgumentParser:
  parser = cli.ArgumentParser(
    prog="python -m dclf.bench.study",
    description="Run every framework row of the speed study for each model (one python -m dclf.benchmark process "
    "per row, resumable), then write its tables and plot.",
  )
  parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="records, logs, study.md and study.png go here")
  parser.add_argument("--models", default=",".join(MODELS), help="comma-separated configs/<model>.py names")
  parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of: {','.join(ROWS)}")
  parser.add_argument("--precision", default="fp32", help="fp32 and/or bf16")
  parser.add_argument("--modes", default="train,eval", help="train and/or eval")
  parser.add_argument("--batch-size", type=int, help="global batch (default: each config's own)")
  parser.add_argument("--steps", type=int, help="timed steps per configuration (default 20; --quick 3)")
  parser.add_argument("--warmup", type=int, help="untimed steps after the first call (default 3; --quick 1)")
  parser.add_argument("--quick", action="store_true", help="3 timed steps after 1 warm-up step: a CPU's study")
  parser.add_argument("--python", default=sys.executable, help="the interpreter that runs the rows")
  parser.add_argument("--force", action="store_true", help="run rows that have records again")
  parser.add_argument("--dry-run", action="store_true", help="print the plan and commands, run nothing")
  return parser


def _split(value: str, known, name: str) -> list[str]:
  items = [item for item in value.split(",") if item]
  unknown = [item for item in items if item not in known]
  if unknown or not items:
    raise UsageError(f"--{name} takes a comma-separated subset of {','.join(known)}; got {value!r}")
  return items


@cli.command
def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  models = _split(args.models, MODELS, "models")
  rows = _split(args.rows, ROWS, "rows")
  defaults = QUICK if args.quick else {"steps": 20, "warmup": 3}
  settings = {
    "config.batch_size": args.batch_size,
    "steps": defaults["steps"] if args.steps is None else args.steps,
    "warmup": defaults["warmup"] if args.warmup is None else args.warmup,
    "precision": ",".join(_split(args.precision, ("fp32", "bf16"), "precision")),
    "modes": ",".join(_split(args.modes, ("train", "eval"), "modes")),
  }
  out_dir = args.out_dir.absolute()
  if not args.dry_run:
    try:
      (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    except OSError as e:
      raise UsageError(f"{args.out_dir}: cannot create the study folder ({e})") from None
  jobs = plan(models, rows, out_dir, args.force)
  failed, started = [], time.perf_counter()
  for i, (model, row, why) in enumerate(jobs, 1):
    prefix = f"[{i}/{len(jobs)}] {model} {row}"
    out = record_path(out_dir, model, row)
    argv = command(args.python, model, row, out, settings)
    if why or args.dry_run:
      print(f"{prefix}: {f'skipped, {why}' if why else ' '.join(argv)}", flush=True)
      continue
    print(f"{prefix}: started (load {_load()})", flush=True)
    row_start = time.perf_counter()
    code = _run_row(argv, out_dir / "logs" / f"{out.stem}.log", compiles="--compile" in ROWS[row])
    took = time.perf_counter() - row_start
    if code == 0 and out.exists():
      print(f"{prefix}: done in {took:.0f} s: {_summary(out)} (load {_load()})", flush=True)
    else:
      failed.append(f"{model} {row}")
      print(f"{prefix}: FAILED (exit {code}) after {took:.0f} s: {_last_line(out_dir / 'logs' / f'{out.stem}.log')}")
  if args.dry_run:
    return 0
  done = sum(1 for _, _, why in jobs if not why) - len(failed)
  print(f"study: {done} row(s) run, {len(failed)} failed, in {time.perf_counter() - started:.0f} s", flush=True)
  results = records.load([out_dir])
  if results:
    tables = records.study_tables(results)
    atomic_write_text(out_dir / "study.md", tables)
    records.plot(results, out_dir / "study.png")
    print(tables + f"\nwrote {out_dir / 'study.md'} and {out_dir / 'study.png'}", flush=True)
  if failed:
    print(f"failed rows (logs in {out_dir / 'logs'}): {'; '.join(failed)}", flush=True)
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
