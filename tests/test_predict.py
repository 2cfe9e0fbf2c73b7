"""`python -m dclf.predict` on files and folders (a corrupt file among them), its formats and
top-k, windows at the photo's own scale (batched, bounded), and the `Predictor` API."""

import json
import os
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from dclf import photos, predict, windows

from _runs import assert_one_line_error, run_main, run_module

CLASSES = ["reference", "blur", "noise"]


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
  """Three photos (nested, several formats), a text file named .jpg and a note that is no image."""
  folder = tmp_path_factory.mktemp("photos")
  rng = np.random.default_rng(0)
  (folder / "nested" / "deeper").mkdir(parents=True)
  Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(folder / "a.png")
  Image.fromarray(rng.integers(0, 256, (90, 50), dtype=np.uint8)).save(folder / "nested" / "b.jpg")
  Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / "nested" / "deeper" / "c.bmp")
  (folder / "broken.jpg").write_text("not a JPEG")
  (folder / "notes.txt").write_text("not an image: skipped in folders")
  return folder


GOOD = ["a.png", "nested/b.jpg", "nested/deeper/c.bmp"]


def test_a_corrupt_file_is_one_error_line_and_the_others_are_classified(capsys, sample_run, photo_folder):
  # Two images per step (one per device): broken.jpg falls into the first step, beside a.png.
  args = ["--workdir", str(sample_run), "--view", "crop", "--device-batch", "1", "--top-k", "2", str(photo_folder)]
  assert predict.main(args) == 1
  out, err = capsys.readouterr()
  assert err == f"error: {photo_folder / 'broken.jpg'}: unreadable: cannot identify image file\n"
  results = [json.loads(line) for line in out.splitlines()]
  assert [r["path"] for r in results] == [str(photo_folder / name) for name in GOOD]
  for r in results:
    probabilities = r["probabilities"]
    assert list(probabilities) == CLASSES and sum(probabilities.values()) == pytest.approx(1, abs=1e-5)
    assert r["label"] == max(probabilities, key=probabilities.get)
    assert [name for name, _ in r["top_k"]] == sorted(probabilities, key=probabilities.get, reverse=True)[:2]
    assert [p for _, p in r["top_k"]] == [probabilities[name] for name, _ in r["top_k"]]

  # The API gives the same numbers, batched differently.
  predictor = predict.Predictor(sample_run, device_batch=2)
  images = np.stack([predict.load_image(photo_folder / name, predictor.image_size) for name in GOOD])
  np.testing.assert_allclose(
    predictor.predict(images), [list(r["probabilities"].values()) for r in results], rtol=1e-5, atol=1e-6
  )
  assert predictor.predict(images[:0]).shape == (0, 3)
  with pytest.raises(ValueError, match=r"expected uint8 images shaped \(n, 224, 224, 3\)"):
    predictor.predict(images[0])
  assert predictor.prepare(np.zeros((300, 500, 3), np.uint8)).shape == (224, 224, 3)

  table = predict.format_table(results).splitlines()
  assert table[0].split() == ["path", "label", *CLASSES] and len(table) == 4
  assert table[1].split() == [
    results[0]["path"],
    results[0]["label"],
    *(f"{p:.4f}" for p in results[0]["probabilities"].values()),
  ]


def test_table_with_top_k(capsys, sample_run, photo_folder):
  paths = [str(photo_folder / name) for name in GOOD[:2]]
  assert (
    predict.main(["--workdir", str(sample_run), "--format", "table", "--top-k", "2", "--device-batch", "1", *paths])
    == 0
  )
  lines = capsys.readouterr().out.splitlines()
  assert lines[0].split() == ["path", "label", "top1", "top2"] and len(lines) == 3
  path, label, top1, p1, top2, p2 = lines[1].split()
  assert path == paths[0] and top1 == label and float(p1) >= float(p2) and top2 in CLASSES


