"""`python -m dclf.predict` on files and folders (a corrupt file among them), its formats and
top-k, and the `Predictor` API."""

import json
import os
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from dclf import predict

from _runs import run_module

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
  assert predict.main(["--workdir", str(sample_run), "--device-batch", "1", "--top-k", "2", str(photo_folder)]) == 1
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
