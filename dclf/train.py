"""`train_and_evaluate`: the training loop behind `python -m dclf.main`.

Data-parallel over every device of every process, resumable at any step: the model state and the
data position are checkpointed together, SIGTERM saves and exits 0, and rerunning the same
command continues where the last checkpoint left off.
"""

import functools
import os
import platform
import time
from pathlib import Path

import flax
import jax
import jax.numpy as jnp
import jaxlib

from dclf import checkpoint, datasets, evaluation, inference, input_pipeline, log, models, optim, parallel, steps
from dclf.errors import UsageError
from dclf.fileio import atomic_write_json
from dclf.metric_writers import MetricWriter
from dclf.preemption import PreemptionGuard
from dclf.preprocess import PREPROCESSORS
from dclf.progress import ProgressBar, Throughput
from dclf.train_state import TrainState, create_train_state, state_from_variables


def validate(config) -> None:
  """Checks the fields a run depends on before any work starts."""
  choices = {
      "model": models.CLASSIFIERS,
      "optimizer": optim.OPTIMIZERS,
      "parallelism": parallel.PARALLELISMS,
      "preprocess": PREPROCESSORS,
  }
  for field, known in choices.items():
    if config[field] not in known:
      raise UsageError(f"unknown {field} {config[field]!r}; known: {', '.join(sorted(known))}")
  for field in ("batch_size", "image_size", "log_every_steps", "checkpoint_every_steps"):
    if config[field] <= 0:
      raise UsageError(f"config.{field} must be positive, got {config[field]}")
  if config.batch_size % jax.device_count():
    raise UsageError(
        f"global batch_size {config.batch_size} does not divide by the {jax.device_count()} devices; "
        f"use a multiple of {jax.device_count()}")


def class_names(config) -> tuple[str, ...]:
  """The config's class names when it records them, else those of its dataset."""
  if config.get("class_names"):
    return tuple(config.class_names)
  if config.dataset == "synthetic":
    return datasets.SYNTHETIC_CLASSES
  from dclf import data  # pylint: disable=g-import-not-at-top
  return tuple(data.class_names(config.dataset))


# JAX's default threefry keys make XLA:CPU compile parameter initialisation very slowly (about
# 10x longer than the whole train step for small_cnn); rbg keys compile in seconds, are as
# deterministic for a given seed and backend, and are what large TPU runs commonly use.
PRNG_IMPL = "rbg"


def versions() -> dict:
  """The versions a run's numbers depend on (summary.json, benchmark records)."""
  return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "flax": flax.__version__}


def prng_key(seed: int):
  return jax.random.key(seed, impl=PRNG_IMPL)


def compute_dtype(config):
  return jnp.bfloat16 if config.half_precision else jnp.float32


def build_model(config, num_classes: int):
  return models.create_model(
      config.model,
      num_classes=num_classes,
      dtype=compute_dtype(config),
      bn_epsilon=config.bn_epsilon,
      bn_axis_name=steps.AXIS,
      frozen_bn_batch_stats=config.frozen_bn_batch_stats,
  )


def initial_state(config, num_classes: int | None = None, pretrained: bool = True) -> TrainState:
  """Freshly initialised state for `config`: random weights, then `config.init_from` if set and
  `pretrained` (a run resuming from its own checkpoint skips the conversion)."""
  num_classes = num_classes or len(class_names(config))
  model = build_model(config, num_classes)
  tx = optim.create_optimizer(config)
  state = create_train_state(model, tx, prng_key(config.seed), config.image_size)
  if config.init_from and pretrained:
    from dclf import weights  # pylint: disable=g-import-not-at-top
    try:
      variables = weights.load(config.init_from, config.model, state.variables(), bn_epsilon=config.bn_epsilon)
    except weights.WeightsError as e:
      raise UsageError(f"config.init_from: {e} (see docs/weights.md; --config.init_from='' starts from random "
                       "weights)") from None
    state = state_from_variables(model, tx, variables)
  return state


