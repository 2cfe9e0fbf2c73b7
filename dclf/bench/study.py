"""`python -m dclf.bench.study OUT_DIR`: the framework-speed study in one command, every row of
the registry for every model on one platform and device count, its records, tables and plot in one
folder.

  python -m dclf.bench.study OUT_DIR [--models softmax,sgdnet,vgg16_transfer,vgg16_scratch]
      [--rows ROW,...] [--platform auto|cpu|gpu|tpu] [--devices N] [--precision fp32,bf16]
      [--modes train,eval] [--batch-size N] [--steps 20] [--warmup 3] [--repeats 5] [--quick]
      [--python [ROW_OR_FRAMEWORK=]PATH ...] [--force] [--dry-run]

Every row runs on the same --platform (auto: the host's accelerator, from its device files; this
process starts no framework) and --devices (default: all of that platform's) with one global
batch; a row checks both before timing and fails with its reason otherwise. Each run of a (model,
row) is one `python -m dclf.benchmark` process of its own (frameworks crash each other in one, Keras
fixes its backend per process, JAX's peak memory is the process's), with the row's interpreter
(--python), in a process group of its own, with empty compilation caches (every run compiles cold,
as a new job does). --repeats N runs it N times, each an independent process with its compile, and
OUT_DIR/MODEL__ROW.json gets the median run with every run's images/s, their spread and coefficient
of variation (default: 5; 1 with --quick). A row a framework cannot run on the platform is recorded
as unsupported with its reason (never run elsewhere); a failed row is reported with its last line,
the study goes on and exits 1 at the end.

A row whose record exists is skipped, so rerunning the same command after an interruption (or with
other --rows) continues; --force runs them again. SIGTERM or Ctrl-C stops the running row (its
whole process group) and leaves no record of it. One study at a time per OUT_DIR: a lock held by the
study and every row it starts (a second study into the folder refuses, also while a row of a
killed study still runs). Progress: a line when a row starts, dclf's log lines as it runs, a line
when it ends with its time, images/s and the load average. Then the tables go to OUT_DIR/study.md
(and stdout) and the plot to OUT_DIR/study.png (`python -m dclf.bench.records OUT_DIR --plot
OUT.png` redraws them).
"""

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import configs
from dclf import cli
from dclf.bench import platforms, records, runners
from dclf.errors import UsageError
from dclf.fileio import atomic_write_json, atomic_write_text

MODELS = ("softmax", "sgdnet", "vgg16_transfer", "vgg16_scratch")
QUICK = {"steps": 3, "warmup": 1, "repeats": 1}
FULL = {"steps": 20, "warmup": 3, "repeats": 5}
LOCK = ".study.lock"
# The compilers' persistent caches, empty for every run: its compile is a cold start's.
COLD_CACHES = ("JAX_COMPILATION_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")
STOP_GRACE_S = 10.0


def plan(models, rows, out_dir: Path, force: bool = False) -> list[tuple[str, str, str | None]]:
  """(model, row, why it is skipped or None) for every row of every model, in running order."""
  jobs = []
  for model in models:
    for row in rows:
      why = runners.ROWS[row].skip.get(model)
      if not why and not force and record_path(out_dir, model, row).exists():
        why = f"recorded before ({record_path(out_dir, model, row).name})"
      jobs.append((model, row, why))
  return jobs


def record_path(out_dir: Path, model: str, row: str) -> Path:
  return out_dir / f"{model}__{row}.json"


def interpreters(values) -> dict[str, str]:
  """--python values: `PATH` (every row's default) or `NAME=PATH`, NAME a row or a framework."""
  known = {*runners.ROWS, *runners.RUNNERS}
  mapping = {}
  for value in values or ():
    name, _, path = value.rpartition("=")
    if name and name not in known:
      raise UsageError(f"--python {value}: {name!r} is neither a row nor a framework ({', '.join(sorted(known))})")
    mapping[name] = path
  return mapping


