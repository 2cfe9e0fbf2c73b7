"""`python -m dclf.weights import` -> workdir -> `dclf.predict` and `dclf.main`, end to end; and the
import errors: one line, exit code 2, the workdir untouched."""

import json
import shutil

import h5py
import keras
import numpy as np
import pytest
from PIL import Image

from dclf import checkpoint, preprocess, weights
from dclf.predict import load_image
from dclf.weights.__main__ import main as weights_main

import keras_refs
from _runs import assert_one_line_error, run_main, run_module
from parity import compiled, zero_variables
from test_errors import keras_layers, write_layers

SIZE = 32


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
  """Photos of several sizes and modes (RGB, grey, RGBA, CMYK), as predict meets them."""
  folder = tmp_path_factory.mktemp("photos")
  rng = np.random.default_rng(0)
  pixels = lambda *shape: rng.integers(0, 256, shape, dtype=np.uint8)
  images = {
    "rgb.png": Image.fromarray(pixels(50, 40, 3)),
    "grey.jpg": Image.fromarray(pixels(30, 60)),
    "rgba.png": Image.fromarray(pixels(33, 33, 4)),
    "cmyk.jpg": Image.fromarray(pixels(40, 40, 3)).convert("CMYK"),
  }
  for name, image in images.items():
    image.save(folder / name)
  return [folder / name for name in images]


@pytest.fixture(scope="module")
def softmax_file(tmp_path_factory, photos):
  """The poster's softmax classifier (a full-model .h5, by Keras' own writer) and Keras'
  probabilities on `photos`."""
  model = keras_refs.softmax_classifier(SIZE)
  x = preprocess.preprocess(np.stack([load_image(p, SIZE) for p in photos]), "raw")
  _, probabilities = keras_refs.calibrated_outputs(model, x)
  path = tmp_path_factory.mktemp("keras") / "softmax.h5"
  keras_refs.save_legacy_h5(model, path, full_model=True)
  return path, probabilities


def test_import_predict_and_fine_tune(tmp_path, softmax_file, photos):
  path, keras_probabilities = softmax_file
  workdir = tmp_path / "softmax"
  done = run_module(
    "dclf.weights",
    "import",
    "softmax",
    path,
    "--workdir",
    workdir,
    f"--config.image_size={SIZE}",
    "--config.dataset=synthetic",
  )
  assert done.returncode == 0, done.stderr
  assert (
    done.stdout.strip()
    == f"{workdir}: softmax, 1 layer(s) from {path} (softmax classifier, Keras {keras.__version__} full-model .h5); "
    "preprocess raw: a classifier trained by the original code, which fed it raw 0..255 RGB"
  )
  config, imported = checkpoint.load_variables(workdir)
  assert (
    config.model == "softmax"
    and config.image_size == SIZE
    and list(config.class_names) == ["reference", "blur", "noise"]
  )
  # A workdir is a weight source too (`init_from` may name one).
  from_workdir = weights.convert(workdir, zero_variables(compiled("softmax")[0], SIZE))
  assert from_workdir.source == "dclf workdir of softmax" and from_workdir.loaded == ["head/predictions"]
  np.testing.assert_array_equal(
    from_workdir.variables["params"]["head"]["predictions"]["kernel"],
    imported["params"]["head"]["predictions"]["kernel"],
  )

  predicted = run_module("dclf.predict", "--workdir", workdir, "--view", "crop", *photos)  # Keras saw the crops
  assert predicted.returncode == 0, predicted.stderr
  lines = [json.loads(line) for line in predicted.stdout.splitlines()]
  assert [line["path"] for line in lines] == [str(p) for p in photos]
  probabilities = np.array([list(line["probabilities"].values()) for line in lines])
  assert list(lines[0]["probabilities"]) == ["reference", "blur", "noise"]
  np.testing.assert_allclose(probabilities, keras_probabilities, rtol=1e-5, atol=1e-6)
  assert [line["label"] for line in lines] == [["reference", "blur", "noise"][i] for i in keras_probabilities.argmax(1)]

  trained = run_module(
    "dclf.main",
    "--config",
    "configs/softmax.py",
    "--workdir",
    workdir,
    f"--config.image_size={SIZE}",
    "--config.dataset=synthetic",
    "--config.batch_size=8",
    "--config.num_train_steps=2",
    "--config.eval_every_steps=-1",
    "--config.data_workers=0",
  )
  assert trained.returncode == 0, trained.stderr
  assert "resuming from checkpoint at step 0" in trained.stdout + trained.stderr
  _, tuned = checkpoint.load_variables(workdir)
  assert not np.allclose(tuned["params"]["head"]["predictions"]["kernel"], 0)


def fails(*args):
  """Runs the CLI in-process; returns its stderr after asserting exit code 2 and one line."""
  code, _, err = run_main(weights_main, *args)
  return assert_one_line_error(code, err)


