"""Peak dense FLOP/s per device, by device kind and precision: the denominator of MFU.

Keys are matched against the device kind string JAX (`device.device_kind`) and PyTorch
(`torch.cuda.get_device_name()`) report, e.g. "NVIDIA H100 80GB HBM3" or "TPU v5 lite". Values
are vendors' dense (no structured sparsity: half the datasheets' starred figures) peaks.

`fp32` on NVIDIA Ampere and newer is the TF32 tensor-core peak: XLA runs float32 convolutions and
matmuls in TF32 at JAX's default precision, and the PyTorch reference enables TF32 to match. TPUs
have no published float32 peak (at JAX's default precision float32 matmuls run as bfloat16 MXU
passes), so their `fp32` is None, as is every precision of an unknown device (CPU included).
"""

import re

TERA = 1e12

# (device kind regex, full match, case-insensitive) -> {precision: FLOP/s per device}.
PEAK_FLOPS: dict[str, dict[str, float | None]] = {
  # H100 SXM5 datasheet (nvidia.com/en-us/data-center/h100): TF32 989 and BF16 1,979 TFLOPS
  # with sparsity. The SXM part reports itself as "NVIDIA H100 80GB HBM3".
  r"NVIDIA H100 80GB HBM3|NVIDIA H100 SXM.*": {"fp32": 494.7 * TERA, "bf16": 989.4 * TERA},
  # H200 SXM datasheet (nvidia.com/en-us/data-center/h200): the H100 SXM's compute, TF32 989
  # and BF16 1,979 TFLOPS with sparsity.
  r"NVIDIA H200": {"fp32": 494.7 * TERA, "bf16": 989.4 * TERA},
  # A100 datasheet (nvidia.com/en-us/data-center/a100), SXM and PCIe, 40 and 80 GB alike:
  # TF32 156 TFLOPS, BF16 312 TFLOPS dense.
  r"NVIDIA A100.*": {"fp32": 156 * TERA, "bf16": 312 * TERA},
  # V100 datasheet (nvidia.com/en-us/data-center/v100): FP32 15.7 TFLOPS (SXM2), 14 (PCIe);
  # no bfloat16 (its tensor cores are FP16 only) and no TF32.
  r"Tesla V100-SXM2.*": {"fp32": 15.7 * TERA, "bf16": None},
  r"Tesla V100-PCIE.*": {"fp32": 14 * TERA, "bf16": None},
  # L4 datasheet (nvidia.com/en-us/data-center/l4): TF32 120 and BF16 242 TFLOPS with sparsity.
  r"NVIDIA L4": {"fp32": 60 * TERA, "bf16": 121 * TERA},
  # Cloud TPU system architecture pages (cloud.google.com/tpu/docs/v4, /v5e, /v5p, /v6e): bf16
  # peak per chip, and JAX shows one device per chip on these generations.
  r"TPU v4": {"fp32": None, "bf16": 275 * TERA},
  r"TPU v5 lite|TPU v5e": {"fp32": None, "bf16": 197 * TERA},
  r"TPU v5p?": {"fp32": None, "bf16": 459 * TERA},
  r"TPU v6 lite|TPU v6e": {"fp32": None, "bf16": 918 * TERA},
}

PRECISIONS = ("fp32", "bf16")


def peak_flops(device_kind: str, precision: str) -> float | None:
  """Peak FLOP/s of one `device_kind` device at `precision` ('fp32' or 'bf16'); None if unknown."""
  if precision not in PRECISIONS:
    raise ValueError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
  for pattern, peaks in PEAK_FLOPS.items():
    if re.fullmatch(pattern, device_kind.strip(), flags=re.IGNORECASE):
      return peaks[precision]
  return None
