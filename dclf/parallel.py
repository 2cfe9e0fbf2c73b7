"""Data parallelism two ways around one per-device step: `jax.pmap` (the default) or `jax.jit`
with `jax.shard_map` over a one-axis device mesh.

Both keep the training state replicated, shard the batch's leading axis over devices and run
the same collectives, so they give the same numbers. `put_batch` takes this process's share of a
global batch, `(per_process, ...)` host arrays, and shards it over the local devices; the model
state goes to and from the host as NumPy. Both run over every device unless given a list of them
(the benchmark's `--devices N` runs on the first N of one platform).
"""

from collections.abc import Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from dclf.steps import AXIS


class PmapParallel:
  """State carries a leading device axis; every process drives its local devices."""

  name = "pmap"

  def __init__(self, devices=None):
    self._chosen = devices is not None
    self.devices = list(devices) if self._chosen else jax.local_devices()
    self._sharding = NamedSharding(Mesh(np.array(self.devices), (AXIS,)), P(AXIS))

  def put_state(self, tree):
    stack = lambda x: np.broadcast_to(np.asarray(x), (len(self.devices),) + np.shape(x))
    return jax.device_put(jax.tree.map(stack, tree), self._sharding)

  def get_state(self, tree):
    return jax.device_get(jax.tree.map(lambda x: x[0], tree))

  def put_batch(self, batch):
    split = lambda x: np.reshape(x, (len(self.devices), -1) + x.shape[1:])  # a view: no copy
    return jax.device_put(jax.tree.map(split, batch), self._sharding)

  def compile(self, fn: Callable, num_sharded=1, num_broadcast=0, donate_state=False, sharded_output=False):
    """fn(state, *sharded, *broadcast) -> outputs; one output per device either way."""
    del sharded_output
    in_axes = (0,) + (0,) * num_sharded + (None,) * num_broadcast
    chosen = {"devices": self.devices} if self._chosen else {}
    return jax.pmap(fn, axis_name=AXIS, in_axes=in_axes, donate_argnums=(0,) if donate_state else (), **chosen)

  def get_replicated(self, tree):
    """A replicated step output (e.g. metrics) as host values."""
    return jax.device_get(jax.tree.map(lambda x: x[0], tree))

  def get_sharded(self, tree):
    """A per-device step output (e.g. probabilities) as host arrays `(local_devices*per_device, ...)`."""
    return jax.tree.map(lambda x: np.asarray(x).reshape((-1,) + x.shape[2:]), jax.device_get(tree))


class JitParallel:
  """One global program over a mesh of all devices (of all processes)."""

  name = "jit"

  def __init__(self, devices=None):
    everywhere = jax.devices() if devices is None else list(devices)
    self.devices = [d for d in everywhere if d.process_index == jax.process_index()]
    self.mesh = Mesh(np.array(everywhere), (AXIS,))
    self._replicated = NamedSharding(self.mesh, P())
    self._sharded = NamedSharding(self.mesh, P(AXIS))

  def put_state(self, tree):
    return jax.tree.map(
      lambda x: jax.make_array_from_callback(np.shape(x), self._replicated, lambda idx: np.asarray(x)[idx]), tree
    )

  def get_state(self, tree):
    return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)

  def put_batch(self, batch):
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(self._sharded, x), batch)

  def compile(self, fn: Callable, num_sharded=1, num_broadcast=0, donate_state=False, sharded_output=False):
    """fn(state, *sharded, *broadcast) -> outputs, replicated (collective results) or sharded."""
    in_specs = (P(),) + (P(AXIS),) * num_sharded + (P(),) * num_broadcast
    out_specs = P(AXIS) if sharded_output else P()
    mapped = jax.shard_map(fn, mesh=self.mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)
    return jax.jit(mapped, donate_argnums=(0,) if donate_state else ())

  def get_replicated(self, tree):
    return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)

  def get_sharded(self, tree):
    def local(x):
      shards = sorted(x.addressable_shards, key=lambda s: s.index[0].start)
      return np.concatenate([np.asarray(s.data) for s in shards])

    return jax.tree.map(local, tree)


PARALLELISMS = {"pmap": PmapParallel, "jit": JitParallel}


def create(name: str, devices=None):
  """The parallelism `name` over `devices` (default: every device of the default backend)."""
  if name not in PARALLELISMS:
    raise ValueError(f"unknown parallelism {name!r}; known: {', '.join(PARALLELISMS)}")
  return PARALLELISMS[name](devices)
