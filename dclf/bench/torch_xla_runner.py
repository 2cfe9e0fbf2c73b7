"""The torch_xla row of the benchmark: PyTorch on TPUs (and on a CPU's PJRT devices, where it is
tested) through torch_xla, SPMD data parallelism (`dclf.bench.torch_xla_spmd`, imported by `run`:
this module imports without torch_xla, so the study can ask `unsupported` in any environment).

torch-xla 2.9 needs torch 2.9, not PyTorch's newest release: the row runs with the interpreter of
an environment that pins both (launch/study-envs.txt's `torch`: torch==2.9.0 with torch_xla, `[tpu]`
on a TPU VM; on GPU hosts that environment has no torch_xla, and the row is unsupported there).
torch_xla reads its platform from PJRT_DEVICE when it is imported: `run` sets PJRT_DEVICE (and on a
CPU, CPU_NUM_DEVICES) from the request where the environment does not, and the device check
refuses a row whose environment says otherwise. No options.
"""

import os

from dclf.bench.runner import Measurement, Request, Unsupported

NAME = "torch_xla"
PJRT_DEVICES = {"cpu": "CPU", "tpu": "TPU"}


def unsupported(platform: str, options: dict, devices: int) -> str | None:
  del devices
  if options:
    return f"the torch_xla row takes no options; not {', '.join(sorted(options))}"
  if platform not in PJRT_DEVICES:
    return "torch_xla 2.9 has no GPU build on the package index; PyTorch on GPUs is the torch row (DDP over NCCL)"
  return None


def set_environment(request: Request) -> None:
  """PJRT_DEVICE (and on a CPU, CPU_NUM_DEVICES) from the request, where the environment sets none:
  before torch_xla is imported."""
  reason = unsupported(request.platform, request.options, request.devices)
  if reason:
    raise Unsupported(reason)
  os.environ.setdefault("PJRT_DEVICE", PJRT_DEVICES[request.platform])
  if request.platform == "cpu":
    os.environ.setdefault("CPU_NUM_DEVICES", str(request.devices))


def run(request: Request) -> Measurement:
  set_environment(request)
  from dclf.bench import torch_xla_spmd  # pylint: disable=g-import-not-at-top  (imports torch_xla: after PJRT_DEVICE)

  return torch_xla_spmd.run(request)