def interpreter(mapping: dict[str, str], row: str) -> str:
  """The interpreter of `row`: its own, its framework's, the default --python, or this one."""
  for name in (row, runners.framework(row), ""):
    if name in mapping:
      return mapping[name]
  return sys.executable


def command(python: str, model: str, row: str, out: Path, settings: dict) -> list[str]:
  """The `python -m dclf.benchmark` command line of one run of a row."""
  flags = [f"--config={Path(configs.__file__).parent / model}.py", f"--rows={row}", f"--json={out}"]
  flags += [f"--{name}={value}" for name, value in settings.items() if value is not None]
  return [python, "-m", "dclf.benchmark", *flags]


class Stopped(Exception):
  """A SIGTERM or SIGINT to the study."""

  def __init__(self, signum: int):
    super().__init__(signal.Signals(signum).name)
    self.signum = signum


def _raise_stopped(signum, frame):
  del frame
  for s in (signal.SIGTERM, signal.SIGINT):  # the cleanup that follows is not interrupted again
    signal.signal(s, signal.SIG_IGN)
  raise Stopped(signum)


@contextlib.contextmanager
def _stoppable():
  """SIGTERM and SIGINT raise `Stopped` in the study's main thread for the duration."""
  previous = {s: signal.signal(s, _raise_stopped) for s in (signal.SIGTERM, signal.SIGINT)}
  try:
    yield
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)


def _group_alive(pgid: int) -> bool:
  try:
    os.killpg(pgid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # a member we may not signal still exists
    return True
  return True


def stop_group(process: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
  """Ends every process of the row's group (the row's own children too): SIGTERM, then SIGKILL
  after `grace_s`; returns once none is left."""
  for signum in (signal.SIGTERM, signal.SIGKILL):
    with contextlib.suppress(ProcessLookupError):
      os.killpg(process.pid, signum)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
      with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=0.05)
      if not _group_alive(process.pid):
        return
  process.wait()


def _run_process(argv: list[str], log, env: dict, lock_fd: int, name: str) -> int:
  """Runs one process of a row in a process group of its own (holding the study's lock), its output
  into `log`, echoing dclf's own log lines; returns its exit code, once its whole group is gone."""
  try:
    process = subprocess.Popen(
      argv,
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True,
      start_new_session=True,
      pass_fds=(lock_fd,),
    )
  except OSError as e:  # a --python that is not there
    log.write(f"error: cannot start {argv[0]}: {e.strerror}\n")
    log.flush()
    return 127
  print(f"    {name}: pid {process.pid}", flush=True)
  try:
    for line in process.stdout:
      log.write(line)
      log.flush()  # a row's log is followed as it runs
      if line[:9].count(":") == 2 and line[8:9] == " ":  # dclf's log lines: "HH:MM:SS message"
        print(f"    {line.rstrip()}", flush=True)
    return process.wait()
  finally:
    stop_group(process)
    process.stdout.close()


def _last_line(log_path: Path) -> str:
  lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
  return lines[-1] if lines else "no output"


def run_row(model: str, row: str, *, out_dir: Path, python: str, settings: dict, repeats: int, lock_fd: int):
  """Runs `row` of `model` `repeats` times and writes its record: (None, summary), or (why it failed,
  None). Nothing is written until every run succeeded (the runs' records live in a temporary folder
  that goes with an interruption)."""
  out, log_path = record_path(out_dir, model, row), out_dir / "logs" / f"{model}__{row}.log"
  runs = []
  with tempfile.TemporaryDirectory(dir=out_dir, prefix=f".{out.stem}.") as tmp, log_path.open("w") as log:
    for run in range(1, repeats + 1):
      run_out = Path(tmp) / f"run-{run}.json"
      argv = command(python, model, row, run_out, settings)
      with tempfile.TemporaryDirectory(prefix="dclf-study-cache-") as cache:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **{name: f"{cache}/{name.lower()}" for name in COLD_CACHES}}
        log.write(f"== run {run}/{repeats}: {' '.join(argv)}\n")
        log.flush()
        code = _run_process(argv, log, env, lock_fd, f"run {run}/{repeats}")
      if code != 0 or not run_out.exists():
        return f"exit {code}: {_last_line(log_path)}", None
      runs.append(records.load([run_out]))
      if any("unsupported" in r for r in runs[-1]):
        break  # nothing to repeat
  combined = records.combine(runs)
  atomic_write_json(out, combined)
  return None, _summary(combined)


