"""Benchmark records: one flat dict per measured configuration, built here for every framework from
the runner's `Request` and `Measurement` (`record`), the repeats of a row combined into one
(`combine`); their Markdown tables and the study's plot (`dclf.bench.plots`).

Throughput (`images_per_sec`, MFU) is the images of the back-to-back window over its wall time,
what training sees: the one measure of every table and headline. The median and p90 step times
come from the per-step synced steps; `cpu_time_ms_per_step` is the process's CPU time per step of
the back-to-back run (see `dclf.bench.timing`). MFU divides the analytic model FLOPs
(`dclf.bench.flops`, the same number for every framework, so MFU compares like for like) by the
step time and by the peak of every device used.

Like with like: the tables rank rows only against rows of the same platform, device kind, device
count, global batch, model, image size and data (`TABLE_KEY`); a row measured anywhere else is in a
table of its own, with its heading saying what differs.
"""

import collections
import datetime
import json
import os
import platform
import statistics
import sys
from pathlib import Path

from dclf import cli
from dclf.bench import peaks, platforms, plots
from dclf.bench.runner import Measurement, Request
from dclf.errors import UsageError


def cpu_model() -> str:
  try:
    with open("/proc/cpuinfo") as f:
      return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
  except (OSError, StopIteration):
    return platform.processor() or "unknown CPU"


# Environment variables that change what the frameworks run (kernels, precision, threads, devices,
# compilers and their caches): these names, and every name with one of these prefixes.
ENVIRONMENT = (
  "DCLF_CONV_KERNEL_GRAD",
  "CPU_NUM_DEVICES",
  "OMP_NUM_THREADS",
  "MKL_NUM_THREADS",
  "OPENBLAS_NUM_THREADS",
  "NVIDIA_TF32_OVERRIDE",
  "TRITON_CACHE_DIR",
  "KERAS_BACKEND",
)
ENVIRONMENT_PREFIXES = (
  "XLA_",  # XLA_FLAGS, XLA_PYTHON_CLIENT_* (JAX's allocator), torch_xla's XLA_*
  "LIBTPU_",
  "TPU_",
  "PJRT_",
  "JAX_",  # JAX_COMPILATION_CACHE_DIR, JAX_DEFAULT_MATMUL_PRECISION, JAX_PLATFORMS, ...
  "TF_XLA_",
  "TF_GPU_",
  "TF_ENABLE_",  # TF_ENABLE_ONEDNN_OPTS, ...
  "NCCL_",
  "CUDA_",
  "TORCHINDUCTOR_",
  "TORCH_",
  "PT_XLA_",
)


def environment() -> dict:
  return {
    name: value
    for name, value in sorted(os.environ.items())
    if name in ENVIRONMENT or name.startswith(ENVIRONMENT_PREFIXES)
  }


def host_info() -> dict:
  """The machine, with its load (timings on a shared machine mean little without it) and the
  environment variables that change what the frameworks run (`environment`)."""
  return {
    "cpu": cpu_model(),
    "cpu_count": os.cpu_count(),
    "load_average": [round(x, 2) for x in os.getloadavg()],
    "python": platform.python_version(),
    "environment": environment(),
  }


def _now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def precision(config) -> str:
  return "bf16" if config.half_precision else "fp32"


