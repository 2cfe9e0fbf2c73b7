"""`train_and_evaluate`: the training loop behind `python -m dclf.main`.

Data-parallel over every device of every process, resumable at any step: the model state and the
data position are checkpointed together, SIGTERM or Ctrl-C saves and exits 0, and rerunning the
same command continues where the last checkpoint left off. Everything is checked before the
workdir is touched (`dclf.workdir`: lock, config comparison); a loss that turns NaN or infinite
stops the run before it saves a non-finite state.
"""

import gc
import json
import math
import platform
import time
from pathlib import Path

import jax
import numpy as np
from jax.experimental import multihost_utils

from dclf import checkpoint, datasets, input_pipeline, models, objectives, parallel, runtime, state, steps, weights
from dclf import workdir as workdirs
from dclf.distort import on_device
from dclf.errors import RunError, UsageError, WeightsError
from dclf.evaluation import evaluator
from dclf.fileio import atomic_write_json
from dclf.inference import BatchPredictor
from dclf.prefetch import DeviceBatches
from dclf.progress import (
  FirstCall,
  InputWait,
  MetricWriter,
  ProgressBar,
  StepProfile,
  Throughput,
  WindowMeans,
  log,
  tracked,
  warn,
)


def load_pretrained(config, initial: state.TrainState) -> state.TrainState:
  """`initial` with `config.init_from` (a Keras file or a dclf workdir) loaded over its random weights."""
  try:
    variables = weights.load(
      config.init_from, config.model, initial.variables(), bn_epsilon=config.bn_epsilon, preprocess=config.preprocess
    )
  except WeightsError as e:
    raise UsageError(
      f"config.init_from: {e} (see docs/weights.md; --config.init_from='' starts from random weights)"
    ) from None
  model = state.build_model(config, len(state.output_names(config)))
  return state.state_from_variables(model, initial.tx, variables)


def check_prerequisites(config, workdir) -> None:
  """Raises one error listing every input a run needs that is not there (its dataset, its
  pretrained weights), each with the command or doc that provides it: a user should not meet
  them one at a time. Reads the workdir, writes nothing."""
  missing = [datasets.missing(config)]
  if config.init_from and not checkpoint.saved_steps(workdir) and not Path(config.init_from).exists():
    # A run resuming from its own checkpoint does not read init_from again.
    missing.append(
      f"config.init_from {config.init_from} not found (docs/weights.md; --config.init_from='' starts from random weights)"
    )
  missing = [m for m in missing if m]
  if len(missing) == 1:
    raise UsageError(missing[0])
  if missing:
    raise UsageError(f"{len(missing)} prerequisites missing: {'; '.join(missing)}")


def finished_summary(workdir, num_steps: int) -> dict | None:
  """The summary of a run that already finished in `workdir` with `num_steps` or more steps (its
  newest checkpoint is the step its summary.json reports, not preempted); None when training or
  its final evaluation is left to do. Reads the workdir, writes nothing."""
  saved, path = checkpoint.saved_steps(workdir), Path(workdir) / "summary.json"
  if not saved or saved[-1] < num_steps or not path.exists():
    return None
  summary = json.loads(path.read_text())
  return summary if summary.get("step") == saved[-1] and not summary.get("preempted") else None


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


def check_device_distortions(config) -> None:
  """`config.distort_on_device` labels clean training photos with the classes it draws: with it, the
  dataset's train split must be clean and its classes the recipe's; without it, a clean train split
  would teach one class. Reads the dataset's names only (nothing is built)."""
  data = datasets.names(config.dataset)
  if not config.distort_on_device:
    if data.clean_train:
      raise UsageError(
        f"the train split of {config.dataset} holds clean photos only: set --config.distort_on_device=blur_noise "
        "to distort them in the train step (docs/data.md)"
      )
    return
  recipe = on_device.DEVICE_RECIPES[config.distort_on_device]
  if not data.clean_train:
    raise UsageError(
      f"config.distort_on_device distorts clean photos, but the train split of {config.dataset} is not clean: "
      "train on a dataset whose train split is clean (distortions/blur_noise_clean_sample, "
      "distortions/blur_noise_clean; docs/data.md), or set --config.distort_on_device=''"
    )
  if config.multilabel or tuple(data.class_names) != recipe.classes:
    raise UsageError(
      f"config.distort_on_device={config.distort_on_device} draws the single-label classes "
      f"{', '.join(recipe.classes)}; {config.dataset} has {', '.join(data.class_names)}"
      + (" and config.multilabel is set" if config.multilabel else "")
    )