def _summary(rows: list[dict]) -> str:
  return ", ".join(
    f"unsupported: {r['unsupported']}"
    if "unsupported" in r
    else f"{r['mode']} {r['precision']} {records.significant(r['images_per_sec'])} img/s ({records.spread(r)})"
    for r in rows
  )


def _load() -> str:
  return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def lock(out_dir: Path) -> int:
  """Takes OUT_DIR's study lock (an flock, released when the study and every row holding it have
  ended, however they end); a UsageError naming the holder if taken."""
  path = out_dir / LOCK
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
    os.close(fd)
    raise UsageError(
      f"{out_dir} is in use by another study (pid {holder}) or a row it started that still runs: a second one would "
      "time its rows beside them; wait for it or stop it"
    ) from None
  os.ftruncate(fd, 0)
  os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
  return fd


def _parser() -> cli.ArgumentParser:
  parser = cli.ArgumentParser(
    prog="python -m dclf.bench.study",
    description="Run every row of the speed study for each model, each run a python -m dclf.benchmark process of "
    "its own on one platform and device count (resumable), then write its tables and plot.",
  )
  parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="records, logs, study.md and study.png go here")
  parser.add_argument("--models", default=",".join(MODELS), help="comma-separated configs/<model>.py names")
  parser.add_argument("--rows", default=",".join(runners.ROWS), help=f"comma-separated, of: {','.join(runners.ROWS)}")
  parser.add_argument("--platform", default="auto", help="auto (the host's accelerator), cpu, gpu or tpu")
  parser.add_argument("--devices", type=int, help="devices every row runs on (default: all of the platform)")
  parser.add_argument("--precision", help="fp32 and/or bf16 (default: fp32 on CPUs, both elsewhere)")
  parser.add_argument("--modes", default="train,eval", help="train and/or eval")
  parser.add_argument("--batch-size", type=int, help="global batch (default: each config's own)")
  parser.add_argument("--steps", type=int, help="timed steps per configuration (default 20; --quick 3)")
  parser.add_argument("--warmup", type=int, help="untimed steps after the first call (default 3; --quick 1)")
  parser.add_argument("--repeats", type=int, help="independent runs (processes) per row (default 5; --quick 1)")
  parser.add_argument("--quick", action="store_true", help="3 timed steps after 1 warm-up step, 1 run: a CPU's study")
  parser.add_argument(
    "--python",
    action="append",
    metavar="[ROW_OR_FRAMEWORK=]PATH",
    help="the interpreter of the rows (PATH) or of some (e.g. torch_xla=/venvs/torch-xla/bin/python); repeatable",
  )
  parser.add_argument("--force", action="store_true", help="run rows that have records again")
  parser.add_argument("--dry-run", action="store_true", help="print the plan and commands, run nothing")
  return parser


def _split(value: str, known, name: str) -> list[str]:
  items = [item for item in value.split(",") if item]
  unknown = [item for item in items if item not in known]
  if unknown or not items:
    raise UsageError(f"--{name} takes a comma-separated subset of {','.join(known)}; got {value!r}")
  return items


