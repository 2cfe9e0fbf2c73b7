"""Optimizers with the Keras 2.3 semantics the poster trained with.

Keras' `decay` is a per-step inverse-time decay, lr / (1 + decay * step); Keras RMSprop adds its
epsilon (1e-7) outside the square root and starts its accumulator at zero; Keras Adam's epsilon is
1e-7 too. Registry keyed by the config's `optimizer` field.
"""

from collections.abc import Callable

import optax

KERAS_EPSILON = 1e-7


def keras_inverse_time_decay(learning_rate: float, decay: float) -> optax.Schedule:
  """lr / (1 + decay * step), evaluated at the step count before the update, as Keras does."""
  return lambda step: learning_rate / (1.0 + decay * step)


def _rmsprop(lr, config):
  return optax.rmsprop(lr, decay=0.9, eps=KERAS_EPSILON, eps_in_sqrt=False)


def _adam(lr, config):
  return optax.adam(lr, b1=0.9, b2=0.999, eps=KERAS_EPSILON)


def _sgd(lr, config):
  return optax.sgd(lr, momentum=config.get("momentum", 0.0) or None)


OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
  "rmsprop": _rmsprop,
  "adam": _adam,
  "sgd": _sgd,
}


def create_optimizer(config) -> optax.GradientTransformation:
  """The optimizer named by `config.optimizer` with Keras' decayed learning rate."""
  if config.optimizer not in OPTIMIZERS:
    raise ValueError(f"unknown optimizer {config.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
  schedule = keras_inverse_time_decay(config.learning_rate, config.lr_decay)
  return OPTIMIZERS[config.optimizer](schedule, config)
