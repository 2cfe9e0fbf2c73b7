"""What JAX tells about this process's programs and devices, for every runner whose steps JAX runs
(dclf's own steps, Keras on JAX): its XLA compilations and persistent-cache hits, counted from
`jax.monitoring`'s events (one counter per process), and the devices' peak memory."""

import jax

# jax._src.dispatch.BACKEND_COMPILE_EVENT: once per executable made, compiled or loaded from the
# persistent cache; and the persistent cache's hits (jax._src.compiler).
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"


class _Compilations:
  def __init__(self):
    self.count = self.cache_hits = 0
    jax.monitoring.register_event_duration_secs_listener(self._on_duration)
    jax.monitoring.register_event_listener(self._on_event)

  def _on_duration(self, event: str, duration: float, **kwargs) -> None:
    del duration, kwargs
    self.count += event == COMPILE_EVENT

  def _on_event(self, event: str, **kwargs) -> None:
    del kwargs
    self.cache_hits += event == CACHE_HIT_EVENT

  def compiled(self) -> int:
    """Executables made so far (`timing.time_steps`' `compilations`)."""
    return self.count

  def loaded(self) -> int:
    """Executables loaded from the persistent cache so far (`timing.time_steps`' `cache_loads`)."""
    return self.cache_hits


COMPILATIONS = _Compilations()


def peak_memory_bytes(devices) -> int | None:
  """The largest peak over this process's `devices` since the process started; None where not
  reported (CPU)."""
  stats = [d.memory_stats() or {} for d in devices if d.process_index == jax.process_index()]
  peaks = [s["peak_bytes_in_use"] for s in stats if "peak_bytes_in_use" in s]
  return max(peaks) if peaks else None
