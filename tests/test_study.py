"""The framework-speed study: the benchmark command's Keras rows (the Keras runner has its own
tests, tests/test_keras_reference.py; the PyTorch rows theirs, tests/test_torch_rows.py), the
study's tables and plot, the study command (its rows, processes, lock and signals), and the profile
on demand. No timing assertions: these run on shared CPUs."""

import gzip
import json
import os
import signal
import struct
import subprocess
import sys
import time

import pytest

from dclf import state
from dclf.bench import plots, records, runners, study, suite
from dclf.bench.runner import Measurement, Request
from dclf.bench.timing import Timings
from dclf.errors import UsageError

from _runs import assert_one_line_error, run_main, run_module, start_module, tiny_config


def _tiny(model="softmax", image_size=32):
  return tiny_config(model, batch_size=2, image_size=image_size)


# The benchmark command's Keras rows.


def test_keras_rows_need_a_process_of_their_own_and_their_backend(tmp_path):
  result = run_module("dclf.benchmark", "--config", "configs/softmax.py", "--rows", "keras-jax,keras-torch,jax-jit")
  assert_one_line_error(result.returncode, result.stderr)
  assert "rows of jax, keras (or of other environments) need a process each" in result.stderr
  (tmp_path / "tensorflow").mkdir()
  (tmp_path / "tensorflow" / "__init__.py").write_text("raise ImportError('no tensorflow here')\n")
  path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
  args = ("--config", "configs/softmax.py", "--rows", "keras-tensorflow-xla")
  result = run_module("dclf.benchmark", *args, env={"PYTHONPATH": path, "KERAS_BACKEND": "jax"})
  assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr  # after dclf's log lines:
  last = result.stderr.strip().splitlines()[-1]
  assert last == "error: Keras on tensorflow is not installed (no tensorflow here; pip install -e '.[keras]')"


# The study's tables and plot.


def _record(
  row, model, mode, images_per_sec, *, devices=1, batch=8, platform="cpu", kind=None, recompiles=0, measured_at=None
):
  """A record as `records.record` writes it, for a step of `batch` images taking batch / images_per_sec s."""
  step_s = batch / images_per_sec
  config = tiny_config(model, batch_size=batch, image_size=224)
  spec = runners.ROWS[row]
  request = Request(config, mode, platform, devices, num_steps=2, warmup=1, options=spec.options)
  kind = kind or {"cpu": "cpu", "gpu": "NVIDIA H100 80GB HBM3", "tpu": "TPU v4"}[platform]
  timings = Timings(step_s * 10, (step_s, step_s), 2 * step_s, 4 * step_s, recompiles)
  measurement = Measurement(timings, platform, kind, devices, {spec.runner: "1.0"}, compile_s=step_s * 9)
  r = records.record(request, measurement, row=row, framework=spec.runner, model_flops_per_step=1e9, data="synthetic")
  return {**r, "measured_at": measured_at} if measured_at else r


def _study_records():
  return [
    _record("jax-jit", "sgdnet", "train", 4.0),
    _record("torch-compile", "sgdnet", "train", 2.0),
    _record("keras-tensorflow", "sgdnet", "train", 8.0),
    _record("jax-jit", "sgdnet", "eval", 5.0),
    _record("keras-tensorflow-xla", "sgdnet", "eval", 2.5),
    _record("jax-jit", "softmax", "train", 1000.0),
    _record("torch", "softmax", "train", 30.0),
  ]


