"""Windows of a photo at its own scale (`dclf.windows`, `dclf.photos.Windows`): where they lie, how
their probabilities combine, and the memory reading them takes."""

import tracemalloc

import numpy as np
import pytest
from PIL import Image

from dclf import objectives, photos, windows
from dclf.errors import UsageError

SINGLE, MULTI = objectives.OBJECTIVES["single_label"], objectives.OBJECTIVES["multilabel"]
REFERENCE = 0  # blur_noise's classes: reference, blur, noise


def _covered(boxes, height, width) -> np.ndarray:
  seen = np.zeros((height, width), bool)
  for left, top, right, bottom in boxes:
    seen[top:bottom, left:right] = True
  return seen


@pytest.mark.parametrize(
  "height,width,rows,columns", [(224, 224, 1, 1), (512, 600, 3, 3), (224, 1000, 1, 5), (449, 224, 3, 1)]
)
def test_windows_cover_the_photo_with_a_stride_of_at_most_one_window(height, width, rows, columns):
  boxes = windows.layout(height, width, 224, max_windows=64)
  assert len(boxes) == rows * columns and (boxes[:, 2:] - boxes[:, :2] == 224).all()
  assert _covered(boxes, height, width).all()
  lefts, tops = np.unique(boxes[:, 0]), np.unique(boxes[:, 1])
  assert (len(tops), len(lefts)) == (rows, columns)
  assert lefts[0] == tops[0] == 0 and lefts[-1] == width - 224 and tops[-1] == height - 224
  for starts in (lefts, tops):  # evenly spread: strides differ by rounding only, none above a window
    strides = np.diff(starts)
    assert (strides <= 224).all() and (not len(strides) or np.ptp(strides) <= 1)
  assert windows.layout(512, 600, 224, 64)[:4].tolist() == [
    [0, 0, 224, 224],
    [188, 0, 412, 224],
    [376, 0, 600, 224],
    [0, 144, 224, 368],
  ]


def test_capped_windows_still_span_the_photo_edge_to_edge():
  """A 12-megapixel photo needs 14 x 18 abutting windows; capped at 20, they spread with gaps."""
  boxes = windows.layout(3000, 4000, 224, max_windows=20)
  lefts, tops = np.unique(boxes[:, 0]), np.unique(boxes[:, 1])
  assert len(boxes) == len(lefts) * len(tops) <= 20 and (len(tops), len(lefts)) == (4, 5)
  assert (lefts[0], lefts[-1], tops[0], tops[-1]) == (0, 4000 - 224, 0, 3000 - 224)
  assert np.diff(lefts).min() > 224 and np.diff(tops).min() > 224  # gaps, evenly spread
  assert len(windows.layout(3000, 4000, 224, max_windows=1)) == 1
  with pytest.raises(ValueError, match="smaller than a 224x224 window"):
    windows.layout(100, 4000, 224, 8)


def test_mean_max_and_vote_on_crafted_windows():
  # Two windows look clean, one (a textured part of a blurred photo) looks blurred.
  p = np.array([[0.8, 0.1, 0.1], [0.8, 0.1, 0.1], [0.3, 0.6, 0.1]], np.float32)
  np.testing.assert_allclose(windows.combine("mean", p, SINGLE, REFERENCE), [0.6333, 0.2667, 0.1], atol=1e-4)
  # max: reference at its least confident window (0.3), each distortion at its most (0.6, 0.1).
  np.testing.assert_allclose(windows.combine("max", p, SINGLE, REFERENCE), [0.3, 0.6, 0.1], atol=1e-6)
  # vote: 2 votes for reference, 1 for blur, plus the mean as one more soft voter, over 4.
  np.testing.assert_allclose(
    windows.combine("vote", p, SINGLE, REFERENCE), [(2 + 0.6333) / 4, (1 + 0.2667) / 4, 0.1 / 4], atol=1e-4
  )
  assert [int(np.argmax(windows.combine(rule, p, SINGLE, REFERENCE))) for rule in ("mean", "max", "vote")] == [0, 1, 0]
  for rule in windows.COMBINE:  # a softmax's combination stays a distribution
    assert windows.combine(rule, p, SINGLE, REFERENCE).sum() == pytest.approx(1, abs=1e-6)


def test_a_tied_vote_goes_to_the_higher_mean_and_one_window_keeps_its_answer():
  tied = np.array([[0.9, 0.05, 0.05], [0.1, 0.2, 0.7]], np.float32)  # one vote each for reference and noise
  assert int(np.argmax(windows.combine("vote", tied, SINGLE, REFERENCE))) == 0  # mean 0.5 against 0.375
  one = np.array([[0.2, 0.5, 0.3]], np.float32)
  for rule in ("mean", "max"):
    np.testing.assert_allclose(windows.combine(rule, one, SINGLE, REFERENCE), one[0], atol=1e-6)
  assert int(np.argmax(windows.combine("vote", one, SINGLE, REFERENCE))) == 1


