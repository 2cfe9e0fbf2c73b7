"""The Keras runner in a process of its own, for tests/test_keras_reference.py: Keras fixes its
backend when first imported, and TensorFlow must not share a process with PyTorch.

  python tests/_keras_child.py BACKEND CHECK...

BACKEND is a `keras_runner.BACKENDS` name (the process's, read from sys.argv); the process is set
up for 2 CPU devices. Each CHECK is `name:arg:...` (see CHECKS); their results go to stdout as one
JSON object on the last line, with the frameworks the process imported under `imported`. Bad
input (a wrong platform, an unsupported row) ends as every dclf command ends: one `error:` line
and a non-zero exit code.
"""

import dataclasses
import json
import sys

import numpy as np

from dclf import cli, models
from dclf.bench import keras_runner
from dclf.bench.runner import Request

from _runs import tiny_config

# The global batch: 2 images per device on 2 devices. Parity runs use smaller images than timed
# ones, so that a process that runs both trains two models of different shapes, as the runner must allow.
BATCH = 4
IMAGE_SIZE, PARITY_IMAGE_SIZE = 32, 16


def _config(model: str, image_size: int = IMAGE_SIZE):
  """configs/<model>.py, tiny, on dclf's synthetic dataset when it reads real data (no files)."""
  return tiny_config(model, batch_size=BATCH, image_size=image_size, train_crop_size=0, dataset="synthetic")


def _flax_counts(model: str, image_size: int) -> list[int]:
  flax_model = models.create_model(model, num_classes=3)
  return list(models.count_params(models.init_shapes(flax_model, image_size), flax_model.trainable_keys))


def counts(backend, keras_models, image_size="224"):
  """Parameter counts of every model as Keras and as dclf's Flax modules count them, shapes only."""
  import keras  # pylint: disable=g-import-not-at-top

  out = {}
  for name in keras_models.MODELS:
    with keras.StatelessScope(initialize_variables=False):
      keras_counts = keras_models.count_params(keras_models.build_model(name, image_size=int(image_size)))
    out[name] = {"keras": list(keras_counts), "flax": _flax_counts(name, int(image_size))}
  return out


def decay(backend, keras_models):
  """sgdnet's optimizer after 3 steps: Keras 2.3's RMSprop(decay=2e-5)."""
  import keras  # pylint: disable=g-import-not-at-top

  optimizer = keras_models.optimizer(_config("sgdnet"))
  optimizer.build([keras.Variable(np.zeros(3, np.float32))])
  optimizer.iterations.assign(3)
  return {
    "class": type(optimizer).__name__,
    "rho": optimizer.rho,
    "epsilon": optimizer.epsilon,
    "learning_rate": float(optimizer.learning_rate),
  }


def _rows(placed) -> list[int]:
  """Rows of the placed images on each device."""
  images = placed[0]
  if hasattr(images, "addressable_shards"):  # a jax.Array
    return [s.data.shape[0] for s in images.addressable_shards]
  if hasattr(images, "values"):  # TensorFlow's PerReplica
    return [int(t.shape[0]) for t in images.values]
  return [int(images.shape[0])]


def _variable_devices(variable) -> int:
  """On how many devices a variable's value lives."""
  value = variable.value
  if hasattr(value, "sharding"):  # a jax.Array
    return len(value.sharding.device_set)
  if hasattr(value, "values"):  # a tf.distribute DistributedVariable
    return len(value.values)
  return 1


def _request(model: str, mode="train", platform="cpu", devices=2, data="", image_size=IMAGE_SIZE) -> Request:
  return Request(
    config=_config(model, image_size),
    mode=mode,
    platform=platform,
    devices=devices,
    num_steps=2,
    warmup=1,
    real_data=data == "real",
    options={"keras_backend": sys.argv[1]},
  )


def _train(backend, keras_models, model: str, devices: int, steps: int) -> dict:
  """`steps` of the runner's own training step on `devices` devices, one global batch."""
  request = _request(model, devices=devices, image_size=PARITY_IMAGE_SIZE)
  with keras_runner.fit_loop(request, backend, keras_models) as loop:
    losses = [float(loop.step()["loss"]) for _ in range(steps)]
    tracker = getattr(loop.model, "_loss_tracker", None)
    return {
      "losses": losses,
      "rows": _rows(next(loop.batches)),
      "variable_devices": _variable_devices(loop.model.trainable_variables[0]),
      # TensorFlow's metrics live in the model's variables, summed over replicas when read.
      "samples_seen": float(tracker.count.numpy()) if sys.argv[1].startswith("tensorflow") else None,
      "params": list(keras_models.count_params(loop.model)),
      "distribution": loop.replicas.name,
    }


def parity(backend, keras_models, model="softmax", steps="3"):
  """The same training steps on 1 device and on 2, and dclf's Flax parameter counts at that size."""
  return {
    "one": _train(backend, keras_models, model, 1, int(steps)),
    "two": _train(backend, keras_models, model, 2, int(steps)),
    "flax_params": _flax_counts(model, PARITY_IMAGE_SIZE),
  }


def time(backend, keras_models, model="softmax", mode="train", platform="cpu", devices="2", data=""):
  """`keras_runner.run` of a tiny request (2 steps after 1 warm-up step; `real`: from the trainer's
  loader): the Measurement as JSON."""
  del backend, keras_models
  return dataclasses.asdict(keras_runner.run(_request(model, mode, platform, int(devices), data)))


CHECKS = {"counts": counts, "decay": decay, "parity": parity, "time": time}


@cli.command
def main(argv) -> int:
  results = {}
  for check in argv[1:]:
    check_name, *args = check.split(":")
    if check_name == "time":  # run() loads Keras for its own request
      results[check] = time(None, None, *args)
      continue
    backend, keras_models = keras_runner.prepare(_request("softmax", devices=2))
    results[check] = CHECKS[check_name](backend, keras_models, *args)
  results["imported"] = sorted(m for m in ("jax", "keras", "tensorflow", "torch") if m in sys.modules)
  print(json.dumps(results), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
