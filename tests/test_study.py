"""The framework-speed study: the Keras reference (on Keras' JAX backend, a test dependency), the
study's tables and plot, the suite command, and the profile on demand (the torch.compile rows are
tested in tests/test_torch_rows.py). No timing assertions: these run on shared CPUs."""

import gzip
import json
import os
import struct

import keras
import numpy as np
import pytest

from dclf import models, state
from dclf.bench import flops, plots, records, study, suite
from dclf.bench.timing import Timings
from dclf.errors import UsageError

from _runs import assert_one_line_error, run_main, run_module, tiny_config

POSTER_MODELS = ["softmax", "vgg16_scratch", "vgg16_transfer", "sgdnet"]


def _tiny(model="softmax", image_size=32):
  return tiny_config(model, batch_size=2, image_size=image_size)


def _model_flops(config):
  return flops.model_flops(state.build_model(config, 3), config.image_size)


# The Keras reference.


@pytest.mark.parametrize("name", POSTER_MODELS)
def test_keras_reference_has_the_flax_parameter_counts(name):
  keras_reference = suite.load_keras_reference("jax")
  flax_model = models.create_model(name, num_classes=3)
  expected = models.count_params(models.init_shapes(flax_model), flax_model.trainable_keys)
  with keras.StatelessScope(initialize_variables=False):  # shapes only, as init_shapes
    assert keras_reference.count_params(keras_reference.build_model(name)) == expected


def test_keras_record_is_well_formed():
  keras_reference = suite.load_keras_reference("jax")
  results = suite.benchmark(
    _tiny(),
    frameworks=("jax", "keras"),
    parallelisms=("jit",),
    num_steps=2,
    warmup=0,
    keras_reference=keras_reference,
    keras_backend="jax",
  )
  jax_train, keras_train, jax_eval, keras_eval = results
  for r, mode in ((keras_train, "train"), (keras_eval, "eval")):
    assert set(r) == set(jax_train) and r["framework"] == "keras" and r["mode"] == mode
    assert r["options"] == {"keras_backend": "jax", "jit_compile": True} and records.row_label(r) == "keras/jax"
    assert set(r["versions"]) == {"keras", "jax"} and r["devices"] == 1 and r["parallelism"] == "single"
    assert r["flops_source"] == "analytic" and r["flops_per_step"] == r["model_flops_per_step"] > 0
    assert r["images_per_sec"] > 0 and r["steps"] == 2 and r["compile_s"] >= 0 and r["peak_memory_bytes"] is None
  assert keras_train["host"]["environment"]["XLA_FLAGS"] == os.environ["XLA_FLAGS"]  # conftest's 2 CPU devices
  assert keras_train["model_flops_per_step"] == jax_train["model_flops_per_step"]
  assert keras_eval["model_flops_per_step"] == jax_eval["model_flops_per_step"]
  json.dumps(results)


def test_keras_steps_carry_the_state_from_step_to_step():
  """Keras' JAX train function donates its state: each call must get the last one's, or every
  step would restart from the initial weights (the same loss each time)."""
  keras_reference = suite.load_keras_reference("jax")
  config = _tiny()
  model = keras_reference.compiled_model(config, jit_compile=True)
  step = keras_reference._fit_loop_step(model, keras_reference._device_batches(config, 3, False), "train")
  losses = [float(step()["loss"]) for _ in range(3)]
  assert np.all(np.isfinite(losses)) and len(set(losses)) == 3, losses


def test_keras_optimizer_keeps_the_old_decay():
  """RMSprop(decay=2e-5) of Keras 2.3: lr / (1 + 2e-5 step) at the step count before the update."""
  keras_reference = suite.load_keras_reference("jax")
  optimizer = keras_reference.optimizer(_tiny("sgdnet"))
  optimizer.build([keras.Variable(np.zeros(3, np.float32))])
  optimizer.iterations.assign(3)
  assert isinstance(optimizer, keras.optimizers.RMSprop) and optimizer.rho == 0.9 and optimizer.epsilon == 1e-7
  assert float(optimizer.learning_rate) == pytest.approx(1e-3 / (1 + 2e-5 * 3), rel=1e-6)


def test_framework_keras_needs_a_backend_and_its_package(tmp_path):
  result = run_module("dclf.benchmark", "--config", "configs/softmax.py", "--framework", "keras")
  assert_one_line_error(result.returncode, result.stderr)
  assert "--framework keras needs --keras-backend (tensorflow, tensorflow-xla, jax, torch" in result.stderr
  (tmp_path / "tensorflow").mkdir()
  (tmp_path / "tensorflow" / "__init__.py").write_text("raise ImportError('no tensorflow here')\n")
  path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
  args = ("--config", "configs/softmax.py", "--framework", "keras", "--keras-backend", "tensorflow-xla")
  result = run_module("dclf.benchmark", *args, env={"PYTHONPATH": path})
  assert_one_line_error(result.returncode, result.stderr)
  assert "Keras on tensorflow is not installed (no tensorflow here; pip install -e '.[keras]')" in result.stderr


# The study's tables and plot.


def _record(framework, model, mode, images_per_sec, options=None, parallelism="single", measured_at=None):
  """A record as `records.record` writes it, for a step of 8 images taking 8 / images_per_sec s."""
  step_s = 8 / images_per_sec
  config = tiny_config(model, batch_size=8, image_size=224)
  r = records.record(
    framework=framework,
    versions={framework: "1.0"},
    device_kind="cpu",
    devices=1,
    config=config,
    mode=mode,
    parallelism=parallelism,
    precision="fp32",
    data="synthetic",
    timings=Timings(step_s * 10, (step_s, step_s), 2 * step_s, 4 * step_s),
    compile_s=step_s * 9,
    flops_per_step=None,
    flops_source="analytic",
    model_flops_per_step=1e9,
    peak_memory_bytes=None,
    options=options,
  )
  return {**r, "measured_at": measured_at} if measured_at else r