def test_max_without_a_reference_class_and_for_labels():
  p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], np.float32)
  np.testing.assert_allclose(windows.combine("max", p, SINGLE, None), np.array([0.7, 0.3, 0.6]) / 1.6, atol=1e-6)
  labels = np.array([[0.9, 0.1], [0.2, 0.6], [0.3, 0.2]], np.float32)  # blur, noise: sigmoids, not renormalised
  np.testing.assert_allclose(windows.combine("max", labels, MULTI, None), [0.9, 0.6], atol=1e-6)
  # vote per label: blur 1 yes of 3, noise 1 of 3, plus the mean: under 0.5, neither label.
  np.testing.assert_allclose(
    windows.combine("vote", labels, MULTI, None), [(1 + 1.4 / 3) / 4, (1 + 0.9 / 3) / 4], atol=1e-6
  )
  with pytest.raises(ValueError, match="unknown combine rule 'median'"):
    windows.combine("median", labels, MULTI, None)


def _photo(height, width, seed=0) -> np.ndarray:
  return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_windows_at_the_photos_own_scale_are_its_pixels():
  rgb = _photo(300, 500)
  inputs = photos.Windows().cut(rgb, 224)
  assert inputs.windows.shape == (6, 224, 224, 3) and inputs.boxes.shape == (6, 4)
  assert _covered(inputs.boxes, 300, 500).all()
  for window, (left, top, right, bottom) in zip(inputs.windows, inputs.boxes):
    np.testing.assert_array_equal(window, rgb[top:bottom, left:right])


def test_windows_at_another_scale_are_cut_from_the_resized_photo_and_boxed_in_its_own_pixels():
  rgb = np.asarray(Image.fromarray(_photo(75, 125)).resize((1000, 600), Image.Resampling.BILINEAR))  # smooth
  inputs = photos.Windows(scale=0.5).cut(rgb, 224)  # seen as 500x300: 2 rows, 3 columns
  assert inputs.windows.shape == (6, 224, 224, 3) and _covered(inputs.boxes, 600, 1000).all()
  assert inputs.boxes[:3].tolist() == [[0, 0, 448, 448], [276, 0, 724, 448], [552, 0, 1000, 448]]
  whole = np.asarray(Image.fromarray(rgb).resize((500, 300), Image.Resampling.BICUBIC)).astype(int)
  for window, (left, top, right, bottom) in zip(inputs.windows, inputs.boxes // 2):
    assert np.abs(window.astype(int) - whole[top:bottom, left:right]).mean() < 1.0  # PIL's windowed resize
  by_side = photos.Windows(shorter_side=448).cut(rgb, 224)  # 600 -> 448: seen as 747x448
  assert len(by_side.windows) == 2 * 4


def test_a_photo_smaller_than_a_window_is_enlarged_to_one_row_of_windows():
  inputs = photos.Windows().cut(_photo(100, 150), 224)  # seen as 336x224
  assert inputs.boxes.tolist() == [[0, 0, 100, 100], [50, 0, 150, 100]]


@pytest.mark.parametrize(
  "fields,message",
  [
    ({"scale": 0}, r"scale must be in \(0, 1\], got 0"),
    ({"scale": 2.0}, r"scale must be in \(0, 1\], got 2.0"),
    ({"shorter_side": -5}, "shorter side must be a positive number of pixels"),
    ({"combine": "median"}, "unknown combine rule 'median'; known: mean, max, vote"),
    ({"max_windows": 0}, "max windows must be >= 1"),
  ],
)
def test_bad_window_options_are_usage_errors(fields, message):
  with pytest.raises(UsageError, match=message):
    photos.Windows(**fields)


def _peak_bytes(load):
  """`load()` and the most memory NumPy and Python held meanwhile."""
  tracemalloc.start()
  try:
    return load(), tracemalloc.get_traced_memory()[1]
  finally:
    tracemalloc.stop()


def test_a_large_jpeg_is_decoded_at_the_reduced_scale_its_windows_need(tmp_path):
  path = tmp_path / "large.jpg"
  Image.new("RGB", (4000, 3000), (120, 130, 140)).save(path, quality=90)  # 36 MB decoded whole
  inputs, peak = _peak_bytes(lambda: photos.Windows(scale=0.25).load(path, 224))  # 1000x750: 2.25 MB at 1/4
  assert inputs.windows.shape == (4 * 5, 224, 224, 3) and _covered(inputs.boxes, 3000, 4000).all()
  assert peak < 3 * 2_250_000 + inputs.windows.nbytes
  np.testing.assert_allclose(inputs.windows.reshape(-1, 3).mean(0), (120, 130, 140), atol=2)


def test_a_long_strip_gives_capped_windows_in_bounded_memory(tmp_path):
  path = tmp_path / "strip.png"  # enlarged whole to a 224-pixel shorter side, it would be 1344000x224: 900 MB
  Image.fromarray(_photo(1, 6000)).save(path)
  inputs, peak = _peak_bytes(lambda: photos.Windows(max_windows=16).load(path, 224))
  assert inputs.windows.shape == (16, 224, 224, 3) and peak < 2 * inputs.windows.nbytes + 1_000_000
  assert inputs.boxes[0].tolist() == [0, 0, 1, 1] and inputs.boxes[-1].tolist() == [5999, 0, 6000, 1]


def test_a_photo_of_too_many_pixels_is_refused_in_windows_too(tmp_path):
  path = tmp_path / "huge.png"
  Image.new("RGB", (8000, 6000)).save(path)  # 48 megapixels: over the cap at its own scale
  with pytest.raises(photos.UnreadableImage, match="8000x6000 pixels, more than the 40,000,000"):
    photos.Windows().load(path, 224)
