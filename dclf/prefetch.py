"""Training batches on the devices ahead of the step that needs them.

A background thread takes batches from the loader, puts them on the devices (the host-to-device
copy starts there) and queues each with the loader's position after it, `depth` batches ahead.
Handing a batch to the trainer records its position in the run's `data_state`, so a checkpoint
holds the position of the last batch the trainer consumed, never the thread's read-ahead. Reading
a raw copy and `device_put` release the GIL, so the thread overlaps the step loop's dispatch.
"""

import queue
import threading
from collections.abc import Callable
from typing import Any


class _Failed:
  """What the thread queues when the loader raised: the trainer's next `get` raises it."""

  def __init__(self, error: BaseException):
    self.error = error


class DeviceBatches:
  """Iterator of device-ready batches of `loader` (an iterator with `state()` and `close()`), put
  with `put`; `get(timeout)` waits at most `timeout` seconds (0: not at all) and raises queue.Empty."""

  def __init__(self, loader, put: Callable[[dict], Any], data_state, depth: int = 4):
    self.loader, self._put, self._data_state = loader, put, data_state
    self._queue: queue.Queue = queue.Queue(maxsize=depth)
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._fill, name="dclf-prefetch", daemon=True)
    self._thread.start()

  def _fill(self) -> None:
    try:
      while not self._stop.is_set():
        item = (self._put(next(self.loader)), self.loader.state())
        while not self._stop.is_set():
          try:
            self._queue.put(item, timeout=0.1)
            break
          except queue.Full:
            continue
    except BaseException as e:  # pylint: disable=broad-except  (re-raised in the trainer's thread)
      self._queue.put(_Failed(e))

  def get(self, timeout: float | None = None):
    """The next batch; its position becomes the run's data state."""
    item = self._queue.get(block=timeout != 0, timeout=timeout or None)
    if isinstance(item, _Failed):
      self._queue.put(item)  # every later call fails the same way
      raise item.error
    batch, state = item
    self._data_state.set_state(state)
    return batch

  def __iter__(self):
    return self

  def __next__(self):
    return self.get()

  def close(self) -> None:
    """Stops the thread, then the loader (and its worker processes)."""
    self._stop.set()
    while self._thread.is_alive():
      try:
        self._queue.get(timeout=0.05)
      except queue.Empty:
        pass
    while not self._queue.empty():
      self._queue.get_nowait()
    self.loader.close()
