"""Transitional, for issue 21: a reference module of the old shape (`run(config, *, mode, ...)`
returning a one-device record through `records.reference_record`) behind the runner contract,
until the PyTorch reference implements it itself. `dclf.bench.runners.load` wraps a
runner module only when it has no `NAME`; delete this module and that line once none is left.

The old references run on one device and time before they look at it: the device check comes
after their run here, so a row that asks for more devices than one still fails before anything is
recorded.
"""

import types

from dclf import state
from dclf.bench import flops
from dclf.bench.runner import Measurement, Request, check_devices

OLD_NAMES = {"compile": "compile_model"}  # option -> the old run()'s keyword


class Adapter:
  def __init__(self, module):
    self.NAME = module.__name__.rsplit(".", 1)[-1].removesuffix("_reference")  # pylint: disable=invalid-name
    self._module = module

  def unsupported(self, platform: str, options: dict, devices: int) -> str | None:
    del platform, options, devices
    return None

  def run(self, request: Request) -> Measurement:
    captured = {}
    self._module.records = types.SimpleNamespace(reference_record=lambda **kw: captured.update(kw))
    config = request.config
    self._module.run(
      config,
      mode=request.mode,
      real_data=request.real_data,
      num_steps=request.num_steps,
      warmup=request.warmup,
      model_flops=flops.model_flops(state.build_model(config, request.num_classes), config.image_size),
      num_classes=request.num_classes,
      **{OLD_NAMES.get(k, k): v for k, v in request.options.items()},
    )
    kind = captured["device_kind"]
    platform = "cpu" if kind == "cpu" else "gpu"
    check_devices(request, platform, kind, 1)
    return Measurement(
      timings=captured["timings"],
      platform=platform,
      device_kind=kind,
      devices=1,
      versions=captured["versions"],
      compile_s=captured["timings"].first_call_over_step_s,
      peak_memory_bytes=captured.get("peak_memory_bytes"),
    )