def record(
  request: Request, m: Measurement, *, row: str, framework: str, model_flops_per_step: float, data: str
) -> dict:
  """The record of one measured configuration of `row`; `*_per_step` FLOPs are global (all
  devices). A measurement from another platform or device count than requested is refused: a
  runner that skipped its device check records nothing."""
  if (m.platform, m.devices) != (request.platform, request.devices):
    raise RuntimeError(
      f"the {row} runner measured {m.devices} {m.platform} device(s) where {request.devices} {request.platform} "
      "were asked for: its device check (dclf.bench.runner.check_devices) is missing"
    )
  config, t = request.config, m.timings
  # TPU rows of every framework in one table: one name per TPU generation (JAX's).
  device_kind = platforms.tpu_device_kind(m.device_kind) if m.platform == "tpu" else m.device_kind
  step_s = t.back_to_back_step_s
  images_per_sec = config.batch_size / step_s
  peak = peaks.peak_flops(device_kind, precision(config))
  model_flops_per_sec_per_device = model_flops_per_step / step_s / m.devices
  flops_per_step, flops_source = (
    (m.flops_per_step, m.flops_source) if m.flops_per_step else (model_flops_per_step, "analytic")
  )
  return {
    "row": row,
    "framework": framework,
    "options": request.options,
    "versions": m.versions,
    "settings": m.settings,
    "model": config.model,
    "mode": request.mode,
    "precision": precision(config),
    "platform": m.platform,
    "device_kind": device_kind,
    "device_kind_reported": m.device_kind,  # the framework's own name of it
    "devices": m.devices,
    "batch_size": config.batch_size,
    "batch_size_per_device": config.batch_size // m.devices,
    "image_size": config.image_size,
    "data": data,
    "steps": len(t.step_s),
    "warmup": request.warmup,
    "step_time_ms_median": 1e3 * t.median_s,
    "step_time_ms_p90": 1e3 * t.p90_s,
    "step_time_ms_back_to_back": 1e3 * step_s,
    "cpu_time_ms_per_step": 1e3 * t.back_to_back_cpu_s / len(t.step_s),
    "images_per_sec": images_per_sec,
    "images_per_sec_per_device": images_per_sec / m.devices,
    "compile_s": m.compile_s,
    "first_call_s": t.first_call_s,
    "compile_cache_hit": m.compile_cache_hit,
    "recompiles": t.recompiles,
    "loss": m.loss,
    "flops_per_step": flops_per_step,
    "flops_source": flops_source,
    "model_flops_per_step": model_flops_per_step,
    "model_tflops_per_sec_per_device": model_flops_per_sec_per_device / 1e12,
    "peak_flops_per_device": peak,
    "mfu": model_flops_per_sec_per_device / peak if peak else None,
    "peak_memory_bytes": m.peak_memory_bytes,
    "program_memory_bytes": m.program_memory_bytes,
    **_runs([(images_per_sec, m.compile_s, m.compile_cache_hit, t.recompiles)]),
    "host": host_info(),
    "measured_at": _now(),
    # --real-data records: images/s over the same configuration's on synthetic data, and the
    # training loader's images per CPU second of its processes (`dclf.bench.data`).
    "real_vs_synthetic": None,
    "loader_images_per_sec_per_core": None,
  }


def unsupported_record(*, row: str, framework: str, model: str, platform: str, devices: int, reason: str) -> dict:
  """What is recorded of a row its runner cannot run here: the reason, never a timing elsewhere."""
  return {
    "row": row,
    "framework": framework,
    "model": model,
    "platform": platform,
    "devices": devices,
    "unsupported": reason,
    "host": host_info(),
    "measured_at": _now(),
  }


def _runs(runs) -> dict:
  """The fields of a record that describe its independent runs: (images/s, compile s, cache hit,
  recompiles) of each."""
  rates, compiles, hits, recompiles = zip(*runs)
  known = [r for r in recompiles if r is not None]
  return {
    "repeats": len(runs),
    "images_per_sec_runs": list(rates),
    "images_per_sec_min": min(rates),
    "images_per_sec_max": max(rates),
    "images_per_sec_cv": statistics.stdev(rates) / statistics.mean(rates) if len(runs) > 1 else None,
    "compile_s_runs": list(compiles),
    "compile_cache_hit_runs": list(hits),
    "recompiles": max(known) if known else None,
  }


