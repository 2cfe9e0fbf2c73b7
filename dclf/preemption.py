"""Preemption (SIGTERM: how Cloud TPU VMs, spot VMs and most schedulers announce it) as a poll.

The training loop asks `should_stop(step)` after every step. With one process a Python SIGTERM
handler sets a flag. With several, JAX's coordination service catches SIGTERM on any host and
`reached_preemption_sync_point` turns true on every host at the same step, so all hosts save
the same step and exit 0 together.
"""

import signal

import jax
from jax.experimental import multihost_utils


class PreemptionGuard:
  """Context manager; installs the single-process SIGTERM handler for its duration."""

  def __init__(self):
    self._requested = False
    self._previous = None
    self._multiprocess = jax.process_count() > 1

  def _handle(self, signum, frame):
    del signum, frame
    self._requested = True

  def should_stop(self, step: int) -> bool:
    if self._multiprocess:
      return multihost_utils.reached_preemption_sync_point(step)
    return self._requested

  def __enter__(self):
    if not self._multiprocess:  # with several processes, JAX's notifier owns SIGTERM
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    return self

  def __exit__(self, *exc):
    if not self._multiprocess:
      signal.signal(signal.SIGTERM, self._previous)
    return False