def _settings(args, platform: str, devices: int) -> tuple[dict, int]:
  """The flags every row gets, and the runs per row."""
  defaults = QUICK if args.quick else FULL
  chosen = {name: defaults[name] if getattr(args, name) is None else getattr(args, name) for name in defaults}
  for name, value in chosen.items():
    if value < (0 if name == "warmup" else 1):
      raise UsageError(f"--{name} must be at least {0 if name == 'warmup' else 1}, got {value}")
  if args.batch_size is not None and (args.batch_size < 1 or args.batch_size % devices):
    raise UsageError(f"--batch-size {args.batch_size} does not split evenly over the {devices} devices of every row")
  precision = _split(args.precision, ("fp32", "bf16"), "precision") if args.precision else None
  settings = {
    "platform": platform,
    "devices": devices,
    "config.batch_size": args.batch_size,
    "steps": chosen["steps"],
    "warmup": chosen["warmup"],
    "precision": ",".join(precision or platforms.default_precisions(platform)),
    "modes": ",".join(_split(args.modes, ("train", "eval"), "modes")),
  }
  return settings, chosen["repeats"]


def _report(out_dir: Path, failed: list[str]) -> None:
  """The tables (and rows not timed) of every record in OUT_DIR, with this run's failed rows, into
  study.md and stdout; the plot into study.png."""
  results = records.load([out_dir])
  text = records.study_tables(results) if results else ""
  if failed:
    text += "\n\n### Rows that failed (not recorded; rerun to retry)\n\n" + "\n".join(f"- {f}" for f in failed) + "\n"
  if not text:
    return
  atomic_write_text(out_dir / "study.md", text)
  wrote = [out_dir / "study.md"]
  if any("unsupported" not in r for r in results):
    records.plot(results, out_dir / "study.png")
    wrote.append(out_dir / "study.png")
  print(text + f"\nwrote {' and '.join(map(str, wrote))}", flush=True)


@cli.command
def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  models = _split(args.models, MODELS, "models")
  rows = _split(args.rows, runners.ROWS, "rows")
  platform, devices = platforms.resolve(args.platform, args.devices)
  settings, repeats = _settings(args, platform, devices)
  pythons = interpreters(args.python)
  out_dir = args.out_dir.absolute()
  jobs = plan(models, rows, out_dir, args.force)
  print(
    f"study: {len(models)} model(s) x {len(rows)} row(s) on {devices} {platform} device(s), global batch "
    f"{args.batch_size or 'of each config'}, {repeats} run(s) per row",
    flush=True,
  )
  if args.dry_run:
    for i, (model, row, why) in enumerate(jobs, 1):
      argv = command(interpreter(pythons, row), model, row, record_path(out_dir, model, row), settings)
      print(f"[{i}/{len(jobs)}] {model} {row}: {f'skipped, {why}' if why else ' '.join(argv)}", flush=True)
    return 0
  try:
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
  except OSError as e:
    raise UsageError(f"{args.out_dir}: cannot create the study folder ({e})") from None
  lock_fd = lock(out_dir)
  failed, started, current = [], time.perf_counter(), None
  try:
    with _stoppable():
      for i, (model, row, why) in enumerate(jobs, 1):
        prefix = f"[{i}/{len(jobs)}] {model} {row}"
        if why:
          print(f"{prefix}: skipped, {why}", flush=True)
          continue
        print(f"{prefix}: started (load {_load()})", flush=True)
        current, row_start = f"{model} {row}", time.perf_counter()
        error, summary = run_row(
          model,
          row,
          out_dir=out_dir,
          python=interpreter(pythons, row),
          settings=settings,
          repeats=repeats,
          lock_fd=lock_fd,
        )
        took = time.perf_counter() - row_start
        if error:
          failed.append(f"{model} {row}: {error}")
          print(f"{prefix}: FAILED after {took:.0f} s: {error}", flush=True)
        else:
          print(f"{prefix}: done in {took:.0f} s: {summary} (load {_load()})", flush=True)
        current = None
      done = sum(1 for _, _, why in jobs if not why) - len(failed)
      print(f"study: {done} row(s) run, {len(failed)} failed, in {time.perf_counter() - started:.0f} s", flush=True)
      _report(out_dir, failed)
  except Stopped as e:
    stopped = f"{current} was running and is ended, nothing of it recorded" if current else "between rows"
    print(f"error: stopped by {e}: {stopped}; rerun the same command to continue", file=sys.stderr, flush=True)
    return 128 + e.signum
  finally:
    os.close(lock_fd)
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