@pytest.mark.parametrize(
  "args,message",
  [
    (["--workdir", "{absent}", "{photo}"], "{absent}: {absent}/config.json not found"),
    (["--workdir", "{run}", "{empty}"], "no image found in {empty}"),
    (["--workdir", "{run}", "--top-k", "-1", "{photo}"], "--top-k must be >= 0"),
  ],
)
def test_usage_errors_are_one_line_exit_2(tmp_path, capsys, sample_run, photo_folder, args, message):
  names = {"absent": tmp_path / "absent", "photo": photo_folder / "a.png", "run": sample_run, "empty": tmp_path}
  assert predict.main([arg.format(**names) for arg in args]) == 2
  err = capsys.readouterr().err
  assert err.startswith("error: " + message.format(**names)) and err.count("\n") == 1, err


def test_a_fifo_is_one_error_line_and_the_photos_beside_it_are_classified(tmp_path, sample_run, photo_folder):
  fifo = tmp_path / "pipe.png"
  os.mkfifo(fifo)  # reading it would wait forever for a writer
  photos = [photo_folder / "a.png", fifo, photo_folder / "nested" / "b.jpg"]
  result = run_module("dclf.predict", "--workdir", sample_run, *photos, timeout=120)
  assert result.returncode == 1 and result.stderr == f"error: {fifo}: not a regular file\n"
  assert [json.loads(line)["path"] for line in result.stdout.splitlines()] == [str(photos[0]), str(photos[2])]


def _peak_bytes(load) -> tuple[np.ndarray, int]:
  """`load()` and the most memory NumPy and Python held meanwhile."""
  tracemalloc.start()
  try:
    return load(), tracemalloc.get_traced_memory()[1]
  finally:
    tracemalloc.stop()


@pytest.mark.parametrize("shape", [(1, 6000), (6000, 1), (3, 100000)])
def test_a_long_strip_takes_memory_bounded_by_the_input_size(tmp_path, shape):
  path = tmp_path / "strip.png"  # a few kB; resized whole to a 32-pixel shorter side it would take 18 to 100 MB
  Image.fromarray(np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)).save(path)
  image, peak = _peak_bytes(lambda: predict.load_image(path, 32))
  assert image.shape == (32, 32, 3) and peak < 5_000_000


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(tmp_path):
  path = tmp_path / "large.jpg"
  Image.new("RGB", (8000, 6000), (120, 130, 140)).save(path, quality=90)  # 144 MB decoded whole
  image, peak = _peak_bytes(lambda: predict.load_image(path, 224))
  assert peak < 20_000_000
  np.testing.assert_allclose(image.reshape(-1, 3).mean(0), (120, 130, 140), atol=2)


def test_a_photo_of_too_many_pixels_is_refused(tmp_path):
  path = tmp_path / "huge.png"
  Image.new("RGB", (8000, 6000)).save(path)  # 48 megapixels of PNG: no reduced decoding
  with pytest.raises(predict.UnreadableImage, match="8000x6000 pixels, more than the 40,000,000 a photo may have"):
    predict.load_image(path, 224)


class _Recording:
  """The predictor's real batch predictor, recording the shape of each batch it is given."""

  def __init__(self, batch_predictor):
    self.inner, self.shapes = batch_predictor, []
    self.num_devices = batch_predictor.num_devices

  def __call__(self, images):
    self.shapes.append(images.shape)
    return self.inner(images)


class _CountedWindows(photos.Windows):
  """Windows that count the photo files read."""

  reads: list = []

  def load(self, path, size):
    self.reads.append(path)
    return super().load(path, size)


def _write_photos(folder, shapes) -> list:
  rng = np.random.default_rng(1)
  paths = []
  for i, shape in enumerate(shapes):
    paths.append(folder / f"photo{i:02d}.png")
    Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).save(paths[-1])
  return paths


