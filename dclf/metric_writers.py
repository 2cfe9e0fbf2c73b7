"""Metrics to `workdir/metrics.jsonl` and TensorBoard event files (tensorboardX: no TensorFlow).

Only process 0 writes, since metrics are already global means over all devices.
"""

import json
from pathlib import Path

import jax


class MetricWriter:
  """Appends `{"step": s, "<prefix>/<name>": value ...}` rows; mirrors them as TB scalars."""

  def __init__(self, workdir, enabled: bool | None = None):
    self.enabled = jax.process_index() == 0 if enabled is None else enabled
    self._path = Path(workdir) / "metrics.jsonl"
    self._tb = None
    if self.enabled:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
      self._tb = SummaryWriter(str(Path(workdir) / "tensorboard"))

  def truncate_after(self, step: int) -> None:
    """Drops rows past `step`: a resumed run logs those steps again."""
    if not (self.enabled and self._path.exists()):
      return
    rows = [line for line in self._path.read_text().splitlines() if line.strip()]
    kept = [line for line in rows if json.loads(line)["step"] <= step]
    if len(kept) != len(rows):
      from dclf.fileio import atomic_write_text  # pylint: disable=g-import-not-at-top
      atomic_write_text(self._path, "".join(line + "\n" for line in kept))

  def write(self, step: int, metrics: dict, prefix: str) -> None:
    if not self.enabled:
      return
    row = {"step": int(step), **{f"{prefix}/{k}": float(v) for k, v in metrics.items()}}
    with self._path.open("a") as f:
      f.write(json.dumps(row) + "\n")
    for key, value in row.items():
      if key != "step":
        self._tb.add_scalar(key, value, int(step))

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
