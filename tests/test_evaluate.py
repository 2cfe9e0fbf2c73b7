"""`dclf.evaluate` and the trainer's test report: every example counted once, the report's
files, LIVE's classes mapped by name, a user's labelled photos (a folder per class, a labels file
with groups), one-line errors."""

import json

import numpy as np
import pytest
from PIL import Image

from dclf import evaluate, objectives, photos

from _runs import assert_one_line_error, run_main
from eval_fixtures import LIVE, SAMPLE, SAMPLE_SPLITS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLASSES = ["reference", "blur", "noise"]


def _report_files(folder) -> dict:
  """The parsed report.json, after checking its companions."""
  report = json.loads((folder / "report.json").read_text())
  for plot in ("confusion_matrix.png", "accuracy_by_severity.png"):
    assert (folder / plot).read_bytes().startswith(PNG_SIGNATURE), plot
  assert f"**Accuracy: {report['accuracy']:.4f}**" in (folder / "report.md").read_text()
  return report


def test_training_ends_with_a_test_report(sample_run):
  report = _report_files(sample_run / "eval" / "test")
  assert json.loads((sample_run / "summary.json").read_text())["test_accuracy"] == report["accuracy"]
  assert (report["model"], report["dataset"], report["split"], report["step"]) == ("small_cnn", SAMPLE, "test", 4)
  confusion = np.array(report["confusion_matrix"])
  assert report["num_examples"] == confusion.sum() == SAMPLE_SPLITS["test"]
  assert confusion.sum(1).tolist() == [2, 2, 2]
  assert report["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
  assert [row["support"] for row in report["per_class"].values()] == [2, 2, 2]
  assert {name: set(features) for name, features in report["by_severity"].items()} == {
    "blur": {"radius"},
    "noise": {"amount", "density"},
  }
  radius_bins = report["by_severity"]["blur"]["radius"]
  assert [b["low"] for b in radius_bins] == list(range(1, 11)) and sum(b["count"] for b in radius_bins) == 2


def test_live_counts_every_image_once_and_maps_classes_by_name(live_report, sample_run, live_data_dir):
  report = _report_files(live_report)
  assert (report["dataset"], report["split"], report["num_examples"]) == (LIVE, "test", 319)
  assert np.array(report["confusion_matrix"]).sum(1).tolist() == [29, 145, 145]
  for name in ("blur", "noise"):
    bins = report["by_severity"][name]["sigma"]  # LIVE's one severity, in quantile bins
    assert len(bins) == 5 and [b["count"] for b in bins] == [29] * 5
  assert set(report["by_severity"]) == {"blur", "noise"}

  # The same confusion matrix as predicting every LIVE image directly.
  import dclf.data  # pylint: disable=g-import-not-at-top
  from dclf.predict import Predictor  # pylint: disable=g-import-not-at-top

  source, _ = dclf.data.get_source(LIVE, "test", data_dir=str(live_data_dir))
  examples = [source[i] for i in range(len(source))]
  probabilities = Predictor(sample_run).predict(np.stack([ex["image"] for ex in examples]))
  direct = objectives.confusion_matrix([ex["label"] for ex in examples], probabilities.argmax(-1), 3)
  np.testing.assert_array_equal(direct, report["confusion_matrix"])


def _fails(*args) -> str:
  """Runs `dclf.evaluate` in-process; returns its one-line error after checking exit code 2."""
  code, _, err = run_main(evaluate.main, *args)
  return assert_one_line_error(code, err)


def test_errors_are_one_line(tmp_path, sample_run, synthetic_softmax_run, live_data_dir):
  assert "is not a dclf workdir" in _fails("--workdir", tmp_path, "--split", "test")
  assert "unknown split 'nope'" in _fails("--workdir", sample_run, "--split", "nope")
  assert "one of the arguments --split --images is required" in _fails("--workdir", sample_run)
  assert "positive multiple of the 2 devices" in _fails("--workdir", sample_run, "--split", "test", "--batch_size", "3")
  assert "live_iqa/blur_noise_pad_resize is not built" in _fails(
    "--workdir", sample_run, "--split", "live_iqa/blur_noise_pad_resize", "--data_dir", live_data_dir
  )
  assert "softmax takes 32x32 images (config.image_size) and no other size; the dataset's are 224x224" in _fails(
    "--workdir", synthetic_softmax_run, "--split", LIVE, "--data_dir", live_data_dir
  )
  assert not (synthetic_softmax_run / "eval" / "live_iqa_blur_noise_test").exists()


def _labelled_folder(root, broken: bool = False):
  """reference/ blur/ noise/ with two photos each (one nested), a note and a hidden folder that are
  no part of it; `broken`: a text file named blur/broken.png too."""
  rng = np.random.default_rng(2)
  for index, name in enumerate(("reference", "blur", "noise")):
    (root / name / "more").mkdir(parents=True)
    for i, where in enumerate((root / name, root / name / "more")):
      pixels = rng.integers(0, 256, (230 + 10 * i, 260 + 20 * index, 3), dtype=np.uint8)
      Image.fromarray(pixels).save(where / f"{name}{i}.png")
  (root / "notes.txt").write_text("not a class")
  (root / ".thumbnails").mkdir()
  if broken:
    (root / "blur" / "broken.png").write_text("not a PNG")
  return root


def _direct(run, paths, view) -> np.ndarray:
  """The labels `Predictor` gives the photos, one by one."""
  from dclf.predict import Predictor  # pylint: disable=g-import-not-at-top

  predictor = Predictor(run)
  return np.array(
    [predictor.predict_photo(np.asarray(Image.open(p).convert("RGB")), view).probabilities for p in paths]
  )


def test_a_folder_per_class_is_scored_and_an_unreadable_photo_is_one_line(tmp_path, sample_run):
  folder = _labelled_folder(tmp_path / "mine", broken=True)
  code, out, err = run_main(evaluate.main, "--workdir", sample_run, "--images", folder)
  errors = [line for line in err.splitlines() if line.startswith("error:")]  # the others: log lines
  assert code == 1 and errors == [f"error: {folder / 'blur' / 'broken.png'}: unreadable: cannot identify image file"]
  directory = sample_run / "eval" / "images_mine_windows_1.0_mean"  # the default view
  assert out.startswith(f"{folder}: accuracy ") and out.endswith(f" on 6 images; {directory}\n")
  report = json.loads((directory / "report.json").read_text())
  assert (report["num_examples"], report["split"], report["view"]["view"]) == (6, "images", "windows")
  assert report["unreadable"] == [f"{folder / 'blur' / 'broken.png'}: unreadable: cannot identify image file"]
  assert np.array(report["confusion_matrix"]).sum(1).tolist() == [2, 2, 2]
  paths = [folder / name / sub / f"{name}{i}.png" for name in CLASSES for i, sub in ((1, "more"), (0, ""))]
  predicted = _direct(sample_run, paths, photos.DEFAULT_VIEW).argmax(1)
  np.testing.assert_array_equal(
    report["confusion_matrix"], objectives.confusion_matrix(np.repeat([0, 1, 2], 2), predicted, 3)
  )
  assert "## Unreadable (1, not scored)" in (directory / "report.md").read_text()

  # The datasets' recipe: one centre crop per photo, in a report of its own.
  assert run_main(evaluate.main, "--workdir", sample_run, "--images", folder, "--view", "crop")[0] == 1
  crop = json.loads((sample_run / "eval" / "images_mine_crop" / "report.json").read_text())
  assert crop["view"] == {"view": "crop"}
  predicted = _direct(sample_run, paths, photos.Crop()).argmax(1)
  np.testing.assert_array_equal(
    crop["confusion_matrix"], objectives.confusion_matrix(np.repeat([0, 1, 2], 2), predicted, 3)
  )


def test_a_labels_file_scores_each_group(tmp_path, sample_run):
  folder = _labelled_folder(tmp_path / "photos")
  rows = [
    ["reference/reference0.png", "reference", "clean", "0"],
    ["reference/more/reference1.png", "reference", "clean", "0"],
    ["blur/blur0.png", "blur", "scipy", "2"],
    [str(folder / "blur/more/blur1.png"), "blur", "scipy", "4"],  # absolute
    ["noise/noise0.png", "noise", "gaussian", "2"],
    ["noise/more/noise1.png", "noise", "gaussian", "4"],
  ]
  (folder / "labels.csv").write_text("path,label,generator,severity\n" + "".join(",".join(r) + "\n" for r in rows))
  out = tmp_path / "report"
  code, _, err = run_main(
    evaluate.main,
    "--workdir",
    sample_run,
    "--images",
    folder / "labels.csv",
    "--combine",
    "max",
    "--out",
    out,
    "--groups",
    "generator,severity,generator+severity",
  )
  assert code == 0, err
  report = json.loads((out / "report.json").read_text())
  assert report["view"] == {"view": "windows", "scale": 1.0, "combine": "max", "max_windows": 64}
  view = photos.Windows(combine="max")
  probabilities = _direct(sample_run, [folder / row[0] for row in rows], view)
  labels = [CLASSES[i] for i in probabilities.argmax(1)]
  correct = [label == row[1] for label, row in zip(labels, rows)]
  assert report["accuracy"] == pytest.approx(np.mean(correct))
  assert set(report["by_group"]) == {"generator", "severity", "generator+severity"}
  assert set(report["by_group"]["generator"]) == {"clean", "scipy", "gaussian"}
  scipy = report["by_group"]["generator"]["scipy"]
  assert scipy["count"] == 2 and scipy["accuracy"] == pytest.approx(np.mean(correct[2:4]))
  assert sum(scipy["predicted"].values()) == 2 and set(scipy["predicted"]) <= set(CLASSES)
  assert report["by_group"]["generator+severity"]["gaussian+4"] == {
    "count": 1,
    "accuracy": float(correct[5]),
    "predicted": {labels[5]: 1},
  }
  assert "## Accuracy by generator+severity" in (out / "report.md").read_text()

  # The same images as a JSON labels file (a number for a severity): the same report.
  entries = [{"path": r[0], "label": r[1], "generator": r[2], "severity": int(r[3])} for r in rows]
  (folder / "labels.json").write_text(json.dumps(entries))
  flags = ["--combine", "max", "--groups", "generator,severity,generator+severity"]
  assert run_main(evaluate.main, "--workdir", sample_run, "--images", folder / "labels.json", *flags)[0] == 0
  again = json.loads((sample_run / "eval" / "images_labels_windows_1.0_max" / "report.json").read_text())
  assert {k: v for k, v in again.items() if k != "dataset"} == {k: v for k, v in report.items() if k != "dataset"}


def test_bad_labelled_images_are_one_line(tmp_path, sample_run):
  folder = _labelled_folder(tmp_path / "photos")
  empty = tmp_path / "empty"
  (empty / "blur").mkdir(parents=True)
  odd = tmp_path / "odd"
  for name in ("reference", "blurry", "Noise"):
    (odd / name).mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(odd / name / "x.png")
  labels = tmp_path / "labels.csv"
  images = ("--workdir", sample_run, "--images")
  assert f"{tmp_path / 'absent'} does not exist" in _fails(*images, tmp_path / "absent")
  assert f"no labelled image in {empty}: no class subfolder holds an image file" in _fails(*images, empty)
  assert f"unknown class(es) Noise, blurry in {odd}; the model's classes: reference, blur, noise" in _fails(
    *images, odd
  )
  labels.write_text("file,class\nblur/blur0.png,blur\n")
  assert "the header row must name the columns path and label (missing: path, label)" in _fails(*images, labels)
  labels.write_text("path,label\nblur/blur0.png,\n")
  assert 'entry 1 has no path or no label: {"path": "blur/blur0.png", "label": ""}' in _fails(*images, labels)
  labels.write_text(f"path,label\n{folder}/blur/blur0.png,sharp\n")
  assert "unknown class(es) sharp" in _fails(*images, labels)
  labels.write_text(f"path,label\n{folder}/missing.png,blur\n")
  code, _, err = run_main(evaluate.main, *images, labels)
  assert code == 2 and err.splitlines() == [
    f"error: {folder}/missing.png: No such file or directory",
    f"error: none of the 1 images of {labels} could be read",
  ]
  assert "a labels file is .csv or .json" in _fails(*images, folder / "blur" / "blur0.png")
  assert "--out needs --images" in _fails("--workdir", sample_run, "--split", "test", "--out", tmp_path)
  assert "--view, --scale need --images" in _fails(
    "--workdir", sample_run, "--split", "test", "--view", "windows", "--scale", "0.5"
  )
  assert "--data_dir needs --split" in _fails(*images, folder, "--data_dir", tmp_path)
  assert "argument --split: not allowed with argument --images" in _fails(*images, folder, "--split", "test")
  assert "--combine applies to --view windows only" in _fails(*images, folder, "--view", "crop", "--combine", "max")
  assert "--groups needs --images" in _fails("--workdir", sample_run, "--split", "test", "--groups", "a")
  labels.write_text(f"path,label,generator\n{folder}/blur/blur0.png,blur,scipy\n")
  assert "--groups 'generator+sigma': no column sigma; the labels' group columns: generator" in _fails(
    *images, labels, "--groups", "generator+sigma"
  )
  assert "--groups 'scale': no column scale; the labels have no group column" in _fails(
    *images, folder, "--groups", "scale"
  )
