"""The torch row of the benchmark: PyTorch on CPUs and GPUs, data-parallel with
DistributedDataParallel (`dclf.bench.torch_ddp`, imported by `run`: this module imports without
PyTorch, so the study can ask `unsupported` in any environment).

Options: `channels_last` (NHWC convolutions) and `compile` (torch.compile's forward: True for
inductor, or the name of another torch.compile backend); both False by default.
"""

from dclf.bench.runner import Measurement, Request, Unsupported

NAME = "torch"


def unsupported(platform: str, options: dict, devices: int) -> str | None:
  del options, devices
  if platform == "tpu":
    return "PyTorch reaches TPUs through torch_xla: that is the torch-xla row"
  return None


def run(request: Request) -> Measurement:
  reason = unsupported(request.platform, request.options, request.devices)
  if reason:
    raise Unsupported(reason)
  from dclf.bench import torch_ddp  # pylint: disable=g-import-not-at-top  (imports PyTorch)

  return torch_ddp.run(request)