def _check_fully_convolutional(config, num_classes: int) -> None:
  """Training on crops and evaluating on whole images needs parameters that do not depend on
  the input size (a global-average-pool head, not a flatten)."""
  if not 0 < config.train_crop_size <= config.image_size:
    raise UsageError(f"train_crop_size {config.train_crop_size} must be in 1..image_size ({config.image_size})")
  if not models.takes_any_size(build_model(config, num_classes), config.image_size, config.train_crop_size):
    raise UsageError(f"model {config.model} needs whole {config.image_size}x{config.image_size} inputs; "
                     "train_crop_size works with fully convolutional models (small_cnn, sgdnet)")


def _prepare_workdir(workdir) -> Path:
  workdir = Path(workdir)
  try:
    workdir.mkdir(parents=True, exist_ok=True)
    probe = workdir / f".write_test.{os.getpid()}"
    probe.write_text("")
    probe.unlink()
  except OSError as e:
    raise UsageError(f"workdir {workdir} is not writable: {e.strerror or e}") from None
  return workdir


def _host_batch_size(config) -> int:
  return config.batch_size // jax.process_count()


def _model_keys(config) -> tuple[str, ...]:
  return input_pipeline.model_keys(steps.OBJECTIVES[config.multilabel].label_key)


def evaluate(par, eval_fn, device_state, source, config) -> dict:
  """Loss and metrics (accuracy ...) over every example of `source` exactly once (padding masked out)."""
  totals = {}
  for batch in input_pipeline.eval_batches(source, batch_size=_host_batch_size(config), workers=config.data_workers,
                                           keys=_model_keys(config)):
    batch = par.put_batch(input_pipeline.split_for_devices(batch, len(par.devices)))
    sums = par.get_replicated(eval_fn(device_state, batch))
    totals = {k: totals.get(k, 0.0) + float(v) for k, v in sums.items()}
  count = totals.pop("count", 0.0)
  return {**{k: v / max(count, 1.0) for k, v in totals.items()}, "examples": int(count)}


def _summary(config, step, train_metrics, eval_metrics, counts, images_per_sec, par) -> dict:
  return {
      "step": int(step),
      "train_loss": train_metrics.get("loss"),
      "train_accuracy": train_metrics.get("accuracy"),
      "eval_loss": eval_metrics.get("loss"),
      "eval_accuracy": eval_metrics.get("accuracy"),
      "eval_examples": eval_metrics.get("examples"),
      "eval_split": config.eval_split,
      "params_total": counts[0],
      "params_trainable": counts[1],
      "images_per_sec": images_per_sec,
      "images_per_sec_per_device": images_per_sec / jax.device_count() if images_per_sec else None,
      "devices": jax.device_count(),
      "local_devices": jax.local_device_count(),
      "processes": jax.process_count(),
      "parallelism": par.name,
      "device_kind": jax.devices()[0].device_kind,
      "platform": jax.devices()[0].platform,
      "model": config.model,
      "dataset": config.dataset,
      "batch_size": config.batch_size,
      "half_precision": bool(config.half_precision),
      "versions": {**versions(), "python": platform.python_version()},
  }


def _resume(checkpointer, step: int, state: TrainState, data_state, writer) -> TrainState:
  """The state (and data position) of checkpoint `step`; metrics logged past it are dropped."""
  tree = checkpointer.restore(step, jax.device_get(state.checkpoint_tree()), data_state)
  writer.truncate_after(step)
  log.info("resuming from checkpoint at step %d in %s", step, checkpointer.directory)
  if not checkpointer.has_data_state(step):
    log.info("the checkpoint holds no data position for %d process(es): the data order starts afresh",
             jax.process_count())
  return state.from_checkpoint_tree(tree)


