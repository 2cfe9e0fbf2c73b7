"""Shared helpers for the distortion tests: reference images, PSNR, JPEG round trip."""

import io
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).parent / "data" / "jhlabs"


def load(name: str) -> np.ndarray:
  """A reference image from tests/data/jhlabs: 'in', 'g10', ... or a sample index 0..7."""
  path = DATA / (f"00000007.{name}.organism.jpg" if isinstance(name, int) else f"{name}.png")
  return np.asarray(Image.open(path).convert("RGB"))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
  mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
  return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def jpeg(a: np.ndarray, quality: int = 75) -> np.ndarray:
  """Encode and decode as the generator saved its images (quality 75, 4:2:0)."""
  buf = io.BytesIO()
  Image.fromarray(a).save(buf, format="JPEG", quality=quality)
  return np.asarray(Image.open(buf).convert("RGB"))


def residual_stats(noisy: np.ndarray, clean: np.ndarray):
  """Mean per-channel std of the residual and the R-G correlation of the residual."""
  r = noisy.astype(np.float64) - clean.astype(np.float64)
  std = r.reshape(-1, 3).std(axis=0).mean()
  corr = np.corrcoef(r[..., 0].ravel(), r[..., 1].ravel())[0, 1]
  return std, corr


def random_image(h: int, w: int, seed: int = 0) -> np.ndarray:
  return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
