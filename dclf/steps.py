"""Per-device train / eval / predict steps.

Each step sees one device's shard of the batch and talks to the others only through collectives
over `AXIS` (gradient and metric means, BatchNorm statistics), so the same function runs under
`jax.pmap` and under `jax.jit` + `jax.shard_map` (see `dclf.parallel`).

What the model's outputs mean comes from `OBJECTIVES`, keyed by `config.multilabel`: one class
per image (softmax over the outputs) or one yes/no per label (a sigmoid per output).
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import optax
from jax import lax

from dclf.preprocess import preprocess

AXIS = "batch"


@dataclasses.dataclass(frozen=True)
class Objective:
  """label_key: the batch feature holding the targets. loss: per-example loss. hits: per-example
  scores in [0, 1] whose means are the reported metrics. probabilities: what predict returns."""

  label_key: str
  loss: Callable[[jax.Array, jax.Array], jax.Array]
  hits: Callable[[jax.Array, jax.Array], dict]
  probabilities: Callable[[jax.Array], jax.Array]


def _label_hits(logits, labels):
  """Exact match (all labels right) and the share of labels right."""
  right = (logits > 0) == (labels > 0)
  return {"accuracy": jnp.all(right, -1), "label_accuracy": jnp.mean(right, -1)}


OBJECTIVES = {
    False: Objective(
        label_key="label",
        loss=optax.softmax_cross_entropy_with_integer_labels,
        hits=lambda logits, labels: {"accuracy": jnp.argmax(logits, -1) == labels},
        probabilities=lambda logits: jax.nn.softmax(logits, axis=-1),
    ),
    True: Objective(
        label_key="labels",
        loss=lambda logits, labels: optax.sigmoid_binary_cross_entropy(logits, labels.astype(logits.dtype)).mean(-1),
        hits=_label_hits,
        probabilities=jax.nn.sigmoid,
    ),
}


def _apply(state, params, images, train: bool, rng=None):
  """float32 logits, and the updated batch statistics when training."""
  variables = state.variables(params)
  if not train:
    return state.apply_fn(variables, images, train=False).astype(jnp.float32), None
  logits, mutated = state.apply_fn(variables, images, train=True, rngs={"dropout": rng}, mutable=["batch_stats"])
  return logits.astype(jnp.float32), mutated.get("batch_stats", {})


def train_step(state, batch, rng, *, preprocess_mode: str, dtype=jnp.float32, multilabel: bool = False):
  """One optimizer step on this device's shard; returns the new state and global-mean metrics."""
  objective = OBJECTIVES[multilabel]
  images = preprocess(batch["image"], preprocess_mode, dtype)
  labels = batch[objective.label_key]
  rng = jax.random.fold_in(jax.random.fold_in(rng, state.step), lax.axis_index(AXIS))
  frozen = state.frozen_params()

  def loss_fn(trainable):
    logits, batch_stats = _apply(state, {**frozen, **trainable}, images, True, rng)
    return objective.loss(logits, labels).mean(), (logits, batch_stats)

  (loss, (logits, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.trainable_params())
  grads = lax.pmean(grads, AXIS)
  new_state = state.apply_gradients(grads, batch_stats)
  metrics = {name: jnp.mean(hit) for name, hit in objective.hits(logits, labels).items()}
  return new_state, lax.pmean({"loss": loss, **metrics}, AXIS)


def eval_step(state, batch, *, preprocess_mode: str, dtype=jnp.float32, multilabel: bool = False):
  """Masked sums over the global batch (`loss`, each metric, `count`): padding examples (mask 0)
  count for nothing."""
  objective = OBJECTIVES[multilabel]
  logits, _ = _apply(state, state.params, preprocess(batch["image"], preprocess_mode, dtype), False)
  labels = batch[objective.label_key]
  mask = batch["mask"].astype(jnp.float32)
  per_example = {"loss": objective.loss(logits, labels), **objective.hits(logits, labels)}
  sums = {name: jnp.sum(values * mask) for name, values in per_example.items()}
  return lax.psum({**sums, "count": jnp.sum(mask)}, AXIS)


def predict_step(state, batch, *, preprocess_mode: str, dtype=jnp.float32, multilabel: bool = False):
  """Class (or per-label) probabilities for this device's shard."""
  logits, _ = _apply(state, state.params, preprocess(batch["image"], preprocess_mode, dtype), False)
  return OBJECTIVES[multilabel].probabilities(logits)
