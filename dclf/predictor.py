"""`Predictor(workdir)`: a trained (or imported) classifier as a function from images to
probabilities, for `dclf.predict`, `dclf.evaluate` and image-restoration pipelines.

    predictor = Predictor("workdirs/sgdnet")
    probabilities = predictor.predict(images)      # uint8 (n, size, size, 3) -> (n, outputs)
    dict(zip(predictor.names, probabilities[0]))   # {'reference': .., 'blur': .., 'noise': ..}

It loads the workdir's config and latest checkpoint and runs data-parallel over the local devices
(`dclf.parallel`, the run's parallelism), `device_batch` images per device at a time.
"""

import numpy as np
import optax

from dclf import checkpoint, inference, models, parallel, tasks, train
from dclf.data import imaging
from dclf.errors import UsageError
from dclf.train_state import state_from_variables

# Label sets of SEED_FACTS section 1, for workdirs whose config does not record `class_names`.
DEFAULT_CLASS_NAMES = {
    3: ("reference", "blur", "noise"),
    7: ("reference", "gaussian_blur", "motion_blur", "color_noise", "mono_noise", "marble", "twirl"),
}


def output_names(config, num_outputs: int) -> tuple[str, ...]:
  """The model's class (or label) names, in output order."""
  names = tuple(config.get("class_names") or ()) or DEFAULT_CLASS_NAMES.get(num_outputs)
  if names is None:
    return tuple(f"class_{i}" for i in range(num_outputs))
  if len(names) != num_outputs:
    raise UsageError(f"the config names {len(names)} classes but the model has {num_outputs}")
  return names


class Predictor:
  """Attributes: config, step (of the checkpoint), names (outputs), task (`dclf.tasks`),
  image_size, batch_size (global), batch_predictor (`inference.BatchPredictor`)."""

  def __init__(self, workdir, device_batch: int = 32):
    if device_batch <= 0:
      raise UsageError(f"device batch must be positive, got {device_batch}")
    try:
      config, variables, self.step = checkpoint.load_latest(workdir)
    except (FileNotFoundError, ValueError) as e:
      raise UsageError(f"{workdir}: {e}") from None
    predictions = variables["params"].get("head", {}).get("predictions", {}).get("kernel")
    if config.get("model") not in models.CLASSIFIERS or predictions is None:
      raise UsageError(f"{workdir} holds {config.get('model')}, not a classifier")
    self.names = output_names(config, predictions.shape[-1])
    config.class_names = list(self.names)  # what evaluation matches datasets against
    self.config = config
    self.task = tasks.task_of(config)
    self.image_size = config.image_size
    model = train.build_model(config, len(self.names))
    par = parallel.create(config.parallelism)
    state = state_from_variables(model, optax.identity(), variables)  # no optimizer state
    self.batch_predictor = inference.BatchPredictor(par, par.put_state(state), config)
    self.batch_size = device_batch * self.batch_predictor.num_devices

  def prepare(self, rgb: np.ndarray) -> np.ndarray:
    """Any uint8 RGB photo -> the model's input, as the datasets were made (shorter side to
    image_size, bicubic; central square crop)."""
    return imaging.resize_shorter_and_centre_crop(rgb, self.image_size)

  def predict(self, images) -> np.ndarray:
    """uint8 (n, image_size, image_size, 3) RGB -> float32 (n, outputs) in `names` order: class
    probabilities (summing to 1), or each label's probability for a multi-label model."""
    images = np.asarray(images)
    shape = (self.image_size, self.image_size, 3)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != shape:
      raise ValueError(f"expected uint8 images shaped (n, {', '.join(map(str, shape))}), got {images.dtype} "
                       f"{images.shape}; Predictor.prepare makes any photo fit")
    outputs = [np.zeros((0, len(self.names)), np.float32)]
    for start in range(0, len(images), self.batch_size):
      chunk = images[start:start + self.batch_size]
      padded = np.zeros((self.batch_size, *shape), np.uint8)  # one shape: one compilation
      padded[:len(chunk)] = chunk
      outputs.append(self.batch_predictor(padded)[:len(chunk)])
    return np.concatenate(outputs)