def combine(runs: list[list[dict]]) -> list[dict]:
  """One record per configuration (mode, precision, data) of a row's independent runs (each the
  records of one process): the median run's record (by images/s; of an even count, the lower of
  the two middle ones, so every field is one run's), with every run's images/s and compile time,
  their minimum, maximum and coefficient of variation, and the most recompilations of any run."""
  groups = collections.defaultdict(list)
  for run in runs:
    for r in run:
      groups["unsupported" if "unsupported" in r else (r["mode"], r["precision"], r["data"])].append(r)
  combined = []
  for group in groups.values():
    if "unsupported" in group[0]:
      combined.append(group[-1])
      continue
    median = dict(sorted(group, key=lambda r: r["images_per_sec"])[(len(group) - 1) // 2])
    median.update(
      _runs([(r["images_per_sec"], r["compile_s"], r["compile_cache_hit"], r["recompiles"]) for r in group])
    )
    combined.append(median)
  return combined


def _fmt(value, spec: str, scale: float = 1.0) -> str:
  return "n/a" if value is None else format(value * scale, spec)


def platform_of(r: dict) -> str:
  """The record's platform (records from before it was recorded: from the device kind)."""
  if "platform" in r:
    return r["platform"]
  return "cpu" if r["device_kind"] == "cpu" else "tpu" if r["device_kind"].startswith("TPU") else "gpu"


def row_label(r: dict) -> str:
  """The record's study row (`jax-jit`, `torch-compile-channels-last`, `keras-tensorflow-xla`); for
  records from before rows had names, the name that row has now."""
  if "row" in r:
    return r["row"]
  if r["framework"] == "keras":
    return f"keras-{r['options']['keras_backend']}"
  if r["framework"] == "jax":
    return f"jax-{r['parallelism']}"
  return "-".join([r["framework"], *(k.replace("_", "-") for k, v in sorted(r["options"].items(), reverse=True) if v)])


def _flagged(r: dict) -> str:
  """The row label, flagged when the row recompiled inside its timed steps (its numbers include it)."""
  recompiles = r.get("recompiles")
  return row_label(r) + (f" (RECOMPILED {recompiles}x)" if recompiles else "")


def significant(value) -> str:
  """At least 3 significant digits, thousands grouped: 0.753, 8.31, 35.2, 1,263."""
  return "n/a" if value is None else f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def spread(r: dict) -> str:
  """The runs behind a record: `1 run`, or `5 runs, 1,190-1,260, cv 2.1%`."""
  runs = r.get("repeats", 1)
  if runs == 1:
    return "1 run"
  low, high, cv = r["images_per_sec_min"], r["images_per_sec_max"], r["images_per_sec_cv"]
  return f"{runs} runs, {significant(low)}-{significant(high)}, cv {cv:.1%}"


# (column header, cell of a record).
COLUMNS = (
  ("row", _flagged),
  ("model", lambda r: r["model"]),
  ("mode", lambda r: r["mode"]),
  ("precision", lambda r: r["precision"]),
  ("devices", lambda r: f"{r['devices']}x {r['device_kind']} ({platform_of(r)})"),
  ("batch", lambda r: f"{r['batch_size']} ({r['batch_size_per_device']}/device)"),
  ("img/s", lambda r: _fmt(r["images_per_sec"], ",.1f")),
  ("runs", spread),
  ("img/s/device", lambda r: _fmt(r["images_per_sec_per_device"], ",.1f")),
  ("median ms", lambda r: _fmt(r["step_time_ms_median"], ",.1f")),
  ("p90 ms", lambda r: _fmt(r["step_time_ms_p90"], ",.1f")),
  ("back-to-back ms", lambda r: _fmt(r["step_time_ms_back_to_back"], ",.1f")),
  ("CPU ms/step", lambda r: _fmt(r["cpu_time_ms_per_step"], ",.1f")),
  ("compile s", lambda r: _fmt(r["compile_s"], ".2f")),
  ("first step s", lambda r: _fmt(r["first_call_s"], ".2f")),
  ("recompiles", lambda r: _fmt(r.get("recompiles"), ",.0f")),
  ("GFLOP/step", lambda r: _fmt(r["flops_per_step"], ".4g", 1e-9) + f" ({r['flops_source']})"),
  ("model TFLOP/s/device", lambda r: _fmt(r["model_tflops_per_sec_per_device"], ".3g")),
  ("MFU", lambda r: _fmt(r["mfu"], ".1%")),
  ("peak memory GiB", lambda r: _fmt(r["peak_memory_bytes"], ".2f", 2.0**-30)),
  ("data", lambda r: r["data"]),
  ("real/synthetic", lambda r: _fmt(r.get("real_vs_synthetic"), ".0%")),
  ("loader img/s/core", lambda r: _fmt(r.get("loader_images_per_sec_per_core"), ",.0f")),
)


def _timed(records: list[dict]) -> list[dict]:
  return [r for r in records if "unsupported" not in r]


def markdown_table(records: list[dict]) -> str:
  """One table of every timed record with all columns, then the rows not timed."""
  lines = [
    "| " + " | ".join(name for name, _ in COLUMNS) + " |",
    "|" + "|".join("---" if i < 6 else "---:" for i in range(len(COLUMNS))) + "|",
  ]
  lines += ["| " + " | ".join(cell(r) for _, cell in COLUMNS) + " |" for r in _timed(records)]
  return "\n".join(lines) + not_timed(records)


# The study's table: (column header, cell of a record).
STUDY_COLUMNS = (
  ("row", _flagged),
  ("precision", lambda r: r["precision"]),
  ("mode", lambda r: r["mode"]),
  ("img/s", lambda r: significant(r["images_per_sec"])),
  ("runs", spread),
  ("median ms", lambda r: significant(r["step_time_ms_median"])),
  ("p90 ms", lambda r: significant(r["step_time_ms_p90"])),
  ("CPU ms/step", lambda r: significant(r["cpu_time_ms_per_step"])),
  ("compile s", lambda r: _fmt(r["compile_s"], ".1f")),
  ("first step s", lambda r: _fmt(r["first_call_s"], ".1f")),
  ("MFU", lambda r: _fmt(r["mfu"], ".1%")),
  ("peak memory GiB", lambda r: _fmt(r["peak_memory_bytes"], ".2f", 2.0**-30)),
)
MODEL_ORDER = ("softmax", "sgdnet", "vgg16_transfer", "vgg16_scratch")
# What a study table holds: rows are ranked only against rows with all of these equal.
TABLE_KEY = ("platform", "device_kind", "devices", "batch_size", "model", "image_size", "data")


def _table_key(r: dict) -> tuple:
  return (platform_of(r), r["device_kind"], r["devices"], r["batch_size"], r["model"], r["image_size"], r["data"])


def latest(records: list[dict]) -> list[dict]:
  """One record per study row and setting (table, precision, mode; or, not timed, platform, device
  count and model): the newest (`measured_at`; the last read among records without it), so a rerun
  replaces its row."""
  keyed = {}
  for r in sorted(records, key=lambda r: r.get("measured_at", "")):
    if "unsupported" in r:
      key = ("unsupported", r["platform"], r["devices"], r["model"], r["row"])
    else:
      key = (_table_key(r), row_label(r), r["precision"], r["mode"])
    keyed[key] = r
  return list(keyed.values())


def _model_rank(model: str) -> tuple:
  return (MODEL_ORDER.index(model) if model in MODEL_ORDER else len(MODEL_ORDER), model)


def _sorted_tables(records: list[dict]) -> dict[tuple, list[dict]]:
  """The latest timed records by table (`_table_key`; platform, devices, then models by
  MODEL_ORDER), each sorted: fp32 before bf16, train before eval, the fastest first."""
  tables = collections.defaultdict(list)
  for r in _timed(latest(records)):
    tables[_table_key(r)].append(r)
  return {
    key: sorted(tables[key], key=lambda r: (r["precision"] != "fp32", r["mode"] != "train", -r["images_per_sec"]))
    for key in sorted(tables, key=lambda k: (k[:3], _model_rank(k[4]), k[3], k[5:]))
  }


def _heading(key: tuple) -> str:
  platform_name, kind, devices, batch, model, size, data = key
  return (
    f"### {model}: {devices}x {kind} ({platform_name}), global batch {batch} ({batch // devices} per device), "
    f"{size}x{size}, {data} data"
  )


def study_tables(records: list[dict]) -> str:
  """One Markdown table per model and setting (`TABLE_KEY`): every row at each precision and mode,
  with its ratio to the fastest row of the same precision and mode in images/s (back to back).
  A model with rows in several settings gets a table for each, never one ranking across them; the
  rows not timed (unsupported) follow."""
  tables = _sorted_tables(records)
  settings_of = collections.Counter(key[4] for key in tables)
  out = []
  for key, rows in tables.items():
    loads = [r["host"]["load_average"][0] for r in rows]
    best = collections.defaultdict(float)
    for r in rows:
      best[r["precision"], r["mode"]] = max(best[r["precision"], r["mode"]], r["images_per_sec"])
    ratio = lambda r: r["images_per_sec"] / best[r["precision"], r["mode"]]
    out += [_heading(key), ""]
    if settings_of[key[4]] > 1:
      out += [
        f"Ranked only within this table: {key[4]} has rows on {settings_of[key[4]]} settings (platform, devices, "
        "global batch, image size or data), each in its own table.",
        "",
      ]
    out += [
      f"host: {rows[0]['host']['cpu']} ({rows[0]['host']['cpu_count']} cores), load average (1 min) "
      f"{min(loads):.1f} to {max(loads):.1f} over these rows",
      "",
      "| " + " | ".join(name for name, _ in STUDY_COLUMNS) + " | vs fastest |",
      "|---|---|---|" + "---:|" * (len(STUDY_COLUMNS) - 2),
    ]
    out += [
      "| "
      + " | ".join(cell(r) for _, cell in STUDY_COLUMNS)
      + f" | {'fastest' if ratio(r) == 1 else f'{ratio(r):.2f}x'} |"
      for r in rows
    ]
    out.append("")
  if any(r.get("recompiles") for r in _timed(records)):
    out += ["RECOMPILED: the row compiled again inside its timed steps, so its numbers include compilation.", ""]
  return "\n".join(out) + not_timed(records)


def not_timed(records: list[dict]) -> str:
  """The rows recorded as unsupported, each with its reason; empty if none."""
  rows = sorted((r for r in latest(records) if "unsupported" in r), key=lambda r: (_model_rank(r["model"]), r["row"]))
  lines = [f"- {r['model']} {r['row']} on {r['devices']}x {r['platform']}: {r['unsupported']}" for r in rows]
  return "\n\n### Rows not timed (unsupported)\n\n" + "\n".join(lines) + "\n" if lines else ""


def plot(records: list[dict], path) -> None:
  """The study's plot: a row of panels per platform and device count, a panel per model (and
  setting), grouped bars of images/s, a bar per study row in each (mode, precision)."""
  tables = _sorted_tables(records)
  places = sorted({key[:3] for key in tables})
  per_panel = collections.Counter((key[:3], key[4]) for key in tables)
  grid = []
  for place in places:
    panels = []
    for key, rows in tables.items():
      if key[:3] != place:
        continue
      platform_name, kind, devices, batch, model, size, data = key
      title = f"{model} ({devices}x {kind})"
      if per_panel[place, model] > 1:  # several batch sizes, image sizes or data of one model
        title += f", batch {batch}, {size}x{size}, {data}"
      groups = sorted({(r["mode"], r["precision"]) for r in rows}, key=lambda g: (g[0] != "train", g[1] != "fp32"))
      by_row = {(row_label(r), r["mode"], r["precision"]): r["images_per_sec"] for r in rows}
      series = {row_label(r) for r in rows}
      panels.append(
        plots.Panel(
          title=title,
          groups=[f"{mode}\n{precision}" for mode, precision in groups],
          bars={label: [by_row.get((label, *g)) for g in groups] for label in series},
        )
      )
    grid.append(panels)
  title = "Images/s of the training and inference steps, back to back (higher is better)"
  plots.draw(grid, path, title=title, ylabel="images/s")


def _read(file: Path) -> list[dict]:
  try:
    records = json.loads(file.read_text())
  except (OSError, ValueError) as e:
    raise UsageError(f"{file}: cannot read benchmark records ({e})") from None
  if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
    raise UsageError(f"{file}: not a list of benchmark records (a --json file of python -m dclf.benchmark)")
  return records


def load(paths) -> list[dict]:
  """The records of `--json` files, and of every *.json file in the folders among `paths`."""
  files = []
  for path in map(Path, paths):
    files += sorted(path.glob("*.json")) if path.is_dir() else [path]
  return [r for f in files for r in _read(f)]


@cli.command
def main(argv=None) -> int:
  """`python -m dclf.bench.records FILE_OR_DIR... [--plot OUT.png] [--wide]`: the study's tables."""
  parser = cli.ArgumentParser(
    prog="python -m dclf.bench.records",
    description="Print benchmark records (--json files of python -m dclf.benchmark) as the study's Markdown "
    "tables, one per model and setting (platform, devices, global batch, image size, data), every row with its "
    "ratio to the fastest; --plot draws them.",
  )
  parser.add_argument("paths", nargs="+", metavar="FILE_OR_DIR", help="record files, or folders of *.json records")
  parser.add_argument("--plot", metavar="OUT.png", help="also draw images/s per row, a panel per model")
  parser.add_argument("--wide", action="store_true", help="one table of every record with all columns instead")
  args = parser.parse_args(argv)
  results = load(args.paths)
  if not results:
    raise UsageError(f"no benchmark records in {', '.join(args.paths)}")
  try:
    print(markdown_table(results) if args.wide else study_tables(results))
    if args.plot and _timed(results):
      plot(results, args.plot)
  except KeyError as e:
    raise UsageError(f"a record lacks the field {e}: not written by python -m dclf.benchmark") from None
  except OSError as e:
    raise UsageError(f"--plot {args.plot}: cannot write the plot ({e})") from None
  if args.plot:
    print(f"wrote {args.plot}" if _timed(results) else f"no timed records: no plot written to {args.plot}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
