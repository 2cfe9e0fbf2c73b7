"""The training state: all model variables, and optimizer state for the trainable part only."""

from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import optax
from flax import struct


@struct.dataclass
class TrainState:
  """Parameters are split by top-level key: `trainable_keys` get gradients and updates, the rest
  (frozen features) stay constant, get no optimizer state and are not differentiated."""

  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: optax.OptState
  apply_fn: Callable = struct.field(pytree_node=False)
  tx: optax.GradientTransformation = struct.field(pytree_node=False)
  trainable_keys: tuple[str, ...] = struct.field(pytree_node=False)

  def trainable_params(self):
    return {k: self.params[k] for k in self.trainable_keys}

  def frozen_params(self):
    return {k: v for k, v in self.params.items() if k not in self.trainable_keys}

  def variables(self, params=None):
    return {"params": self.params if params is None else params, "batch_stats": self.batch_stats}

  def apply_gradients(self, grads, batch_stats):
    """Updates the trainable parameters; batch statistics are kept only for trainable keys."""
    trainable = self.trainable_params()
    updates, opt_state = self.tx.update(grads, self.opt_state, trainable)
    params = {**self.params, **optax.apply_updates(trainable, updates)}
    batch_stats = {k: (batch_stats[k] if k in self.trainable_keys else v) for k, v in self.batch_stats.items()}
    return self.replace(step=self.step + 1, params=params, batch_stats=batch_stats, opt_state=opt_state)

  def checkpoint_tree(self) -> dict:
    """What a checkpoint stores (the static fields come from the config)."""
    return {"step": self.step, "params": self.params, "batch_stats": self.batch_stats, "opt_state": self.opt_state}

  def from_checkpoint_tree(self, tree: dict) -> "TrainState":
    return self.replace(**tree)


def state_from_variables(model, tx, variables: dict) -> TrainState:
  """A step-0 state holding `variables` (`params`, `batch_stats`), with fresh optimizer state."""
  params = variables["params"]
  trainable_keys = tuple(model.trainable_keys)
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      batch_stats=variables.get("batch_stats") or {},
      opt_state=tx.init({k: params[k] for k in trainable_keys}),
      apply_fn=model.apply,
      tx=tx,
      trainable_keys=trainable_keys,
  )


def create_train_state(model, tx, rng, image_size: int) -> TrainState:
  """Initialises variables (float32, under jit) and optimizer state."""
  x = jnp.zeros((1, image_size, image_size, 3), jnp.float32)
  variables = jax.jit(lambda r: model.init(r, x, train=False))(rng)
  return state_from_variables(model, tx, flax.core.unfreeze(variables))
