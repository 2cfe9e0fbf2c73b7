"""A run's model and training state, from its config: the layer below everything that trains,
evaluates, predicts, imports weights or benchmarks.

`validate` checks a config before any work; `build_model` and `initial_state` turn it into a Flax
model and a `TrainState` (random weights; the trainer loads `config.init_from` on top, a resumed
run its own checkpoint).
"""

import math
from collections.abc import Callable
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax
from flax import struct

from dclf import datasets, models, objectives, optim, parallel, steps
from dclf.distort.on_device import DEVICE_RECIPES
from dclf.errors import UsageError
from dclf.preprocess import PREPROCESSORS


@struct.dataclass
class TrainState:
  """All model variables, and optimizer state for the trainable part only.

  Parameters are split by top-level key: `trainable_keys` get gradients and updates, the rest
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


def validate(config) -> None:
  """Checks the fields a run depends on before any work starts."""
  choices = {
    "model": models.CLASSIFIERS,
    "optimizer": optim.OPTIMIZERS,
    "parallelism": parallel.PARALLELISMS,
    "preprocess": PREPROCESSORS,
  }
  if config.get("distort_on_device"):
    choices["distort_on_device"] = DEVICE_RECIPES
  for field, known in choices.items():
    if config[field] not in known:
      raise UsageError(f"unknown {field} {config[field]!r}; known: {', '.join(sorted(known))}")
  for field, value in config.items():
    if isinstance(value, float) and not math.isfinite(value):
      raise UsageError(f"config.{field} must be a finite number, got {value}")
  for field in (
    "batch_size",
    "image_size",
    "log_every_steps",
    "checkpoint_every_steps",
    "keep_checkpoints",
    "prefetch_batches",
    "learning_rate",
    "bn_epsilon",
  ):
    if config[field] <= 0:
      raise UsageError(f"config.{field} must be positive, got {config[field]}")
  for field in ("num_epochs", "lr_decay", "momentum"):
    if config[field] < 0:
      raise UsageError(f"config.{field} must be >= 0, got {config[field]}")
  if config.profile_steps < 0:
    raise UsageError(f"config.profile_steps must be >= 0 (0: no profile), got {config.profile_steps}")
  if config.data_workers < -1:
    raise UsageError(f"config.data_workers must be -1 (fit the host) or >= 0, got {config.data_workers}")
  if config.batch_size % jax.device_count():
    raise UsageError(
      f"global batch_size {config.batch_size} does not divide by the {jax.device_count()} devices; "
      f"use a multiple of {jax.device_count()}"
    )
  _check_image_size(config)


def _check_image_size(config) -> None:
  """Each pooling layer halves the image: below some size a model has nothing left to classify."""
  try:
    models.init_shapes(build_model(config, 1), config.image_size)
  except (ValueError, ZeroDivisionError, TypeError) as e:
    raise UsageError(
      f"config.image_size {config.image_size} is too small for model {config.model} (its layers shrink it to "
      f"nothing: {type(e).__name__}); the poster's models take 224"
    ) from None


def output_names(config) -> tuple[str, ...]:
  """What the model predicts, in output order: the names the config records (a run saves them in
  `class_names`), else its dataset's classes, or the dataset's labels for a multi-label objective."""
  if config.get("class_names"):
    return tuple(config.class_names)
  return objectives.of_config(config).output_names(datasets.names(config.dataset))


def build_model(config, num_classes: int):
  return models.create_model(
    config.model,
    num_classes=num_classes,
    dtype=steps.compute_dtype(config),
    bn_epsilon=config.bn_epsilon,
    bn_axis_name=steps.AXIS,
    frozen_bn_batch_stats=config.frozen_bn_batch_stats,
  )


def initial_state(config, num_classes: int | None = None) -> TrainState:
  """Freshly initialised state for `config`: random weights from `config.seed`."""
  num_classes = num_classes or len(output_names(config))
  model = build_model(config, num_classes)
  return create_train_state(model, optim.create_optimizer(config), steps.prng_key(config.seed), config.image_size)