def _host_batch_size(config) -> int:
  return config.batch_size // jax.process_count()


def _model_keys(config) -> tuple[str, ...]:
  return input_pipeline.model_keys(objectives.of_config(config).label_key)


def split_metrics(par, eval_fn, device_state, source, config) -> dict:
  """Loss and metrics (accuracy ...) over every example of `source` exactly once (padding masked
  out): the validation numbers of a run (`dclf.evaluation` writes the full reports)."""
  totals = {}
  batch_size = _host_batch_size(config)
  batches = input_pipeline.eval_batches(
    source, batch_size=batch_size, workers=config.data_workers, keys=_model_keys(config)
  )
  total = input_pipeline.num_eval_batches(len(source), batch_size)
  for batch in tracked(batches, total, f"evaluating on {config.eval_split}"):
    sums = par.get_replicated(eval_fn(device_state, par.put_batch(batch)))
    totals = {k: totals.get(k, 0.0) + float(v) for k, v in sums.items()}
  count = totals.pop("count", 0.0)
  return {**{k: v / max(count, 1.0) for k, v in totals.items()}, "examples": int(count)}


def _summary(config, step, train_metrics, eval_metrics, counts, images_per_sec, par) -> dict:
  return {
    "step": int(step),
    # Means over the last log_every_steps steps (train_steps_averaged: fewer after a late resume).
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
  return DeviceBatches(loader, par.put_batch, data_state, depth=config.prefetch_batches)


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


_NO_CHECKPOINT, _NONE_RESTORES = -1, -2  # what a process found, beside the step it restored


def _resume(checkpointer, initial: state.TrainState, data_state) -> state.TrainState | None:
  """The state (and data position) of the newest checkpoint that every process restores; None
  without one. Newer checkpoints, which do not restore, are set aside (moved, never deleted).
  Each process restores on its own, then all agree on the oldest of their steps: every process
  takes part in the same collectives, whatever it found (one raising alone would hang the rest)."""
  target, error = jax.device_get(initial.checkpoint_tree()), None
  try:
    found = checkpointer.restore_latest(target, data_state)
  except ValueError as e:
    found, error = None, e
  mine = found[0] if found else _NONE_RESTORES if error else _NO_CHECKPOINT
  steps = [int(s) for s in multihost_utils.process_allgather(np.int32(mine))] if jax.process_count() > 1 else [mine]
  if _NONE_RESTORES in steps:
    reason = error or f"process {steps.index(_NONE_RESTORES)} restores no checkpoint in {checkpointer.directory}"
    raise RunError(f"{reason}; they are left as they are: move them away to start afresh")
  if max(steps) == _NO_CHECKPOINT:
    return None
  if _NO_CHECKPOINT in steps:
    raise RunError(
      f"process {steps.index(_NO_CHECKPOINT)} sees no checkpoint in {checkpointer.directory}, the others do: "
      "every process needs the same workdir (a folder all hosts share)"
    )
  step = min(steps)
  tree = found[1] if step == mine else checkpointer.restore(step, target, data_state)
  checkpointer.set_aside_after(step)
  log("resuming from checkpoint at step %d in %s", step, checkpointer.directory)
  if not checkpointer.has_data_state(step):
    log("the checkpoint holds no data position for %d process(es): the data order starts afresh", jax.process_count())
  return initial.from_checkpoint_tree(tree)


def _check_finite(step: int, loss: float, state_tree, config, checkpointer) -> None:
  """Stops a diverged run (RunError) before it logs or saves a NaN or infinite loss or state."""
  what = f"the loss is {loss}" if not math.isfinite(loss) else None
  if what is None and state_tree is not None:
    bad = checkpoint.non_finite(state_tree)
    what = f"the state holds NaN or infinite values ({bad[0]})" if bad else None
  if what is None:
    return
  kept = checkpointer.latest_step()
  raise RunError(
    f"{what} at step {step}: the run diverged (is config.learning_rate={config.learning_rate:g} too high?) and "
    "stopped without saving it; "
    + (f"its checkpoints up to step {kept} are kept" if kept is not None else "no checkpoint was saved")
  )


def _num_steps(config, train_examples: int) -> int:
  if config.num_train_steps > 0:
    return config.num_train_steps
  return config.num_epochs * max(train_examples // config.batch_size, 1)


def train_and_evaluate(config, workdir) -> dict:
  """Trains `config.model` on `config.dataset`, resuming from `workdir` if it holds a checkpoint.

  Returns the run summary, also written to `workdir/summary.json`.
  """
  state.validate(config)
  check_device_distortions(config)
  workdir = workdirs.check_path(workdir)
  check_prerequisites(config, workdir)
  par = parallel.create(config.parallelism)
  data = datasets.load(config, splits=(config.train_split, config.eval_split))
  num_steps = _num_steps(config, len(data.splits[config.train_split]))
  finished = finished_summary(workdir, num_steps)
  if finished is not None:
    log(
      "%s: this run finished at step %d (summary.json); to train on, raise --config.num_train_steps or num_epochs",
      workdir,
      finished["step"],
    )
    return finished
  output_names = objectives.of_config(config).output_names(data)
  config = config.copy_and_resolve_references()
  with config.unlocked():
    config.class_names = list(output_names)
  if config.train_crop_size:
    _check_fully_convolutional(config, len(output_names))
  evaluator.check_image_size(config, data.splits[config.train_split][0]["image"].shape)
  try:
    with workdirs.open_run(workdir, config), runtime.PreemptionGuard() as guard:
      return _train(config, workdir, data, num_steps, par, guard)
  except KeyboardInterrupt:
    pass  # a second signal: raised again below, once the run's frames are released
  # Those frames hold batches in the data workers' shared memory, which grain unlinks when its
  # arrays are collected: collected now, or Python's resource tracker warns about them at exit.
  gc.collect()
  raise KeyboardInterrupt


def _train(config, workdir, data, num_steps: int, par, guard) -> dict:
  """The run itself, in a workdir opened for it."""
  run_state = state.initial_state(config, len(config.class_names))
  checkpointer = checkpoint.Checkpointer(workdir, keep=config.keep_checkpoints)
  data_state = input_pipeline.DataState()
  resumed = _resume(checkpointer, run_state, data_state)
  if resumed is not None:
    run_state = resumed
  elif config.init_from:  # a resumed run restores its own checkpoint instead
    run_state = load_pretrained(config, run_state)
  counts = models.count_params(run_state.variables(), run_state.trainable_keys)
  if jax.process_index() == 0:
    print(f"params: total={counts[0]} trainable={counts[1]}", flush=True)
  log("model %s on %d device(s) of %d process(es), %s", config.model, jax.device_count(), jax.process_count(), par.name)
  checkpoint.save_config(workdir, config)
  writer = MetricWriter(workdir)
  writer.truncate_after(int(run_state.step))  # a resumed run logs the steps past its checkpoint again

  train_source, eval_source = data.splits[config.train_split], data.splits[config.eval_split]
  compiled = steps.compile_steps(config, par)
  train_step, eval_step = FirstCall(compiled.train, "train step"), FirstCall(compiled.evaluate, "eval step")
  device_state = par.put_state(run_state)
  batches = _device_batches(config, par, train_source, data_state)
  input_wait = InputWait()
  log("reading the first batches ...")  # data workers start and decode: seconds on a CPU before compilation

  start = int(run_state.step)
  saved = [start] if resumed is not None else []

  def save(step, metrics=None):
    guard.abort_if_interrupted()  # a second signal: stop without saving
    if saved and saved[-1] == step:
      return
    tree = par.get_state(device_state.checkpoint_tree())
    loss = float(par.get_replicated(metrics)["loss"]) if metrics is not None else 0.0
    _check_finite(step, loss, tree, config, checkpointer)
    checkpointer.save(step, tree, data_state)
    saved.append(step)

  def run_eval(step):
    metrics = split_metrics(par, eval_step, device_state, eval_source, config)
    writer.write(step, metrics, "eval")
    log("step %d  %s accuracy %.4f on %d examples", step, config.eval_split, metrics["accuracy"], metrics["examples"])
    return metrics

  train_metrics, train_steps_averaged, eval_metrics, test_report, preempted, metrics = {}, None, {}, {}, False, None
  throughput = Throughput(config.batch_size)
  window = WindowMeans(config.log_every_steps)
  bar = ProgressBar(num_steps, start)
  profile = StepProfile(workdir / "profile", config.profile_steps, first_step=start + 1)
  try:
    for step in range(start + 1, num_steps + 1):
      device_state, metrics = train_step(device_state, input_wait.next_batch(batches, metrics), compiled.rng)
      profile.step_done(step, metrics)
      throughput.step_done(metrics)
      window.add(metrics)
      bar.update()
      if step % config.log_every_steps == 0 or step == num_steps:
        train_metrics, train_steps_averaged = window.read(par.get_replicated)
        _check_finite(step, train_metrics["loss"], None, config, checkpointer)
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
        break
      if step % config.checkpoint_every_steps == 0 or step == num_steps:
        save(step, metrics)
      if config.eval_every_steps > 0 and step % config.eval_every_steps == 0 and step != num_steps:
        started = time.perf_counter()
        eval_metrics = run_eval(step)
        throughput.pause_for(time.perf_counter() - started)
    if not preempted:
      final_step = int(par.get_replicated(device_state.step))
      eval_metrics = run_eval(final_step)
      predictor = BatchPredictor(par, device_state, FirstCall(compiled.predict, "predict step"))
      reports = {  # W/eval/<split>/: the validation split's report, and the test split's if there is one
        split: evaluator.evaluate_split(predictor, config, split, workdir, final_step)
        for split in dict.fromkeys((config.eval_split, evaluator.TEST_SPLIT))
        if split == config.eval_split or split in data.available_splits
      }
      test_report = reports.get(evaluator.TEST_SPLIT, {})
  except Exception:
    checkpointer.wait()  # the saves already under way complete; nothing newer is written
    if guard.received is None:
      raise
    # The signal reached a data worker in its first split second, before it ignores signals, and
    # ended it: the run stops as it would have after its current step.
    preempted = True
  finally:
    bar.close()
    profile.close()
    batches.close()

  final_step = int(par.get_replicated(device_state.step))
  if preempted and final_step == start and not saved:
    log("%s: stopped before the first step, nothing to save; rerun the same command to start", guard.reason)
  elif preempted:
    save(final_step, metrics)
    log("%s: saved checkpoint at step %d; rerun the same command to resume", guard.reason, final_step)
  checkpointer.wait()
  checkpointer.close()
  writer.close()
  summary = _summary(config, final_step, train_metrics, eval_metrics, counts, throughput.images_per_sec, par)
  summary.update(
    preempted=preempted,
    test_accuracy=test_report.get("accuracy"),
    train_steps_averaged=train_steps_averaged,
    input_wait_fraction=input_wait.fraction(throughput.total_seconds),
    data_format=data.data_format,
    data_workers=batches.loader.workers,
  )
  guard.abort_if_interrupted()
  if jax.process_index() == 0:
    atomic_write_json(workdir / "summary.json", summary)
  return summary
