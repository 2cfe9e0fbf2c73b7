"""dclf.distort against the real JH Labs jar outputs, plus statistics, edge cases and the CLI."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dclf import distort
from dclf.distort import perlin
from dclf.distort.__main__ import main as distort_main
from dclf.distort.convolve import gaussian_kernel

from _distort_helpers import jpeg, load, psnr, random_image, residual_stats
from _runs import assert_one_line_error, run_main, run_module

REPO = Path(__file__).resolve().parents[1]
POSTER_DEFAULTS = {
  "gaussian_blur": {"radius": 10.0},
  "motion_blur": {"distance": 50.0, "angle": 90.0, "rotation": 0.0, "zoom": 0.0, "wrap_edges": False},
  "color_noise": {"amount": 25, "density": 1.0, "distribution": "gaussian"},
  "mono_noise": {"amount": 25, "density": 1.0, "distribution": "gaussian"},
  "marble": {"x_scale": 20.0, "y_scale": 20.0, "amount": 100.0, "turbulence": 5.0},
  "ripple": {"x_amplitude": 10.0, "y_amplitude": 10.0, "x_wavelength": 10.0, "y_wavelength": 10.0, "wave_type": "sine"},
  "twirl": {"angle": 3.0, "centre_x": 0.5, "centre_y": 0.5, "radius": 250.0},
}


# --- the real jar ------------------------------------------------------------------------


@pytest.mark.parametrize(
  "name, reference",
  [("gaussian_blur", "g10"), ("motion_blur", "motion"), ("twirl", "twirl"), ("ripple", "ripple")],
)
def test_bit_exact_with_jar_lossless_output(name, reference):
  """Filters.jar v2.0.235 on in.png, saved losslessly after the white-canvas compositing."""
  out = distort.apply(name, load("in"))
  expected = load(reference)
  assert out.shape == expected.shape
  assert psnr(out, expected) >= 50
  np.testing.assert_array_equal(out, expected)  # float32 port: no off-by-one left, even for gaussian


# measured: raw 45.00 / 43.44 / 34.91 / 33.47 dB; after JPEG q75 45.66 / 45.58 / 35.71 / 35.59 dB
@pytest.mark.parametrize(
  "name, sample, raw_db, jpeg_db",
  [
    ("gaussian_blur", 1, 44.7, 45.3),
    ("motion_blur", 2, 43.1, 45.2),
    ("twirl", 7, 34.6, 35.4),
    ("ripple", 6, 33.1, 35.2),
  ],
)
def test_psnr_against_generator_jpeg_samples(name, sample, raw_db, jpeg_db):
  out = distort.apply(name, load(0))
  expected = load(sample)
  assert out.shape == expected.shape
  assert psnr(out, expected) >= raw_db
  assert psnr(jpeg(out), expected) >= jpeg_db


# --- noise ---------------------------------------------------------------------------------


def test_color_noise_statistics():
  clean = load(0)
  out = distort.color_noise(clean)
  std, corr = residual_stats(out, clean)
  assert 23 < std < 25.5 and abs(corr) < 0.02  # trunc(25 z): std 24.6 before clipping
  std, corr = residual_stats(jpeg(out), clean)
  sample_std, sample_corr = residual_stats(load(3), clean)  # 18.3, 0.91
  assert abs(std - sample_std) < 1.5 and abs(corr - sample_corr) < 0.03  # 4:2:0 removes chroma


def test_mono_noise_statistics():
  clean = load(0)
  out = distort.mono_noise(clean)
  std, corr = residual_stats(out, clean)
  assert 23 < std < 25.5 and corr > 0.99
  std, corr = residual_stats(jpeg(out), clean)
  sample_std, sample_corr = residual_stats(load(4), clean)  # 25.7, 1.00
  assert abs(std - sample_std) < 1.5 and abs(corr - sample_corr) < 0.01


@pytest.mark.parametrize("fn", [distort.color_noise, distort.mono_noise])
def test_noise_density(fn):
  grey = np.full((100, 120, 3), 128, np.uint8)  # no clipping: a noised pixel nearly always changes
  changed = lambda out: np.any(out != grey, axis=-1).mean()
  assert 0.46 < changed(fn(grey, density=0.5)) < 0.54
  assert changed(fn(grey, density=1.0)) > 0.96
  assert changed(fn(grey, density=1.5)) > 0.96
  np.testing.assert_array_equal(fn(grey, density=0.0), grey)
  np.testing.assert_array_equal(fn(grey, amount=0), grey)


def test_noise_seeds():
  img = load(0)
  np.testing.assert_array_equal(distort.color_noise(img, seed=3), distort.color_noise(img, seed=3))
  assert not np.array_equal(distort.color_noise(img, seed=3), distort.color_noise(img, seed=4))


def test_uniform_noise_is_bounded():
  grey = np.full((64, 64, 3), 128, np.uint8)
  r = distort.color_noise(grey, distribution="uniform").astype(int) - 128
  assert r.min() >= -24 and r.max() <= 24  # trunc(25 (2u - 1)), |.| < 25
  assert 13 < r.std() < 15  # 25 / sqrt(3) = 14.4, a little less after truncation


# --- marble --------------------------------------------------------------------------------


def test_marble_moves_every_pixel_by_y_scale():
  """On a coordinate-ramp image R = x, G = y, the output reads back each source point."""
  h, w = 120, 160
  ys, xs = np.mgrid[0:h, 0:w]
  ramp = np.stack([xs, ys, np.zeros_like(xs)], axis=-1).astype(np.uint8)
  out = distort.marble(ramp, y_scale=20.0, seed=1).astype(int)
  inner = (slice(21, h - 21), slice(21, w - 21))  # sources stay inside: no clamping
  dx = out[..., 0][inner] - xs[inner]
  dy = out[..., 1][inner] - ys[inner]
  length = np.hypot(dx, dy)
  assert np.all(np.abs(length - 20) <= 1.5)  # trunc of the bilinear ramp: < 1 px per axis
  assert dx.min() < -15 and dx.max() > 15 and dy.min() < -15 and dy.max() > 15  # many directions


def _mean_abs_gradient(img):
  g = np.asarray(Image.fromarray(img).convert("L"), np.float64)
  return np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean()


def test_marble_texture_matches_sample():
  """Sample .5: 46.7; the jar run on sample .0: 44.3; the NumPy port 45.3 +- 0.9 over seeds (docs/distortions.md)."""
  clean = load(0)
  grads = [_mean_abs_gradient(jpeg(distort.marble(clean, seed=s))) for s in range(4)]
  assert all(42 < g < 50 for g in grads)
  assert abs(np.mean(grads) - _mean_abs_gradient(load(5))) < 3
  assert not np.array_equal(distort.marble(clean), clean)


def test_marble_seed_and_unused_amount():
  img = random_image(40, 50)
  np.testing.assert_array_equal(distort.marble(img, seed=2), distort.marble(img, seed=2, amount=1.0))
  assert not np.array_equal(distort.marble(img, seed=2), distort.marble(img, seed=3))


def test_perlin_tables():
  tab = perlin.tables(5)
  assert sorted(tab.p[:256]) == list(range(256))
  assert len(tab.p) == len(tab.g1) == len(tab.g2) == 514
  np.testing.assert_array_equal(tab.p[256:], np.concatenate([tab.p[:256], tab.p[:2]]))
  assert np.allclose(np.hypot(tab.g2[:, 0], tab.g2[:, 1]), 1, atol=1e-6)
  n = perlin.noise2(*np.mgrid[0:200, 0:200].astype(np.float32) / np.float32(20), tab)
  assert np.abs(n).max() < 1.1 and 0.2 < n.std() < 0.4  # about +-1.05, std 0.31 at scale 20


# --- parameters and edge cases ------------------------------------------------------------


def test_defaults_are_the_posters():
  assert list(distort.FILTERS) == list(POSTER_DEFAULTS)
  for name, expected in POSTER_DEFAULTS.items():
    assert distort.defaults(name) == expected


@pytest.mark.parametrize("name", list(POSTER_DEFAULTS))
def test_non_square_shapes_purity_and_constant_images(name):
  img = random_image(37, 53)
  before = img.copy()
  out = distort.apply(name, img, seed=1)
  np.testing.assert_array_equal(img, before)  # input untouched
  np.testing.assert_array_equal(out, distort.apply(name, img, seed=1))  # deterministic
  assert out.dtype == np.uint8
  assert out.shape == ((57, 73, 3) if name == "ripple" else (37, 53, 3))
  if name in ("gaussian_blur", "motion_blur", "twirl", "marble"):
    flat = np.full((30, 41, 3), 77, np.uint8)
    np.testing.assert_array_equal(distort.apply(name, flat), flat)


def test_gaussian_kernel_and_small_radii():
  k = gaussian_kernel(2.5)  # ceil -> 7 taps; |k| = 3 > 2.5 gets weight 0
  assert len(k) == 7 and k[0] == 0 and k[-1] == 0 and abs(k.sum() - 1) < 1e-6
  img = random_image(30, 40)
  for r in (0.0, 1e-30, 0.5, 0.999):  # no tap beyond the centre
    np.testing.assert_array_equal(distort.gaussian_blur(img, radius=r), img)
  assert not np.array_equal(distort.gaussian_blur(img, radius=1.0), img)


def test_motion_blur_edges():
  img = random_image(40, 60)
  np.testing.assert_array_equal(distort.motion_blur(img, distance=0.5), img)  # no sample
  plain = distort.motion_blur(img, distance=10, angle=0.0)
  wrapped = distort.motion_blur(img, distance=10, angle=0.0, wrap_edges=True)
  np.testing.assert_array_equal(plain[:, :45], wrapped[:, :45])  # far from the right edge
  assert not np.array_equal(plain[:, -5:], wrapped[:, -5:])
  out = distort.motion_blur(img, distance=5, rotation=0.2, zoom=0.1)
  assert out.shape == img.shape and not np.array_equal(out, img)


def test_ripple_grows_with_white_borders():
  black = np.zeros((50, 60, 3), np.uint8)
  out = distort.ripple(black, x_amplitude=10.7, y_amplitude=0.0)
  assert out.shape == (50, 80, 3)  # 2 int(10.7) columns more, rows unchanged
  down = np.sin(np.arange(50) / 10.0) < 0  # rows whose wave pushes the sources left
  assert np.all(out[down, 0] == 255) and np.all(out[~down, -1] == 255)  # transparent -> white
  assert np.all(out[:, 30:50] == 0)
  for wave in ("sawtooth", "triangle", "noise"):
    assert distort.ripple(black, wave_type=wave).shape == (70, 80, 3)
  img = random_image(50, 60)
  noisy = distort.ripple(img, wave_type="noise", seed=1)
  assert not np.array_equal(noisy, distort.ripple(img, wave_type="noise", seed=2))  # Perlin table per seed


def test_twirl_radius_zero_means_half_the_short_side():
  img = random_image(40, 60)
  out = distort.twirl(img, radius=0.0)  # radius = min(30, 20) = 20 around (30, 20)
  ys, xs = np.mgrid[0:40, 0:60]
  outside = (xs - 30) ** 2 + (ys - 20) ** 2 > 20**2
  np.testing.assert_array_equal(out[outside], img[outside])
  assert not np.array_equal(out[~outside], img[~outside])


@pytest.mark.parametrize(
  "image",
  [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8), np.zeros((10, 10, 3)), np.zeros((0, 5, 3), np.uint8)],
  ids=["grey", "rgba", "float", "empty"],
)
@pytest.mark.parametrize("name", list(POSTER_DEFAULTS))
def test_bad_images_rejected(name, image):
  with pytest.raises(ValueError, match="image"):
    distort.apply(name, image)


@pytest.mark.parametrize(
  "name, params, message",
  [
    ("gaussian_blur", {"radius": -1}, "radius"),
    ("color_noise", {"amount": 2.5}, "amount"),
    ("mono_noise", {"distribution": "poisson"}, "distribution"),
    ("ripple", {"wave_type": "square"}, "wave_type"),
    ("ripple", {"x_wavelength": 0}, "x_wavelength"),
    ("motion_blur", {"wrap_edges": "yes"}, "wrap_edges"),
    ("twirl", {"angle": float("nan")}, "angle"),
  ],
)
def test_bad_values_rejected(name, params, message):
  with pytest.raises(ValueError, match=message):
    distort.apply(name, random_image(8, 8), **params)


def test_apply_unknown_name_and_param():
  img = random_image(8, 8)
  with pytest.raises(ValueError, match="'blur'.*gaussian_blur, motion_blur"):
    distort.apply("blur", img)
  with pytest.raises(ValueError, match="sigma.*valid: radius"):
    distort.apply("gaussian_blur", img, sigma=2)
  with pytest.raises(ValueError, match="unknown filter"):
    distort.defaults("nope")


# --- CLI -----------------------------------------------------------------------------------


def _cli(*args, cwd):
  return run_module("dclf.distort", *args, cwd=cwd, timeout=120)


def test_cli_writes_png_and_jpeg(tmp_path):
  src = tmp_path / "in.png"
  Image.fromarray(load(0)).save(src)
  res = _cli("twirl", src, tmp_path / "out.png", "--param", "angle=2", "--param", "radius=100", cwd=tmp_path)
  assert res.returncode == 0, res.stderr
  expected = distort.twirl(load(0), angle=2.0, radius=100.0)
  np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png")), expected)

  res = _cli("color_noise", src, tmp_path / "out.jpg", "--param", "amount=10", "--seed", "3", cwd=tmp_path)
  assert res.returncode == 0, res.stderr
  with Image.open(tmp_path / "out.jpg") as im:
    assert im.format == "JPEG" and im.size == (224, 224)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "out.jpg", "out.png"]


def test_cli_converts_rgba_and_grey(tmp_path):
  rgba = np.zeros((20, 30, 4), np.uint8)  # fully transparent -> white
  Image.fromarray(rgba).save(tmp_path / "a.png")
  Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "g.png")
  assert _cli("gaussian_blur", "a.png", "a_out.png", cwd=tmp_path).returncode == 0
  assert np.all(np.asarray(Image.open(tmp_path / "a_out.png")) == 255)
  assert _cli("ripple", "g.png", "g_out.png", cwd=tmp_path).returncode == 0
  assert Image.open(tmp_path / "g_out.png").size == (50, 40)


@pytest.mark.parametrize(
  "args, message",
  [
    (("blur", "in.png", "out.png"), "unknown filter 'blur'"),
    (("twirl", "in.png", "out.png", "--param", "sigma=1"), "unknown parameter 'sigma'"),
    (("twirl", "in.png", "out.png", "--param", "angle=abc"), "bad value 'abc'"),
    (("twirl", "in.png", "out.png", "--param", "radius=-3"), "radius must be >= 0"),
    (("twirl", "missing.png", "out.png"), "cannot read image 'missing.png'"),
    (("twirl", "notes.txt", "out.png"), "cannot read image 'notes.txt'"),
    (("twirl", "in.png", "out.xyz"), "cannot write 'out.xyz'"),
    (("twirl", "in.png", "no/such/dir/out.png"), "cannot write"),
    (("twirl", "in.png"), "required"),
  ],
)
def test_cli_errors(tmp_path, args, message):
  Image.fromarray(random_image(16, 16)).save(tmp_path / "in.png")
  (tmp_path / "notes.txt").write_text("not an image")
  res = _cli(*args, cwd=tmp_path)
  assert res.returncode == 2
  lines = res.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.stderr
  assert "Traceback" not in res.stderr
  assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "notes.txt"]  # nothing written


@pytest.mark.parametrize(
  "name,params,message",
  [
    ("gaussian_blur", {"radius": 1000.5}, "radius must be <= 1000"),
    ("motion_blur", {"distance": 2001.0}, "takes int\\(distance \\+ \\|rotation\\| R \\+ zoom R\\) = 2001 samples"),
    ("motion_blur", {"distance": 10.0, "zoom": -10.0}, "= -46 samples .* must be in 0..2000"),
    ("ripple", {"x_amplitude": 101.0}, "x_amplitude must be <= 100"),
    ("ripple", {"y_amplitude": 1e6}, "y_amplitude must be <= 100"),
    ("color_noise", {"amount": 256}, "amount must be <= 255"),
    ("mono_noise", {"amount": -1}, "amount must be >= 0"),
    ("color_noise", {"density": -0.5}, "density must be >= 0"),
  ],
)
def test_parameters_outside_their_documented_range_are_refused(name, params, message):
  with pytest.raises(ValueError, match=message):
    distort.apply(name, np.zeros((8, 8, 3), np.uint8), **params)


def test_the_cli_refuses_a_huge_radius_in_one_line(tmp_path):
  Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "in.png")
  code, _, err = run_main(
    distort_main, "gaussian_blur", tmp_path / "in.png", tmp_path / "out.png", "--param", "radius=1001"
  )
  assert "radius must be <= 1000" in assert_one_line_error(code, err) and not (tmp_path / "out.png").exists()