def _table_rows(tables: str, heading: str) -> list[str]:
  """The data lines of the table under `heading` (up to the next heading)."""
  section = tables[tables.index(heading) :].split("\n### ")[0]
  return [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| row ")]


def test_study_tables_one_per_model_with_ratios_to_the_fastest():
  tables = records.study_tables(_study_records())
  assert tables.count("### ") == 2 and tables.index("### softmax:") < tables.index("### sgdnet:")
  heading = "### sgdnet: 1x cpu (cpu), global batch 8 (8 per device), 224x224, synthetic data"
  rows = _table_rows(tables, heading)
  assert [row.split(" | ")[0] for row in rows] == [
    "| keras-tensorflow",
    "| jax-jit",
    "| torch-compile",
    "| jax-jit",
    "| keras-tensorflow-xla",
  ]  # train before eval, the fastest first
  assert [row.rsplit(" | ", 1)[1] for row in rows] == ["fastest |", "0.50x |", "0.25x |", "fastest |", "0.50x |"]
  # img/s, runs, median/p90/CPU ms, compile s, first step s
  assert "| 8 | 1 run | 1,000 | 1,000 | 2,000 | 9.0 | 10.0 | n/a | n/a |" in rows[0]
  assert "RECOMPILED" not in tables and "not timed" not in tables


def test_tables_never_rank_rows_of_other_devices_platforms_or_batches_together():
  """The like-with-like rule: a row on 2 devices, on a GPU, or with another global batch is in a
  table of its own, fastest there, never a ratio to the others."""
  mixed = [
    _record("jax-jit", "sgdnet", "train", 4.0),
    _record("torch", "sgdnet", "train", 2.0),
    _record("jax-pmap", "sgdnet", "train", 40.0, devices=2),
    _record("torch", "sgdnet", "train", 100.0, platform="gpu"),
    _record("keras-jax", "sgdnet", "train", 50.0, batch=16),
  ]
  tables = records.study_tables(mixed)
  headings = [line for line in tables.splitlines() if line.startswith("### ")]
  assert headings == [
    "### sgdnet: 1x cpu (cpu), global batch 8 (8 per device), 224x224, synthetic data",
    "### sgdnet: 1x cpu (cpu), global batch 16 (16 per device), 224x224, synthetic data",
    "### sgdnet: 2x cpu (cpu), global batch 8 (4 per device), 224x224, synthetic data",
    "### sgdnet: 1x NVIDIA H100 80GB HBM3 (gpu), global batch 8 (8 per device), 224x224, synthetic data",
  ]
  assert tables.count("Ranked only within this table: sgdnet has rows on 4 settings") == 4
  ratios = [[row.rsplit(" | ", 1)[1] for row in _table_rows(tables, h)] for h in headings]
  assert ratios == [["fastest |", "0.50x |"], ["fastest |"], ["fastest |"], ["fastest |"]]


def test_a_recompiling_row_is_flagged():
  tables = records.study_tables([_record("jax-jit", "sgdnet", "train", 4.0, recompiles=2)])
  assert "| jax-jit (RECOMPILED 2x) | fp32 | train |" in tables
  assert "RECOMPILED: the row compiled again inside its timed steps" in tables


def test_tpu_rows_of_every_framework_share_one_table():
  """TensorFlow names a TPU v4 after the VM's accelerator type, JAX "TPU v4": one table, ranked."""
  tpu = [
    _record("jax-jit", "sgdnet", "train", 40.0, devices=4, platform="tpu"),
    _record("keras-tensorflow", "sgdnet", "train", 20.0, devices=4, platform="tpu", kind="TPU v4-8"),
  ]
  assert tpu[1]["device_kind"] == "TPU v4" and tpu[1]["device_kind_reported"] == "TPU v4-8"
  tables = records.study_tables(tpu)
  rows = _table_rows(tables, "### sgdnet: 4x TPU v4 (tpu), global batch 8 (2 per device)")
  assert tables.count("### ") == 1 and [row.rsplit(" | ", 1)[1] for row in rows] == ["fastest |", "0.50x |"]


def test_repeats_combine_into_the_median_run_with_their_spread():
  runs = [[_record("jax-jit", "sgdnet", mode, rate)] for mode, rate in (("train", 4.0), ("train", 6.0), ("train", 5.0))]
  runs[1][0]["recompiles"] = 1
  (combined,) = records.combine(runs)
  assert combined["images_per_sec"] == pytest.approx(5.0) and combined["repeats"] == 3
  assert combined["step_time_ms_back_to_back"] == pytest.approx(1e3 * 8 / 5.0)  # the median run's own fields
  assert combined["images_per_sec_runs"] == pytest.approx([4.0, 6.0, 5.0])
  assert (combined["images_per_sec_min"], combined["images_per_sec_max"]) == pytest.approx((4.0, 6.0))
  assert combined["images_per_sec_cv"] == pytest.approx(0.2)  # sample standard deviation 1 over the mean 5
  assert combined["recompiles"] == 1  # the most of any run: a run that recompiled flags the row
  assert records.spread(combined) == "3 runs, 4-6, cv 20.0%"
  two = records.combine(runs[:2])[0]  # an even count: the lower middle run, every field one run's
  assert two["images_per_sec"] == pytest.approx(4.0) and two["images_per_sec_runs"] == pytest.approx([4.0, 6.0])


def test_an_unsupported_row_is_recorded_with_its_reason_not_run(monkeypatch):
  """A runner's `unsupported` reason (here JAX's, for a parallelism it does not have) gives one
  record saying why, and the tables list it apart."""
  monkeypatch.setitem(runners.ROWS, "jax-vmap", runners.Row("jax", {"parallelism": "vmap"}))
  (r,) = suite.benchmark(_tiny(), rows=("jax-vmap",), platform="cpu", devices=2, num_steps=1, warmup=0)
  assert r["unsupported"] == "no JAX parallelism 'vmap'; known: pmap, jit" and r["row"] == "jax-vmap"
  assert (r["platform"], r["devices"], r["model"]) == ("cpu", 2, "softmax")
  tables = records.study_tables([r, _record("jax-jit", "softmax", "train", 10.0)])
  assert tables.count("### softmax:") == 1
  assert "### Rows not timed (unsupported)\n\n- softmax jax-vmap on 2x cpu: no JAX parallelism 'vmap'" in tables
  assert records.combine([[r]]) == [r]


def test_a_newer_record_replaces_its_row():
  old = _record("jax-jit", "sgdnet", "train", 4.0, measured_at="2026-01-01T00:00:00+00:00")
  new = _record("jax-jit", "sgdnet", "train", 6.0, measured_at="2026-02-01T00:00:00+00:00")
  other = _record("jax-pmap", "sgdnet", "train", 1.0)
  assert records.latest([new, old, other]) == [new, other]


def _png_size(path) -> tuple[int, int]:
  data = path.read_bytes()
  assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
  return struct.unpack(">II", data[16:24])


def test_plot_is_written_from_a_few_records(tmp_path):
  out = tmp_path / "plots" / "study.png"
  records.plot(_study_records(), out)
  width, height = _png_size(out)
  assert (width, height) == (int(plots.MIN_WIDTH * 110), int((3.4 + 0.6 + 0.25 * 1) * 110))  # 2 panels, 1 row
  assert out.stat().st_size > 10_000 and [p.name for p in out.parent.iterdir()] == ["study.png"]  # no temp file


def test_plot_takes_a_log_scale_where_the_spread_needs_it():
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top

  colors = {"jax-jit": "blue", "torch": "orange"}
  for values, scale in (([1000.0, 30.0], "log"), ([4.0, 2.0], "linear")):
    ax = Figure().subplots()
    plots._draw_panel(ax, plots.Panel("m", ["train"], {"jax-jit": [values[0]], "torch": [values[1]]}), colors, "img/s")
    assert ax.get_yscale() == scale


def test_records_cli_prints_the_tables_and_draws_the_plot(tmp_path):
  folder = tmp_path / "records"
  folder.mkdir()
  (folder / "a.json").write_text(json.dumps(_study_records()))
  code, out, _ = run_main(records.main, folder, "--plot", tmp_path / "study.png")
  assert code == 0 and out.count("### ") == 2 and "| keras-tensorflow-xla | fp32 | eval |" in out
  assert _png_size(tmp_path / "study.png")[0] > 0
  code, out, _ = run_main(records.main, folder, "--wide")
  assert code == 0 and "| keras-tensorflow | sgdnet | train | fp32 | 1x cpu (cpu) | 8 (8/device) |" in out
  (tmp_path / "empty").mkdir()
  code, _, err = run_main(records.main, tmp_path / "empty")
  assert_one_line_error(code, err)
  assert "no benchmark records in" in err


# The suite command.


def test_study_plans_every_row_and_skips_what_is_recorded(tmp_path):
  rows = ["jax-jit", "torch-channels-last", "keras-tensorflow"]
  plan = study.plan(["softmax", "sgdnet"], rows, tmp_path)
  assert [(m, r) for m, r, why in plan if why is None] == [
    ("softmax", "jax-jit"),
    ("softmax", "keras-tensorflow"),
    ("sgdnet", "jax-jit"),
    ("sgdnet", "torch-channels-last"),
    ("sgdnet", "keras-tensorflow"),
  ]
  study.record_path(tmp_path, "sgdnet", "jax-jit").write_text("[]")
  skipped = {(m, r): why for m, r, why in study.plan(["sgdnet"], rows, tmp_path) if why}
  assert skipped == {("sgdnet", "jax-jit"): "recorded before (sgdnet__jax-jit.json)"}
  assert not [why for _, _, why in study.plan(["sgdnet"], rows, tmp_path, force=True) if why]
  argv = study.command("python", "sgdnet", "keras-tensorflow", tmp_path / "x.json", {"steps": 3, "batch": None})
  assert argv[1:4] == ["-m", "dclf.benchmark", argv[3]] and argv[3].endswith("configs/sgdnet.py")
  assert argv[4:] == ["--rows=keras-tensorflow", f"--json={tmp_path / 'x.json'}", "--steps=3"]


def test_each_row_runs_with_its_own_interpreter():
  pythons = study.interpreters(
    ["/envs/jax/bin/python", "torch_xla=/envs/xla/bin/python", "keras-torch=/envs/kt/python"]
  )
  assert study.interpreter(pythons, "jax-jit") == "/envs/jax/bin/python"  # the default
  assert study.interpreter(pythons, "torch-xla") == "/envs/xla/bin/python"  # its framework's
  assert study.interpreter(pythons, "keras-torch") == "/envs/kt/python"  # its own
  assert study.interpreter(pythons, "keras-jax") == "/envs/jax/bin/python"
  assert study.interpreter({}, "torch") == sys.executable
  with pytest.raises(UsageError, match="'tensorflow' is neither a row nor a framework"):
    study.interpreters(["tensorflow=/envs/tf/bin/python"])


STUDY_ARGS = ("--models", "softmax", "--modes", "eval", "--batch-size", "2", "--platform", "cpu", "--devices", "2")


def test_study_runs_rows_then_resumes_without_rerunning(tmp_path):
  args = [*STUDY_ARGS, "--rows", "jax-jit", "--steps", "1", "--repeats", "2"]
  first = run_module("dclf.bench.study", tmp_path / "study", *args, "--warmup", "0")
  assert first.returncode == 0, first.stdout + first.stderr
  assert "[1/1] softmax jax-jit: started" in first.stdout and "[1/1] softmax jax-jit: done in" in first.stdout
  assert "jax-jit softmax eval fp32 on 2 cpu device(s)" in first.stdout  # the row's own progress lines
  assert "| jax-jit | fp32 | eval |" in first.stdout and "### softmax: 2x cpu (cpu), global batch 2" in first.stdout
  (record,) = json.loads((tmp_path / "study" / "softmax__jax-jit.json").read_text())
  assert (record["devices"], record["batch_size"], record["batch_size_per_device"]) == (2, 2, 1)
  assert record["repeats"] == 2 and len(record["images_per_sec_runs"]) == 2  # two processes, each compiling
  assert record["compile_cache_hit_runs"] == [False, False]  # every run starts from empty caches
  recorded = (tmp_path / "study" / "softmax__jax-jit.json").read_text()
  names = {p.name for p in (tmp_path / "study").iterdir()}
  assert names == {"softmax__jax-jit.json", "logs", "study.md", "study.png", ".study.lock"}  # no runs' leftovers
  again = run_module("dclf.bench.study", tmp_path / "study", *args, "--warmup", "0")
  assert again.returncode == 0 and "skipped, recorded before (softmax__jax-jit.json)" in again.stdout
  assert (tmp_path / "study" / "softmax__jax-jit.json").read_text() == recorded


def test_study_loops_over_the_registry_a_process_and_interpreter_per_row(tmp_path):
  """Rows of two frameworks (JAX and Keras on its JAX backend), each run by its own process with the
  interpreter named for its framework, on one platform, device count and global batch."""
  args = [*STUDY_ARGS[:-1], "1", "--rows", "jax-pmap,keras-jax", "--quick", "--python", f"keras={sys.executable}"]
  dry = run_module("dclf.bench.study", tmp_path / "study", *args, "--python", "/envs/jax/bin/python", "--dry-run")
  assert dry.returncode == 0, dry.stderr
  assert "[1/2] softmax jax-pmap: /envs/jax/bin/python -m dclf.benchmark " in dry.stdout
  assert f"[2/2] softmax keras-jax: {sys.executable} -m dclf.benchmark " in dry.stdout
  assert "--rows=keras-jax" in dry.stdout and "--platform=cpu --devices=1 --config.batch_size=2" in dry.stdout
  assert not (tmp_path / "study").exists()  # a dry run writes nothing
  result = run_module("dclf.bench.study", tmp_path / "study", *args)
  assert result.returncode == 0, result.stdout + result.stderr
  pids = {line.split("pid ")[1] for line in result.stdout.splitlines() if "run 1/1: pid " in line}
  assert len(pids) == 2  # a process per row
  recorded = records.load([tmp_path / "study"])
  assert sorted((r["row"], r["framework"], r["devices"], r["batch_size"]) for r in recorded) == [
    ("jax-pmap", "jax", 1, 2),
    ("keras-jax", "keras", 1, 2),
  ]
  assert recorded[1]["host"]["environment"]["KERAS_BACKEND"] == "jax"
  assert result.stdout.count("### softmax: 1x cpu (cpu), global batch 2 (2 per device)") == 1  # one table, both rows


def test_study_bad_arguments_are_one_line(tmp_path):
  code, _, err = run_main(study.main, tmp_path, "--rows", "jax-jit,keras-cntk")
  assert_one_line_error(code, err)
  assert "--rows takes a comma-separated subset of jax-jit," in err and "got 'jax-jit,keras-cntk'" in err
  code, _, err = run_main(study.main, tmp_path, "--models", "resnet18")
  assert_one_line_error(code, err)
  code, _, err = run_main(study.main, tmp_path, "--platform", "gpu", "--rows", "jax-jit")
  assert_one_line_error(code, err)
  assert "no gpu devices found in this host's device files; pass --devices N" in err
  code, _, err = run_main(study.main, tmp_path, "--repeats", "0")
  assert_one_line_error(code, err)


def test_a_row_on_another_platform_than_asked_fails_with_the_reason(tmp_path):
  """The device check end to end: JAX finds only CPUs where a GPU was asked for; the row fails
  with its one-line reason, nothing is recorded, the study exits 1."""
  args = ["--rows", "jax-jit", "--models", "softmax", "--modes", "eval", "--platform", "gpu", "--devices", "1"]
  result = run_module("dclf.bench.study", tmp_path / "study", *args, "--quick")
  assert result.returncode == 1, result.stdout + result.stderr
  reason = "error: gpu asked for, but this framework runs on cpu (cpu); no row is timed on another platform than asked"
  assert "[1/1] softmax jax-jit: FAILED after" in result.stdout and reason in result.stdout
  assert f"- softmax jax-jit: exit 2: {reason}" in (tmp_path / "study" / "study.md").read_text()
  assert not list((tmp_path / "study").glob("*.json"))


def _wait_for(predicate, what: str, timeout: float = 300.0):
  deadline = time.monotonic() + timeout
  while not predicate():
    assert time.monotonic() < deadline, f"no {what} after {timeout:.0f} s"
    time.sleep(0.05)


def _group_gone(pgid: int) -> bool:
  try:
    os.killpg(pgid, 0)
  except ProcessLookupError:
    return True
  return False


def test_sigterm_stops_the_running_row_and_one_study_holds_its_folder(tmp_path):
  """SIGTERM to the study ends the row it runs (its process group), records nothing of it, exits
  128 + 15; while it runs, a second study into the same folder refuses with one line."""
  out = tmp_path / "study"
  args = [*STUDY_ARGS, "--rows", "jax-jit", "--steps", "100000", "--warmup", "0", "--repeats", "1"]
  log = tmp_path / "study.out"
  with log.open("w") as stdout:
    first = start_module("dclf.bench.study", out, *args, stdout=stdout, stderr=subprocess.STDOUT)
  try:
    row_log = out / "logs" / "softmax__jax-jit.log"
    _wait_for(lambda: row_log.exists() and "jax-jit softmax eval" in row_log.read_text(), "row timing its steps")
    pid = int(log.read_text().split("run 1/1: pid ")[1].split()[0])
    second = run_module("dclf.bench.study", out, *args)
    assert_one_line_error(second.returncode, second.stderr)
    assert f"{out} is in use by another study (pid {first.pid})" in second.stderr
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 128 + signal.SIGTERM
  finally:
    if first.poll() is None:  # the test failed: the study stops its row on its way out
      first.send_signal(signal.SIGTERM)
      first.wait(timeout=60)
  _wait_for(lambda: _group_gone(pid), "end of the row's process group", timeout=30)
  assert (
    "error: stopped by SIGTERM: softmax jax-jit was running and is ended, nothing of it recorded" in log.read_text()
  )
  assert {p.name for p in out.iterdir()} == {"logs", ".study.lock"}  # no record, no runs' temporary folder


# Profiles on demand.


def test_profile_steps_traces_training_steps_into_the_workdir(tmp_path):
  from dclf import train  # pylint: disable=g-import-not-at-top

  config = tiny_config(num_train_steps=6, log_every_steps=3, checkpoint_every_steps=6, profile_steps=2)
  train.train_and_evaluate(config, tmp_path)
  (run,) = (tmp_path / "profile" / "plugins" / "profile").iterdir()  # one trace
  assert {p.name.split(".", 1)[1] for p in run.iterdir()} >= {"xplane.pb", "trace.json.gz"}
  events = json.loads(gzip.decompress((run / "perfetto_trace.json.gz").read_bytes()))["traceEvents"]
  steps = sorted(int(e["args"]["step_num"]) for e in events if e.get("name") == "train" and "args" in e)
  assert steps == [3, 4]  # after the first two steps of the run (compilation, the loader filling)


def test_negative_profile_steps_is_refused():
  with pytest.raises(UsageError, match="config.profile_steps must be >= 0"):
    state.validate(tiny_config(profile_steps=-1))


def test_benchmark_profile_traces_each_jax_configuration(tmp_path):
  suite.benchmark(_tiny(), rows=("jax-jit",), platform="cpu", devices=2, num_steps=1, warmup=0, profile_dir=tmp_path)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["softmax-eval-jit-fp32", "softmax-train-jit-fp32"]
  assert all(list(p.rglob("*.xplane.pb")) for p in tmp_path.iterdir())