def test_import_errors_leave_the_workdir_as_it_was(tmp_path, softmax_file):
  not_hdf5 = tmp_path / "weights.h5"
  not_hdf5.write_text("not weights")
  assert "weights.h5: not an HDF5 file" in fails("import", "softmax", not_hdf5, "--workdir", tmp_path / "new")
  assert not (tmp_path / "new").exists()

  existing = tmp_path / "existing"
  existing.mkdir()
  (existing / "notes.txt").write_text("mine")
  write_layers(tmp_path / "vgg.h5", keras_layers())
  err = fails("import", "softmax", tmp_path / "vgg.h5", "--workdir", existing, f"--config.image_size={SIZE}")
  assert "does not fit softmax: mis-shaped: head/predictions [dense_8] (4096,3) (3) vs (3072,3) (3)" in err
  assert [p.name for p in existing.iterdir()] == ["notes.txt"]

  err = fails("import", "softmax", softmax_file[0], "--workdir", tmp_path / "new", "--config.no_such_field=1")
  assert "bad --config override" in err and "no_such_field" in err
  assert "unrecognised arguments: --epochs=3" in fails(
    "import", "softmax", softmax_file[0], "--workdir", tmp_path / "new", "--epochs=3"
  )
  assert not (tmp_path / "new").exists()
  assert "--workdir is empty" in fails("import", "softmax", softmax_file[0], "--workdir", "")


def test_import_is_refused_while_a_run_holds_the_workdir_and_holds_it_while_it_writes(
  tmp_path, softmax_file, monkeypatch
):
  from dclf import runlock  # pylint: disable=g-import-not-at-top
  from dclf.weights import importing  # pylint: disable=g-import-not-at-top

  workdir = tmp_path / "w"
  workdir.mkdir()
  run = runlock.Lock(workdir / "run.lock")  # a run starting there (this live process)
  run.acquire()
  try:
    err = fails("import", "softmax", softmax_file[0], "--workdir", workdir, f"--config.image_size={SIZE}")
    assert f"{workdir} is in use by another run" in err and [p.name for p in workdir.iterdir()] == ["run.lock"]
  finally:
    run.release()
  holders = []
  write = importing._write_workdir
  monkeypatch.setattr(
    importing,
    "_write_workdir",
    lambda w, *a: holders.append(json.loads((w / "run.lock").read_text())["command"]) or write(w, *a),
  )
  code, _, err = run_main(
    weights_main, "import", "softmax", softmax_file[0], "--workdir", workdir, f"--config.image_size={SIZE}"
  )
  assert code == 0, err
  assert holders == ["dclf.weights import"] and not (workdir / "run.lock").exists()


def test_an_explicit_preprocess_wins_over_the_files(tmp_path, softmax_file):
  code, out, err = run_main(
    weights_main,
    "import",
    "softmax",
    softmax_file[0],
    "--workdir",
    tmp_path / "w",
    f"--config.image_size={SIZE}",
    "--config.preprocess=caffe",
  )
  assert code == 0, err
  assert out.strip().endswith("; preprocess caffe (given)")
  assert checkpoint.load_config(tmp_path / "w").preprocess == "caffe"


def test_import_refuses_a_workdir_with_a_run(tmp_path, softmax_file):
  (tmp_path / "run").mkdir()
  (tmp_path / "run" / "config.json").write_text("{}")
  assert "already holds a run" in fails("import", "softmax", softmax_file[0], "--workdir", tmp_path / "run")
  assert (tmp_path / "run" / "config.json").read_text() == "{}"


def test_predict_errors_are_one_line(tmp_path, capsys, photos):
  from dclf import predict  # pylint: disable=g-import-not-at-top

  assert predict.main(["--workdir", str(tmp_path / "absent"), str(photos[0])]) == 2
  assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'absent'}:")


def test_table_format():
  from dclf import predict  # pylint: disable=g-import-not-at-top

  results = [
    {"path": "a.jpg", "label": "blur", "probabilities": {"reference": 0.1, "blur": 0.8, "noise": 0.1}},
    {"path": "photos/b.png", "label": "noise", "probabilities": {"reference": 0.0, "blur": 0.25, "noise": 0.75}},
  ]
  assert predict.format_table(results).splitlines() == [
    "path          label      reference       blur      noise",
    "a.jpg         blur          0.1000     0.8000     0.1000",
    "photos/b.png  noise         0.0000     0.2500     0.7500",
  ]


def test_the_trainer_initialises_from_a_keras_file(softmax_file, tiny_config):
  """`config.init_from` = a Keras file: the trainer calls dclf.weights.load on initialisation."""
  from dclf import state, train  # pylint: disable=g-import-not-at-top
  from dclf.weights import h5file  # pylint: disable=g-import-not-at-top

  tiny_config.init_from = str(softmax_file[0])
  pretrained = train.load_pretrained(tiny_config, state.initial_state(tiny_config))
  ((kernel, bias),) = h5file.read(softmax_file[0]).layers.values()
  np.testing.assert_array_equal(pretrained.params["head"]["predictions"]["kernel"], kernel)
  np.testing.assert_array_equal(pretrained.params["head"]["predictions"]["bias"], bias)


def test_import_refuses_nan_weights(tmp_path, softmax_file):
  nan_file = tmp_path / "nan.h5"
  shutil.copy(softmax_file[0], nan_file)
  with h5py.File(nan_file, "r+") as f:
    kernels = []
    f.visititems(lambda name, item: kernels.append(item) if isinstance(item, h5py.Dataset) and item.ndim == 2 else None)
    for kernel in kernels:
      kernel[...] = np.nan
  err = fails("import", "softmax", nan_file, "--workdir", tmp_path / "w", f"--config.image_size={SIZE}")
  assert f"{nan_file} holds NaN or infinite weights in " in err and not (tmp_path / "w").exists()


def test_every_model_offered_has_a_config(tmp_path):
  not_hdf5 = tmp_path / "weights.h5"
  not_hdf5.write_text("not weights")
  for model in ("small_cnn", "softmax"):
    err = fails("import", model, not_hdf5, "--workdir", tmp_path / "w", f"--config.image_size={SIZE}")
    assert "weights.h5: not an HDF5 file" in err