def _num_steps(config, train_examples: int) -> int:
  if config.num_train_steps > 0:
    return config.num_train_steps
  return config.num_epochs * max(train_examples // config.batch_size, 1)


def train_and_evaluate(config, workdir) -> dict:
  """Trains `config.model` on `config.dataset`, resuming from `workdir` if it holds a checkpoint.

  Returns the run summary, also written to `workdir/summary.json`.
  """
  validate(config)
  workdir = _prepare_workdir(workdir)
  par = parallel.create(config.parallelism)
  data = datasets.load(config, splits=(config.train_split, config.eval_split))
  output_names = data.output_names(config.multilabel)
  config = config.copy_and_resolve_references()
  with config.unlocked():
    config.class_names = list(output_names)
  if config.train_crop_size:
    _check_fully_convolutional(config, len(output_names))

  checkpointer = checkpoint.Checkpointer(workdir, keep=config.keep_checkpoints)
  latest = checkpointer.latest_step()
  state = initial_state(config, len(output_names), pretrained=latest is None)
  counts = models.count_params(state.variables(), state.trainable_keys)
  if jax.process_index() == 0:
    print(f"params: total={counts[0]} trainable={counts[1]}", flush=True)
  log.info("model %s on %d device(s) of %d process(es), %s", config.model, jax.device_count(),
           jax.process_count(), par.name)
  checkpoint.save_config(workdir, config)
  writer = MetricWriter(workdir)
  data_state = input_pipeline.DataState()
  if latest is not None:
    state = _resume(checkpointer, latest, state, data_state, writer)

  train_source, eval_source = data.splits[config.train_split], data.splits[config.eval_split]
  num_steps = _num_steps(config, len(train_source))
  step_options = {"preprocess_mode": config.preprocess, "dtype": compute_dtype(config),
                  "multilabel": config.multilabel}
  train_fn = par.compile(functools.partial(steps.train_step, **step_options), num_sharded=1, num_broadcast=1,
                         donate_state=True)
  eval_fn = par.compile(functools.partial(steps.eval_step, **step_options))
  device_state = par.put_state(state)
  loader = input_pipeline.train_loader(train_source, global_batch_size=config.batch_size, seed=config.seed,
                                       workers=config.data_workers, crop_size=config.train_crop_size,
                                       keys=_model_keys(config))
  batches = input_pipeline.TrainBatches(loader, par.put_batch, len(par.devices), data_state)
  rng = prng_key(config.seed)

  def save(step):
    checkpointer.save(step, par.get_state(device_state.checkpoint_tree()), data_state)

  def run_eval(step):
    metrics = evaluate(par, eval_fn, device_state, eval_source, config)
    writer.write(step, metrics, "eval")
    log.info("step %d  %s accuracy %.4f on %d examples", step, config.eval_split, metrics["accuracy"],
             metrics["examples"])
    return metrics

  train_metrics, eval_metrics, preempted = {}, {}, False
  throughput = Throughput(config.batch_size)
  bar = ProgressBar(num_steps, int(state.step))
  with PreemptionGuard() as guard:
    for step in range(int(state.step) + 1, num_steps + 1):
      device_state, metrics = train_fn(device_state, next(batches), rng)
      throughput.step_done(metrics)
      bar.update()
      if step % config.log_every_steps == 0 or step == num_steps:
        train_metrics = {k: float(v) for k, v in par.get_replicated(metrics).items()}
        rate = throughput.window_rate()
        log.info("step %d/%d  loss %.4f  accuracy %.4f  %.1f images/s", step, num_steps, train_metrics["loss"],
                 train_metrics["accuracy"], rate)
        writer.write(step, {**train_metrics, "images_per_sec": rate}, "train")
      if guard.should_stop(step):
        preempted = True
        save(step)
        log.info("SIGTERM: saved checkpoint at step %d; rerun the same command to resume", step)
        break
      if step % config.checkpoint_every_steps == 0 or step == num_steps:
        save(step)
      if config.eval_every_steps > 0 and step % config.eval_every_steps == 0 and step != num_steps:
        started = time.perf_counter()
        eval_metrics = run_eval(step)
        throughput.pause_for(time.perf_counter() - started)
  bar.close()
  batches.close()

  final_step = int(par.get_replicated(device_state.step))
  test_report = {}
  if not preempted:
    eval_metrics = run_eval(final_step)
    if evaluation.TEST_SPLIT in data.available_splits:
      predictor = inference.BatchPredictor(par, device_state, config)
      test_report = evaluation.evaluate(predictor, config, evaluation.TEST_SPLIT, workdir, final_step)
  checkpointer.wait()
  checkpointer.close()
  writer.close()
  summary = _summary(config, final_step, train_metrics, eval_metrics, counts, throughput.images_per_sec, par)
  summary.update(preempted=preempted, test_accuracy=test_report.get("accuracy"))
  if jax.process_index() == 0:
    atomic_write_json(workdir / "summary.json", summary)
  return summary
