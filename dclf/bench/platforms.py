"""Which accelerator this host has and how many of its devices a study row runs on, found without
importing any framework: from the device files the kernel exposes, as JAX's own start-up check
does (jax/_src/hardware_utils.py). A framework that opened the TPU to look would keep it from the
rows, which run in other processes.

- TPU: PCI functions of Google's vendor id with a TPU device id, one per chip. JAX and torch_xla
  show one device per chip on v4, v5e, v5p and v6e (the chips a study runs on); v2 and v3 chips
  hold two cores, each a device: pass --devices there.
- GPU: NVIDIA's /dev/nvidiaN files, narrowed by CUDA_VISIBLE_DEVICES when it is set.
- CPU otherwise: one device (the host); --devices N splits it into N (`environment`).
"""

import glob
import os
import re
from pathlib import Path

from dclf.errors import UsageError

PLATFORMS = ("cpu", "gpu", "tpu")
GOOGLE_PCI_VENDOR = "0x1ae0"
TPU_PCI_DEVICES = {  # device id -> generation (JAX's table)
  "0x0027": "v2/v3",
  "0x0056": "plc",
  "0x005e": "v4",
  "0x0062": "v5p",
  "0x0063": "v5e",
  "0x006f": "v6e",
  "0x0076": "tpu7x",
}


# A TPU generation (Cloud TPU's accelerator-type prefix, as in v5litepod-8, or TPU_PCI_DEVICES')
# -> the device kind JAX reports for its chips.
TPU_DEVICE_KINDS = {
  "v2": "TPU v2",
  "v3": "TPU v3",
  "v4": "TPU v4",
  "v5e": "TPU v5 lite",
  "v5litepod": "TPU v5 lite",
  "v5p": "TPU v5",
  "v6e": "TPU v6 lite",
  "tpu7x": "TPU7x",
}


def _tpu_generations(root: str) -> list[str]:
  """The generation of each TPU chip of this host (TPU_PCI_DEVICES), from its PCI function."""
  found = []
  for vendor in glob.glob(os.path.join(root, "sys/bus/pci/devices/*/vendor")):
    try:
      device = (Path(vendor).parent / "device").read_text().strip()
      if Path(vendor).read_text().strip() == GOOGLE_PCI_VENDOR and device in TPU_PCI_DEVICES:
        found.append(TPU_PCI_DEVICES[device])
    except OSError:
      continue
  return found


def tpu_chips(root: str = "/") -> int:
  return len(_tpu_generations(root))


def tpu_device_kind(reported: str, root: str = "/") -> str:
  """One device kind per TPU generation whichever framework reports it (JAX: "TPU v5 lite";
  TensorFlow: "TPU" and the VM's accelerator type, "TPU v5litepod-8"), so that their rows share the
  study's tables: JAX's name, from the generation in `reported`, else from this host's chips;
  `reported` where neither tells (v2 and v3 chips share a PCI id)."""
  if reported in TPU_DEVICE_KINDS.values():
    return reported
  named = re.search(r"\b(v\d+[a-z]*|tpu7x)(?:-\d+)?\b", reported, re.IGNORECASE)
  generations = {named.group(1).lower()} if named else set(_tpu_generations(root))
  if len(generations) == 1 and (generation := generations.pop()) in TPU_DEVICE_KINDS:
    return TPU_DEVICE_KINDS[generation]
  return reported


def nvidia_gpus(root: str = "/") -> int:
  found = sum(1 for f in glob.glob(os.path.join(root, "dev/nvidia*")) if re.fullmatch(r"nvidia\d+", Path(f).name))
  visible = os.environ.get("CUDA_VISIBLE_DEVICES")
  if found and visible is not None:
    return min(found, len([d for d in visible.split(",") if d.strip() and not d.strip().startswith("-")]))
  return found


def detect(root: str = "/") -> tuple[str, int]:
  """(platform, device count) of this host's accelerator: tpu, gpu, or cpu with one device."""
  if chips := tpu_chips(root):
    return "tpu", chips
  if gpus := nvidia_gpus(root):
    return "gpu", gpus
  return "cpu", 1


def resolve(platform: str, devices: int | None, root: str = "/") -> tuple[str, int]:
  """`--platform` (auto: the host's accelerator) and `--devices` (default: every device of that
  platform on this host) as a row runs them."""
  if platform not in ("auto", *PLATFORMS):
    raise UsageError(f"--platform takes auto, {', '.join(PLATFORMS)}; got {platform!r}")
  if devices is not None and devices < 1:
    raise UsageError(f"--devices must be at least 1, got {devices}")
  found, count = detect(root)
  if platform == "auto":
    platform = found
  elif platform != found:
    # Not this host's accelerator (asked for on purpose, or a device file we do not know): the rows
    # count what their framework finds, and --devices says how many to use.
    count = 1 if platform == "cpu" else None
  if devices is None and count is None:
    raise UsageError(f"no {platform} devices found in this host's device files; pass --devices N")
  return platform, devices or count


def environment(platform: str, devices: int, base: dict | None = None) -> dict:
  """Variables a row's process needs before any framework starts: on a CPU, `devices` host
  devices for the XLA frameworks (JAX's forced host device count, torch_xla's PJRT CPU client);
  PyTorch's DDP starts one process per device and TensorFlow splits the CPU into logical devices
  itself. Nothing on accelerators."""
  if platform != "cpu":
    return {}
  base = os.environ if base is None else base
  flags = re.sub(r"\s*--xla_force_host_platform_device_count=\S*", "", base.get("XLA_FLAGS", ""))
  return {
    "XLA_FLAGS": f"{flags} --xla_force_host_platform_device_count={devices}".strip(),
    "CPU_NUM_DEVICES": str(devices),
  }


def default_precisions(platform: str) -> tuple[str, ...]:
  """fp32 on CPUs (bf16 there would time PyTorch's slow CPU bf16 convolutions, about 20x its fp32
  ones, not the hardware), fp32 and bf16 on accelerators."""
  return ("fp32",) if platform == "cpu" else ("fp32", "bf16")
