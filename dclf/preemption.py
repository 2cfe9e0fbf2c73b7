"""SIGTERM (how Cloud TPU VMs and most schedulers announce preemption) as a polled flag.

The training loop checks `requested` between steps, saves a checkpoint at the current step and
exits 0, so a rerun of the same command resumes there.
"""

import signal


class PreemptionGuard:
  """Installs a SIGTERM handler for the duration of a `with` block."""

  def __init__(self):
    self._requested = False
    self._previous = None

  def _handle(self, signum, frame):
    del signum, frame
    self._requested = True

  @property
  def requested(self) -> bool:
    return self._requested

  def __enter__(self):
    self._previous = signal.signal(signal.SIGTERM, self._handle)
    return self

  def __exit__(self, *exc):
    signal.signal(signal.SIGTERM, self._previous)
    return False