def _study_records():
  return [
    _record("jax", "sgdnet", "train", 4.0, parallelism="jit"),
    _record("torch", "sgdnet", "train", 2.0, {"channels_last": False, "compile": True}),
    _record("keras", "sgdnet", "train", 8.0, {"keras_backend": "tensorflow", "jit_compile": False}),
    _record("jax", "sgdnet", "eval", 5.0, parallelism="jit"),
    _record("keras", "sgdnet", "eval", 2.5, {"keras_backend": "tensorflow-xla", "jit_compile": True}),
    _record("jax", "softmax", "train", 1000.0, parallelism="jit"),
    _record("torch", "softmax", "train", 30.0, {"channels_last": False, "compile": False}),
  ]


def test_study_tables_one_per_model_with_ratios_to_the_fastest():
  tables = records.study_tables(_study_records())
  assert tables.count("### ") == 2 and tables.index("### softmax:") < tables.index("### sgdnet:")
  assert "### sgdnet: 1x cpu, batch 8 per device, 224x224, synthetic data" in tables
  sgdnet = tables[tables.index("### sgdnet:") :].splitlines()
  rows = [line for line in sgdnet if line.startswith("| ") and "framework" not in line]
  assert [row.split(" | ")[0] for row in rows] == [
    "| keras/tensorflow",
    "| jax jit",
    "| torch +compile",
    "| jax jit",
    "| keras/tensorflow-xla",
  ]  # train before eval, the fastest first
  assert [row.rsplit(" | ", 1)[1] for row in rows] == ["fastest |", "0.50x |", "0.25x |", "fastest |", "0.50x |"]
  assert "| 8 | 1,000 | 1,000 | 2,000 | 9.0 | n/a | n/a |" in rows[0]  # img/s, median/p90/CPU ms, compile s


def test_a_newer_record_replaces_its_row():
  old = _record("jax", "sgdnet", "train", 4.0, parallelism="jit", measured_at="2026-01-01T00:00:00+00:00")
  new = _record("jax", "sgdnet", "train", 6.0, parallelism="jit", measured_at="2026-02-01T00:00:00+00:00")
  other = _record("jax", "sgdnet", "train", 1.0, parallelism="pmap")
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

  colors = {"jax jit": "blue", "torch": "orange"}
  for values, scale in (([1000.0, 30.0], "log"), ([4.0, 2.0], "linear")):
    ax = Figure().subplots()
    plots._draw_panel(ax, plots.Panel("m", ["train"], {"jax jit": [values[0]], "torch": [values[1]]}), colors, "img/s")
    assert ax.get_yscale() == scale


def test_records_cli_prints_the_tables_and_draws_the_plot(tmp_path):
  folder = tmp_path / "records"
  folder.mkdir()
  (folder / "a.json").write_text(json.dumps(_study_records()))
  code, out, _ = run_main(records.main, folder, "--plot", tmp_path / "study.png")
  assert code == 0 and out.count("### ") == 2 and "| keras/tensorflow-xla | fp32 | eval |" in out
  assert _png_size(tmp_path / "study.png")[0] > 0
  code, out, _ = run_main(records.main, folder, "--wide")
  assert code == 0 and "| keras/tensorflow | sgdnet | train | single | fp32 |" in out
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
  assert argv[4:] == [
    "--framework",
    "keras",
    "--keras-backend",
    "tensorflow",
    f"--json={tmp_path / 'x.json'}",
    "--steps=3",
  ]


def test_study_runs_rows_then_resumes_without_rerunning(tmp_path):
  args = ["--models", "softmax", "--rows", "jax-jit", "--modes", "eval", "--batch-size", "2", "--steps", "1"]
  first = run_module("dclf.bench.study", tmp_path / "study", *args, "--warmup", "0")
  assert first.returncode == 0, first.stdout + first.stderr
  assert "[1/1] softmax jax-jit: started" in first.stdout and "[1/1] softmax jax-jit: done in" in first.stdout
  assert "jax softmax eval jit fp32" in first.stdout  # the row's own progress lines
  assert "| jax jit | fp32 | eval |" in first.stdout
  recorded = (tmp_path / "study" / "softmax__jax-jit.json").read_text()
  assert {p.name for p in (tmp_path / "study").iterdir()} == {"softmax__jax-jit.json", "logs", "study.md", "study.png"}
  again = run_module("dclf.bench.study", tmp_path / "study", *args, "--warmup", "0")
  assert again.returncode == 0 and "skipped, recorded before (softmax__jax-jit.json)" in again.stdout
  assert (tmp_path / "study" / "softmax__jax-jit.json").read_text() == recorded


def test_study_bad_arguments_are_one_line(tmp_path):
  code, _, err = run_main(study.main, tmp_path, "--rows", "jax-jit,keras-cntk")
  assert_one_line_error(code, err)
  assert "--rows takes a comma-separated subset of jax-jit," in err and "got 'jax-jit,keras-cntk'" in err
  code, _, err = run_main(study.main, tmp_path, "--models", "resnet18")
  assert_one_line_error(code, err)


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
  suite.benchmark(_tiny(), parallelisms=("jit",), num_steps=1, warmup=0, profile_dir=tmp_path)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["softmax-eval-jit-fp32", "softmax-train-jit-fp32"]
  assert all(list(p.rglob("*.xplane.pb")) for p in tmp_path.iterdir())
