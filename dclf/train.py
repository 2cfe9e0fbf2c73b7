"""`train_and_evaluate`: the training loop behind `python -m dclf.main`.

Data-parallel over every device of every process, resumable at any step: the model state and the
data position are checkpointed together, SIGTERM saves and exits 0, and rerunning the same
command continues where the last checkpoint left off.
"""

import os
import platform
import time
from pathlib import Path

import jax

from dclf import checkpoint, datasets, input_pipeline, models, objectives, parallel, runtime, state, steps, weights
from dclf.errors import UsageError, WeightsError
from dclf.evaluation import evaluator
from dclf.fileio import atomic_write_json
from dclf.inference import BatchPredictor
from dclf.prefetch import DeviceBatches
from dclf.progress import InputWait, MetricWriter, ProgressBar, Throughput, log, warn


def load_pretrained(config, initial: state.TrainState) -> state.TrainState:
  """`initial` with `config.init_from` (a Keras file or a dclf workdir) loaded over its random weights."""
  try:
    variables = weights.load(config.init_from, config.model, initial.variables(), bn_epsilon=config.bn_epsilon)
  except WeightsError as e:
    raise UsageError(
      f"config.init_from: {e} (see docs/weights.md; --config.init_from='' starts from random weights)"
    ) from None
  model = state.build_model(config, len(state.output_names(config)))
  return state.state_from_variables(model, initial.tx, variables)


def _check_fully_convolutional(config, num_classes: int) -> None:
  """Training on crops and evaluating on whole images needs parameters that do not depend on
  the input size (a global-average-pool head, not a flatten)."""
  if not 0 < config.train_crop_size <= config.image_size:
    raise UsageError(f"train_crop_size {config.train_crop_size} must be in 1..image_size ({config.image_size})")
  if not models.takes_any_size(state.build_model(config, num_classes), config.image_size, config.train_crop_size):
    raise UsageError(
      f"model {config.model} needs whole {config.image_size}x{config.image_size} inputs; "
      "train_crop_size works with fully convolutional models (small_cnn, sgdnet)"
    )


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
  return input_pipeline.model_keys(objectives.of_config(config).label_key)


def split_metrics(par, eval_fn, device_state, source, config) -> dict:
  """Loss and metrics (accuracy ...) over every example of `source` exactly once (padding masked
  out): the validation numbers of a run (`dclf.evaluation` writes the full reports)."""
  totals = {}
  for batch in input_pipeline.eval_batches(
    source, batch_size=_host_batch_size(config), workers=config.data_workers, keys=_model_keys(config)
  ):
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
    "versions": {**runtime.versions(), "python": platform.python_version()},
  }


def _device_batches(config, par, source, data_state) -> DeviceBatches:
  """The training batches, on the devices `config.prefetch_batches` ahead, from the saved position."""
  loader = input_pipeline.train_loader(
    source,
    global_batch_size=config.batch_size,
    seed=config.seed,
    workers=config.data_workers,
    crop_size=config.train_crop_size,
    keys=_model_keys(config),
    state=data_state.state,
  )
  put = lambda batch: par.put_batch(input_pipeline.split_for_devices(batch, len(par.devices)))
  return DeviceBatches(loader, put, data_state, depth=config.prefetch_batches)


def _log_input_wait(input_wait: InputWait, waited: float, config, loader) -> None:
  """The one warning of a run whose devices wait for input, with what to do about it."""
  if input_wait.first_time_bound(waited):
    remedies = input_pipeline.input_bound_remedies(
      loader.batches.source, loader.workers, datasets.convert_command(config)
    )
    warn(
      "input-bound: the devices waited for input %.0f%% of the last %d steps; try %s",
      100 * waited,
      config.log_every_steps,
      remedies,
    )


def _resume(checkpointer, step: int, initial: state.TrainState, data_state, writer) -> state.TrainState:
  """The state (and data position) of checkpoint `step`; metrics logged past it are dropped."""
  tree = checkpointer.restore(step, jax.device_get(initial.checkpoint_tree()), data_state)
  writer.truncate_after(step)
  log("resuming from checkpoint at step %d in %s", step, checkpointer.directory)
  if not checkpointer.has_data_state(step):
    log("the checkpoint holds no data position for %d process(es): the data order starts afresh", jax.process_count())
  return initial.from_checkpoint_tree(tree)


