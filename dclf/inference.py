"""A trained (or imported) classifier as a function from images to probabilities, data-parallel
over the local devices (`dclf.parallel`, the run's parallelism).

    predictor = Predictor("workdirs/sgdnet")
    probabilities = predictor.predict(images)      # uint8 (n, size, size, 3) -> (n, outputs)
    dict(zip(predictor.names, probabilities[0]))   # {'reference': .., 'blur': .., 'noise': ..}

    predictor.predict_photo(rgb).probabilities  # any photo, in windows at its own scale
    for path, prediction in predictor.predict_files(paths, on_error, photos.Crop()): ...

`Predictor` loads a workdir's config and latest checkpoint, for `dclf.predict`, `dclf.evaluate` and
image-restoration pipelines; it reads photo files through a view (`dclf.photos`: the centre crop,
or windows at the photo's own scale, the default), in threads, and predicts their inputs in batches, in memory
bounded by the view, not by the number or size of the photos. `BatchPredictor` is the compiled
predict step bound to a state on the devices (the trainer's test report uses it on the state it
trained); `predict_source` runs it over every example of a source once.
"""

import collections
import concurrent.futures
import dataclasses
from collections.abc import Callable, Iterator

import numpy as np
import optax
from jax.experimental import multihost_utils

from dclf import checkpoint, input_pipeline, models, objectives, parallel, photos, state, steps
from dclf.data import imaging
from dclf.errors import UsageError
from dclf.labels import CLEAN_CLASS, POSTER_CLASSES_BY_COUNT
from dclf.progress import FirstCall, tracked


class BatchPredictor:
  """A compiled predict step (`dclf.steps.compile_steps(config, par).predict`) bound to a
  (replicated) state on the devices of `par`."""

  def __init__(self, par, device_state, predict_step):
    self._par, self._state, self._fn = par, device_state, predict_step

  @property
  def num_devices(self) -> int:
    """A batch's size must be a multiple of it."""
    return len(self._par.devices)

  def __call__(self, images: np.ndarray) -> np.ndarray:
    """uint8 (n, H, W, 3), n a multiple of num_devices -> float32 (n, outputs)."""
    return self._par.get_sharded(self._fn(self._state, self._par.put_batch({"image": images})))


def predict_source(
  predict: BatchPredictor, source, *, batch_size: int, workers: int, keys=(), desc: str = "predicting"
) -> dict:
  """`probabilities` and the features `keys` of every example of `source` exactly once.

  Each process predicts its shard of the examples (`input_pipeline.eval_batches`); the shards are
  gathered, so every process returns all of them. `desc` names the pass in its progress display.
  """
  chunks = collections.defaultdict(list)
  batches = input_pipeline.eval_batches(source, batch_size=batch_size, workers=workers, keys=("image", *keys))
  for batch in tracked(batches, input_pipeline.num_eval_batches(len(source), batch_size), desc):
    chunks["probabilities"].append(predict(batch.pop("image")))
    for key, values in batch.items():
      chunks[key].append(values)
  arrays = multihost_utils.process_allgather({key: np.concatenate(parts) for key, parts in chunks.items()}, tiled=True)
  keep = arrays.pop("mask").astype(bool)
  return {key: values[keep] for key, values in arrays.items()}


def output_names(config, num_outputs: int) -> tuple[str, ...]:
  """The model's class (or label) names, in output order: the config's, else the poster's label
  set of that size (workdirs written before configs recorded them)."""
  names = tuple(config.get("class_names") or ()) or POSTER_CLASSES_BY_COUNT.get(num_outputs)
  if names is None:
    return tuple(f"class_{i}" for i in range(num_outputs))
  if len(names) != num_outputs:
    raise UsageError(f"the config names {len(names)} classes but the model has {num_outputs}")
  return names


READ_AHEAD = 2 * photos.DECODE_THREADS  # photo files read (decoded and cut) ahead of the predictions


@dataclasses.dataclass(frozen=True)
class PhotoPrediction:
  """One photo: `probabilities` (outputs,) in `Predictor.names` order, combined from its inputs'
  `window_probabilities` (n, outputs) as its view says; `boxes` (n, 4: left, top, right, bottom,
  in the photo's pixels) for a `photos.Windows` view, else None."""

  probabilities: np.ndarray
  window_probabilities: np.ndarray
  boxes: np.ndarray | None = None


