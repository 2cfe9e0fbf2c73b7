import numpy as np
import pytest
from PIL import Image

from dclf.data import imaging

import _data_fixtures as fixtures


def test_decode_conversions_and_skips(tmp_path):
  fixtures.write_bad_photos(tmp_path)
  outcomes = {}
  for path in sorted(tmp_path.iterdir()):
    try:
      rgb, conversions = imaging.decode_photo(path.read_bytes())
      assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
      outcomes[path.name] = conversions
    except imaging.UnreadableSource as error:
      outcomes[path.name] = error.reason
  assert outcomes == {
    "cmyk.jpg": ("cmyk",),
    "grey.png": ("grayscale",),
    "grey16.png": ("16bit", "grayscale"),
    "palette.png": ("palette",),
    "rgb16.png": ("16bit",),
    "rgba.png": ("alpha",),
    "text.jpg": "unreadable",
    "truncated.jpg": "truncated",
  }


def test_alpha_is_composited_on_white():
  rgba = np.array([[[200, 100, 0, 0], [200, 100, 0, 255], [0, 0, 0, 128]]], np.uint8)
  out = imaging.composite_on_white(rgba)
  np.testing.assert_array_equal(out, [[[255, 255, 255], [200, 100, 0], [127, 127, 127]]])


def test_sixteen_bit_grey_keeps_the_high_byte_scale():
  wide = fixtures.encode(Image.fromarray(np.full((4, 4), 65535, np.uint16)), "PNG")
  rgb, _ = imaging.decode_photo(wide)
  assert (rgb == 255).all()


@pytest.mark.parametrize("shape", [(300, 500), (500, 300), (224, 224), (100, 150), (1000, 224)])
def test_centre_crop_is_224_and_centred(shape):
  rgb = fixtures.photo(0, *shape)
  out = imaging.resize_shorter_and_centre_crop(rgb)
  assert out.shape == (224, 224, 3) and out.dtype == np.uint8
  if shape == (224, 224):
    np.testing.assert_array_equal(out, rgb)
  if shape == (1000, 224):  # no resize: plain centre crop
    np.testing.assert_array_equal(out, rgb[388:612])


def test_pad_resize_pads_to_a_centred_square():
  rgb = np.full((100, 200, 3), 255, np.uint8)
  out = imaging.pad_to_square_and_resize(rgb)
  assert out.shape == (224, 224, 3)
  assert (out[:50] == 0).all() and (out[-50:] == 0).all()  # top/bottom padding
  assert (out[60:164] == 255).all()


def test_pad_resize_matches_bilinear_on_a_ramp():
  ramp = np.tile(np.arange(448, dtype=np.float64)[None, :, None] / 448 * 255, (448, 1, 3)).astype(np.uint8)
  out = imaging.pad_to_square_and_resize(ramp).astype(int)
  expected = np.rint((ramp[0, 0::2, 0].astype(float) + ramp[0, 1::2, 0]) / 2)  # 2x: mean of pairs
  np.testing.assert_allclose(out[100, :, 0], expected, atol=1)


def test_jpeg_roundtrip_and_png_are_lossy_and_lossless():
  rgb = fixtures.photo(1, 224, 224)
  assert imaging.jpeg_roundtrip(rgb, 75).shape == rgb.shape
  decoded, conversions = imaging.decode_photo(imaging.encode_png(rgb))
  np.testing.assert_array_equal(decoded, rgb)
  assert conversions == ()