def test_windowed_prediction_batches_the_windows_of_consecutive_photos(tmp_path, sample_run):
  """Photos of 6, 1 and 6 (3 x 4 capped to 2 x 3) windows, in batches of exactly 4 windows; each photo's
  window probabilities are those of its windows predicted alone, combined as the rule says."""
  paths = _write_photos(tmp_path, [(300, 500), (224, 224), (600, 700)])
  predictor = predict.Predictor(sample_run, device_batch=2)
  recording = predictor.batch_predictor = _Recording(predictor.batch_predictor)
  view = photos.Windows(combine="max", max_windows=8)  # 3 x 3 is still 9
  results = list(predictor.predict_files(paths, pytest.fail, view))
  assert [path for path, _ in results] == [str(p) for p in paths]
  assert [len(r.boxes) for _, r in results] == [6, 1, 6]
  assert recording.shapes == [(4, 224, 224, 3)] * 4  # 13 windows: 4 batches, the last padded
  for path, result in results:
    alone = view.load(path, 224)
    np.testing.assert_array_equal(result.boxes, alone.boxes)
    np.testing.assert_allclose(result.window_probabilities, predictor.predict(alone.windows), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
      result.probabilities, windows.combine("max", result.window_probabilities, predictor.objective, 0), atol=1e-6
    )
  rgb = np.asarray(Image.open(paths[0]))
  np.testing.assert_allclose(predictor.predict_photo(rgb, view).probabilities, results[0][1].probabilities, atol=1e-5)


def test_photos_are_read_a_bounded_number_ahead_of_the_answers(tmp_path, sample_run):
  """20 photos of one window each, batches of 4: reading stays at most READ_AHEAD photos, plus the
  batch being filled, ahead of the answers given, instead of reading every photo first."""
  from dclf import inference  # pylint: disable=g-import-not-at-top

  paths = _write_photos(tmp_path, [(224, 224)] * 20)
  predictor = predict.Predictor(sample_run, device_batch=2)
  _CountedWindows.reads = []
  ahead = []
  for given, _ in enumerate(predictor.predict_files(paths, pytest.fail, _CountedWindows()), 1):
    ahead.append(len(_CountedWindows.reads) - given)
  assert len(ahead) == 20 and len(_CountedWindows.reads) == 20
  assert max(ahead) <= inference.READ_AHEAD + predictor.batch_size


def test_windows_on_the_command_line(capsys, sample_run, photo_folder):
  paths = [str(photo_folder / name) for name in GOOD]
  args = ["--workdir", str(sample_run), "--device-batch", "1", "--combine", "vote", *paths]
  assert predict.main(args) == 0
  results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
  # a.png 80x60 is seen as 299x224 (2 windows), b.jpg 50x90 as 224x403 (2), c.bmp 40x40 as 224x224 (1);
  # a box holds every pixel its window was made from (b.jpg's rows 0 to 50.02, then 39.97 to 90).
  assert [[w["box"] for w in r["windows"]] for r in results] == [
    [[0, 0, 60, 60], [20, 0, 80, 60]],
    [[0, 0, 50, 51], [0, 39, 50, 90]],
    [[0, 0, 40, 40]],
  ]
  for r in results:
    by_window = np.array([list(w["probabilities"].values()) for w in r["windows"]])
    votes = np.eye(3)[by_window.argmax(1)].sum(0)
    expected = (votes + by_window.mean(0)) / (len(by_window) + 1)
    np.testing.assert_allclose(list(r["probabilities"].values()), expected, atol=1e-5)
    assert r["label"] == CLASSES[int(np.argmax(expected))]
  assert predict.main([*args[:-3], "--format", "table", *paths]) == 0
  table = capsys.readouterr().out.splitlines()
  assert table[0].split() == ["path", "label", *CLASSES] and len(table) == 4  # one line per photo


@pytest.mark.parametrize(
  "flags,message",
  [
    (["--view", "crop", "--scale", "0.5"], "--scale applies to --view windows only"),
    (["--view", "crop", "--combine", "max", "--max-windows", "4"], "--combine, --max-windows apply to --view windows"),
    (["--scale", "big"], "--scale takes a factor in (0, 1] or a shorter side such as 512px, got 'big'"),
    (["--scale", "2"], "the windows' scale must be in (0, 1], got 2.0"),
    (["--max-windows", "0"], "max windows must be >= 1, got 0"),
    (["--combine", "median"], "argument --combine: invalid choice: 'median'"),
  ],
)
def test_bad_window_flags_are_one_line_exit_2(photo_folder, flags, message):
  """Checked before the workdir is read (it does not exist here)."""
  code, _, err = run_main(predict.main, "--workdir", "/nonexistent", *flags, photo_folder / "a.png")
  assert assert_one_line_error(code, err).startswith("error: " + message), err
