"""The compiled train / eval / predict steps of a config: one builder, `compile_steps`, that the
trainer, the evaluators and the benchmark all call, so a benchmark times exactly what training runs.

Each step sees one device's shard of the batch and talks to the others only through collectives
over `AXIS` (gradient and metric means, BatchNorm statistics), so the same function runs under
`jax.pmap` and under `jax.jit` + `jax.shard_map` (see `dclf.parallel`). Images arrive as uint8 and
are preprocessed on the device. What the model's outputs mean comes from the config's objective
(`dclf.objectives`).
"""

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

from dclf import objectives
from dclf.distort import on_device
from dclf.preprocess import preprocess

AXIS = "batch"
SINGLE_LABEL = objectives.OBJECTIVES["single_label"]

# JAX's default threefry keys make XLA:CPU compile parameter initialisation very slowly (about
# 10x longer than the whole train step for small_cnn); rbg keys compile in seconds, are as
# deterministic for a given seed and backend, and are what large TPU runs commonly use.
PRNG_IMPL = "rbg"


def prng_key(seed: int):
  """The key of a run's seed: parameter initialisation, and dropout in the train steps."""
  return jax.random.key(seed, impl=PRNG_IMPL)


def compute_dtype(config):
  """The dtype activations are computed in (parameters stay float32)."""
  return jnp.bfloat16 if config.half_precision else jnp.float32


def _apply(state, params, images, train: bool, rng=None):
  """float32 logits, and the updated batch statistics when training."""
  variables = state.variables(params)
  if not train:
    return state.apply_fn(variables, images, train=False).astype(jnp.float32), None
  logits, mutated = state.apply_fn(variables, images, train=True, rngs={"dropout": rng}, mutable=["batch_stats"])
  return logits.astype(jnp.float32), mutated.get("batch_stats", {})


def distortion_key(seed: int, step):
  """The key of a step's on-device distortions: the run's seed folded with the step number.
  Threefry, not `PRNG_IMPL`: an image's draws under vmap must be the ones it gets alone (threefry
  keys guarantee it, rbg keys do not), so that they do not depend on how many images a device holds."""
  return jax.random.fold_in(jax.random.key(seed, impl="threefry2x32"), step)


def distort_shard(recipe: str, batch: dict, key) -> dict:
  """This device's shard of a global batch of clean images, distorted by `recipe`
  (`dclf.distort.on_device`) and labelled with the classes drawn; each image is placed by its row
  in the global batch, so the draws do not depend on the number of devices."""
  per_device = batch["image"].shape[0]
  index = lax.axis_index(AXIS) * per_device + jnp.arange(per_device)
  images, labels, _ = on_device.distort(recipe, batch["image"], key, index, per_device * lax.psum(1, AXIS))
  return {**batch, "image": images, "label": labels}


def train_step(
  state,
  batch,
  rng,
  *,
  objective=SINGLE_LABEL,
  preprocess_mode: str,
  dtype=jnp.float32,
  distort_on_device: str = "",
  seed: int = 0,
):
  """One optimizer step on this device's shard; returns the new state and global-mean metrics.
  With `distort_on_device` (a recipe of `dclf.distort.on_device`), the batch's clean images are
  distorted first, from the run's `seed` and the step."""
  if distort_on_device:
    batch = distort_shard(distort_on_device, batch, distortion_key(seed, state.step))
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


def eval_step(state, batch, *, objective=SINGLE_LABEL, preprocess_mode: str, dtype=jnp.float32):
  """Masked sums over the global batch (`loss`, each metric, `count`): padding examples (mask 0)
  count for nothing."""
  logits, _ = _apply(state, state.params, preprocess(batch["image"], preprocess_mode, dtype), False)
  labels = batch[objective.label_key]
  mask = batch["mask"].astype(jnp.float32)
  per_example = {"loss": objective.loss(logits, labels), **objective.hits(logits, labels)}
  sums = {name: jnp.sum(values * mask) for name, values in per_example.items()}
  return lax.psum({**sums, "count": jnp.sum(mask)}, AXIS)


def predict_step(state, batch, *, objective=SINGLE_LABEL, preprocess_mode: str, dtype=jnp.float32):
  """Class (or per-label) probabilities for this device's shard."""
  logits, _ = _apply(state, state.params, preprocess(batch["image"], preprocess_mode, dtype), False)
  return objective.probabilities(logits)


@dataclasses.dataclass(frozen=True)
class Steps:
  """A config's steps, compiled on first call for a `dclf.parallel` strategy.

  train(state, batch, rng) -> (state, metrics): the state is donated; `rng` is the run's key.
  evaluate(state, batch) -> masked metric sums (batches carry a `mask`).
  predict(state, batch) -> probabilities, sharded like the batch.
  """

  train: Callable
  evaluate: Callable
  predict: Callable
  rng: jax.Array  # the key every train step folds its step number and device index into


def compile_steps(config, par) -> Steps:
  """The steps of `config` (objective, preprocessing, precision, seed) under `par`."""
  options = {
    "objective": objectives.of_config(config),
    "preprocess_mode": config.preprocess,
    "dtype": compute_dtype(config),
  }
  distortions = {"distort_on_device": config.get("distort_on_device", ""), "seed": config.seed}
  train = functools.partial(train_step, **distortions, **options)
  return Steps(
    train=par.compile(train, num_sharded=1, num_broadcast=1, donate_state=True),
    evaluate=par.compile(functools.partial(eval_step, **options)),
    predict=par.compile(functools.partial(predict_step, **options), sharded_output=True),
    rng=prng_key(config.seed),
  )
