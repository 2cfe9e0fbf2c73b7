"""Per-device train / eval / predict steps.

Each step sees one device's shard of the batch and talks to the others only through collectives
over `AXIS` (gradient and metric means, BatchNorm statistics), so the same function runs under
`jax.pmap` and under `jax.jit` + `jax.shard_map` (see `dclf.parallel`).
"""

import jax
import jax.numpy as jnp
import optax
from jax import lax

from dclf.preprocess import preprocess

AXIS = "batch"


def _apply(state, params, images, train: bool, rng=None):
  """float32 logits, and the updated batch statistics when training."""
  variables = state.variables(params)
  if not train:
    return state.apply_fn(variables, images, train=False).astype(jnp.float32), None
  logits, mutated = state.apply_fn(variables, images, train=True, rngs={"dropout": rng}, mutable=["batch_stats"])
  return logits.astype(jnp.float32), mutated.get("batch_stats", {})


def train_step(state, batch, rng, *, preprocess_mode: str, dtype=jnp.float32):
  """One optimizer step on this device's shard; returns the new state and global-mean metrics."""
  images = preprocess(batch["image"], preprocess_mode, dtype)
  labels = batch["label"]
  rng = jax.random.fold_in(jax.random.fold_in(rng, state.step), lax.axis_index(AXIS))
  frozen = state.frozen_params()

  def loss_fn(trainable):
    logits, batch_stats = _apply(state, {**frozen, **trainable}, images, True, rng)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    return loss, (logits, batch_stats)

  (loss, (logits, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.trainable_params())
  grads = lax.pmean(grads, AXIS)
  new_state = state.apply_gradients(grads, batch_stats)
  accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
  return new_state, lax.pmean({"loss": loss, "accuracy": accuracy}, AXIS)


def eval_step(state, batch, *, preprocess_mode: str, dtype=jnp.float32):
  """Masked sums over the global batch: padding examples (mask 0) count for nothing."""
  logits, _ = _apply(state, state.params, preprocess(batch["image"], preprocess_mode, dtype), False)
  mask = batch["mask"].astype(jnp.float32)
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
  sums = {
      "loss_sum": jnp.sum(loss * mask),
      "correct": jnp.sum((jnp.argmax(logits, -1) == batch["label"]) * mask),
      "count": jnp.sum(mask),
  }
  return lax.psum(sums, AXIS)


def predict_step(state, batch, *, preprocess_mode: str, dtype=jnp.float32):
  """Class probabilities for this device's shard."""
  logits, _ = _apply(state, state.params, preprocess(batch["image"], preprocess_mode, dtype), False)
  return jax.nn.softmax(logits, axis=-1)