def _num_steps(config, train_examples: int) -> int:
  if config.num_train_steps > 0:
    return config.num_train_steps
  return config.num_epochs * max(train_examples // config.batch_size, 1)


def train_and_evaluate(config, workdir) -> dict:
  """Trains `config.model` on `config.dataset`, resuming from `workdir` if it holds a checkpoint.

  Returns the run summary, also written to `workdir/summary.json`.
  """
  state.validate(config)
  workdir = _prepare_workdir(workdir)
  par = parallel.create(config.parallelism)
  data = datasets.load(config, splits=(config.train_split, config.eval_split))
  output_names = objectives.of_config(config).output_names(data)
  config = config.copy_and_resolve_references()
  with config.unlocked():
    config.class_names = list(output_names)
  if config.train_crop_size:
    _check_fully_convolutional(config, len(output_names))

  checkpointer = checkpoint.Checkpointer(workdir, keep=config.keep_checkpoints)
  latest = checkpointer.latest_step()
  run_state = state.initial_state(config, len(output_names))
  if latest is None and config.init_from:  # a resumed run restores its own checkpoint instead
    run_state = load_pretrained(config, run_state)
  counts = models.count_params(run_state.variables(), run_state.trainable_keys)
  if jax.process_index() == 0:
    print(f"params: total={counts[0]} trainable={counts[1]}", flush=True)
  log("model %s on %d device(s) of %d process(es), %s", config.model, jax.device_count(), jax.process_count(), par.name)
  checkpoint.save_config(workdir, config)
  writer = MetricWriter(workdir)
  data_state = input_pipeline.DataState()
  if latest is not None:
    run_state = _resume(checkpointer, latest, run_state, data_state, writer)

  train_source, eval_source = data.splits[config.train_split], data.splits[config.eval_split]
  num_steps = _num_steps(config, len(train_source))
  compiled = steps.compile_steps(config, par)
  device_state = par.put_state(run_state)
  batches = _device_batches(config, par, train_source, data_state)
  input_wait = InputWait()

  def save(step):
    checkpointer.save(step, par.get_state(device_state.checkpoint_tree()), data_state)

  def run_eval(step):
    metrics = split_metrics(par, compiled.evaluate, device_state, eval_source, config)
    writer.write(step, metrics, "eval")
    log("step %d  %s accuracy %.4f on %d examples", step, config.eval_split, metrics["accuracy"], metrics["examples"])
    return metrics

  train_metrics, eval_metrics, preempted, metrics = {}, {}, False, None
  throughput = Throughput(config.batch_size)
  bar = ProgressBar(num_steps, int(run_state.step))
  with runtime.PreemptionGuard() as guard:
    for step in range(int(run_state.step) + 1, num_steps + 1):
      device_state, metrics = compiled.train(device_state, input_wait.next_batch(batches, metrics), compiled.rng)
      throughput.step_done(metrics)
      bar.update()
      if step % config.log_every_steps == 0 or step == num_steps:
        train_metrics = {k: float(v) for k, v in par.get_replicated(metrics).items()}
        rate = throughput.window_rate()
        waited = input_wait.window_fraction(throughput.last_window_s)
        log(
          "step %d/%d  loss %.4f  accuracy %.4f  %.1f images/s  input wait %.0f%%",
          step,
          num_steps,
          train_metrics["loss"],
          train_metrics["accuracy"],
          rate,
          100 * waited,
        )
        _log_input_wait(input_wait, waited, config, batches.loader)
        writer.write(step, {**train_metrics, "images_per_sec": rate, "input_wait": waited}, "train")
      if guard.should_stop(step):
        preempted = True
        save(step)
        log("SIGTERM: saved checkpoint at step %d; rerun the same command to resume", step)
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
    if evaluator.TEST_SPLIT in data.available_splits:
      predictor = BatchPredictor(par, device_state, compiled.predict)
      test_report = evaluator.evaluate_split(predictor, config, evaluator.TEST_SPLIT, workdir, final_step)
  checkpointer.wait()
  checkpointer.close()
  writer.close()
  summary = _summary(config, final_step, train_metrics, eval_metrics, counts, throughput.images_per_sec, par)
  summary.update(
    preempted=preempted,
    test_accuracy=test_report.get("accuracy"),
    input_wait_fraction=input_wait.fraction(throughput.total_seconds),
    data_format=data.data_format,
    data_workers=batches.loader.workers,
  )
  if jax.process_index() == 0:
    atomic_write_json(workdir / "summary.json", summary)
  return summary