class Predictor:
  """Attributes: config, step (of the checkpoint), names (outputs), objective (`dclf.objectives`),
  image_size, batch_size (global), batch_predictor (`BatchPredictor`), clean (the index of the
  undistorted class, or None)."""

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
    self.clean = self.names.index(CLEAN_CLASS) if CLEAN_CLASS in self.names else None
    config.class_names = list(self.names)  # what evaluation matches datasets against
    self.config = config
    self.objective = objectives.of_config(config)
    self.image_size = config.image_size
    model = state.build_model(config, len(self.names))
    par = parallel.create(config.parallelism)
    loaded = state.state_from_variables(model, optax.identity(), variables)  # no optimizer state
    predict_step = FirstCall(steps.compile_steps(config, par).predict, "predict step")
    self.batch_predictor = BatchPredictor(par, par.put_state(loaded), predict_step)
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
      raise ValueError(
        f"expected uint8 images shaped (n, {', '.join(map(str, shape))}), got {images.dtype} "
        f"{images.shape}; Predictor.prepare makes any photo fit"
      )
    outputs = [np.zeros((0, len(self.names)), np.float32)]
    for start in range(0, len(images), self.batch_size):
      chunk = images[start : start + self.batch_size]
      padded = np.zeros((self.batch_size, *shape), np.uint8)  # one shape: one compilation
      padded[: len(chunk)] = chunk
      outputs.append(self.batch_predictor(padded)[: len(chunk)])
    return np.concatenate(outputs)

  def _photo(self, view, inputs: photos.Inputs, window_probabilities: np.ndarray) -> PhotoPrediction:
    combined = view.combined(window_probabilities, self.objective, self.clean)
    return PhotoPrediction(combined, window_probabilities, inputs.boxes)

  def predict_photo(self, rgb: np.ndarray, view=photos.DEFAULT_VIEW) -> PhotoPrediction:
    """Any uint8 RGB photo (H, W, 3), looked at through `view` (`photos.Crop` or `photos.Windows`)."""
    inputs = view.cut(np.asarray(rgb), self.image_size)
    return self._photo(view, inputs, self.predict(inputs.windows))

  def predict_files(
    self, paths, on_error: Callable[[str], None], view=photos.DEFAULT_VIEW
  ) -> Iterator[tuple[str, PhotoPrediction]]:
    """(path, prediction) of each readable photo file, in order; each unreadable one goes to
    `on_error("PATH: reason")` instead, when it is reached.

    Files are read in DECODE_THREADS threads, at most READ_AHEAD ahead of the one whose inputs
    are next predicted; the inputs of consecutive photos fill batches of exactly `batch_size`
    (the last one padded), and a photo's inputs are dropped once its prediction is made."""
    with concurrent.futures.ThreadPoolExecutor(photos.DECODE_THREADS) as pool:
      read = lambda path: view.load(path, self.image_size)
      waiting = collections.deque()  # photos read whose prediction is not made yet, in order
      unsent = 0  # inputs of the waiting photos not yet predicted
      for path, inputs in _read_ahead(pool, read, paths, READ_AHEAD):
        if isinstance(inputs, photos.UnreadableImage):
          on_error(str(inputs))
          continue
        waiting.append(_Waiting(str(path), inputs))
        unsent += len(inputs.windows)
        while unsent >= self.batch_size:
          unsent -= self._predict_batch(waiting)
          while waiting and waiting[0].done:
            photo = waiting.popleft()
            yield photo.path, self._photo(view, photo.inputs, np.concatenate(photo.outputs))
      while unsent:
        unsent -= self._predict_batch(waiting)
      for photo in waiting:
        yield photo.path, self._photo(view, photo.inputs, np.concatenate(photo.outputs))

  def _predict_batch(self, waiting) -> int:
    """Predicts the next (up to) batch_size unpredicted inputs of `waiting`; returns how many."""
    parts = []
    room = self.batch_size
    for photo in waiting:
      take = min(room, len(photo.inputs.windows) - photo.sent)
      if take:
        parts.append((photo, photo.sent, photo.sent + take))
        photo.sent += take
        room -= take
      if not room:
        break
    outputs = self.predict(np.concatenate([photo.inputs.windows[start:stop] for photo, start, stop in parts]))
    offset = 0
    for photo, start, stop in parts:
      photo.outputs.append(outputs[offset : offset + stop - start])
      offset += stop - start
    return offset


@dataclasses.dataclass
class _Waiting:
  """A photo read, its inputs being predicted batch by batch."""

  path: str
  inputs: photos.Inputs
  sent: int = 0
  outputs: list = dataclasses.field(default_factory=list)

  @property
  def done(self) -> bool:
    return sum(len(part) for part in self.outputs) == len(self.inputs.windows)


def _read_or_error(read, path):
  try:
    return read(path)
  except photos.UnreadableImage as e:
    return e


def _read_ahead(pool, read, paths, ahead: int) -> Iterator[tuple[object, object]]:
  """(path, read(path) or its UnreadableImage) in order, with at most `ahead` reads submitted and
  not yet taken."""
  submitted = collections.deque()
  for path in paths:
    if len(submitted) == ahead:
      done_path, future = submitted.popleft()
      yield done_path, future.result()
    submitted.append((path, pool.submit(_read_or_error, read, path)))
  while submitted:
    done_path, future = submitted.popleft()
    yield done_path, future.result()
