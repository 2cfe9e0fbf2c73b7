"""Train/eval steps: pmap and jit agree, frozen features cost no backward pass and never change."""

import functools

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dclf import models, optim, parallel, steps
from dclf.input_pipeline import SyntheticSource
from dclf.state import create_train_state


def _state(name, config, image_size, **model_kwargs):
  model = models.create_model(name, num_classes=3, bn_axis_name=steps.AXIS, **model_kwargs)
  return create_train_state(model, optim.create_optimizer(config), jax.random.key(0), image_size)


def _frozen_small_cnn_state(config, image_size, frozen_bn_batch_stats=False):
  """The real Network/step machinery on a CPU-sized model with frozen BatchNorm features."""
  model = models.Network(
    features=models.SmallCNN(bn_axis_name=steps.AXIS),
    head=models.LinearHead(3, pool="avg"),
    freeze_features=True,
    frozen_bn_batch_stats=frozen_bn_batch_stats,
  )
  return create_train_state(model, optim.create_optimizer(config), jax.random.key(0), image_size)


def _abstract_state(name, config, image_size):
  """Shapes only: jaxprs of the real models without initialising or compiling them."""
  return jax.eval_shape(lambda: _state(name, config, image_size))


def _batches(image_size, batch_size, count):
  source = SyntheticSource(batch_size * count, image_size, 3, seed=1)
  for b in range(count):
    items = [source[b * batch_size + i] for i in range(batch_size)]
    yield {k: np.stack([it[k] for it in items]) for k in ("image", "label")}


@functools.cache
def _compiled_train_step(par_name, preprocess_mode="raw", dtype=jnp.float32):
  """One compiled step per (parallelism, preprocessing, dtype), reused across tests."""
  par = parallel.create(par_name)
  step = functools.partial(steps.train_step, preprocess_mode=preprocess_mode, dtype=dtype)
  return par, par.compile(step, num_broadcast=1)


def _train(par_name, state, image_size, num_steps=2, preprocess_mode="raw"):
  """Runs `num_steps` steps on two devices; returns the losses and the final state on the host."""
  par, fn = _compiled_train_step(par_name, preprocess_mode)
  device_state = par.put_state(state)
  losses = []
  for batch in _batches(image_size, 8, num_steps):
    device_state, metrics = fn(device_state, par.put_batch(batch), jax.random.key(3))
    losses.append(float(par.get_replicated(metrics)["loss"]))
  return losses, par.get_state(device_state.checkpoint_tree())


def _assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol), a, b)


def test_two_devices(tiny_config):
  assert jax.device_count() == 2, "conftest must force two host devices"


@pytest.mark.parametrize("name", ["softmax", "small_cnn"])
def test_pmap_and_jit_give_the_same_training(tiny_config, name):
  """Same loss, parameters and BatchNorm statistics (small_cnn trains BatchNorm, synchronised
  over the device axis in both)."""
  tiny_config.optimizer = "adam"
  state = _state(name, tiny_config, 32)
  losses_pmap, tree_pmap = _train("pmap", state, 32)
  losses_jit, tree_jit = _train("jit", state, 32)
  np.testing.assert_allclose(losses_pmap, losses_jit, rtol=1e-5)
  _assert_trees_close(tree_pmap["params"], tree_jit["params"])
  _assert_trees_close(tree_pmap["batch_stats"], tree_jit["batch_stats"])
  assert int(tree_pmap["step"]) == int(tree_jit["step"]) == 2
  moved = jax.tree.map(lambda a, b: not np.allclose(a, b), tree_pmap["batch_stats"], jax.device_get(state.batch_stats))
  assert name == "softmax" or all(jax.tree.leaves(moved))


def test_batchnorm_statistics_are_global_over_devices(tiny_config):
  """Two devices with half the batch each compute the statistics of the whole batch."""
  state = _state("small_cnn", tiny_config, 32)
  _, two_devices = _train("pmap", state, 32, num_steps=1)
  batch = next(_batches(32, 8, 1))
  images = jnp.asarray(batch["image"], jnp.float32)
  _, mutated = jax.vmap(
    lambda x: state.apply_fn(
      state.variables(), x, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(0)}
    ),
    axis_name=steps.AXIS,
  )(images[None])
  whole = jax.tree.map(lambda x: x[0], mutated["batch_stats"])
  _assert_trees_close(two_devices["batch_stats"], whole, rtol=1e-4, atol=1e-5)


def test_training_is_deterministic(tiny_config):
  state = _state("small_cnn", tiny_config, 32)
  first, second = _train("pmap", state, 32), _train("pmap", state, 32)
  assert first[0] == second[0]
  jax.tree.map(np.testing.assert_array_equal, first[1]["params"], second[1]["params"])


def _count_convs(jaxpr) -> int:
  count = 0
  for eqn in jaxpr.eqns:
    count += eqn.primitive.name == "conv_general_dilated"
    for sub in jax.extend.core.jaxprs_in_params(eqn.params):
      count += _count_convs(sub)
  return count


@pytest.mark.parametrize("name,trainable_convs", [("vgg16_transfer", 1), ("vgg16_scratch", 11)])
def test_frozen_features_have_no_backward_pass(tiny_config, name, trainable_convs):
  """Forward: 11 convs. Backward: a kernel gradient for every trainable conv, plus an input
  gradient for each trainable conv below another one; nothing below the frozen boundary."""
  state = _abstract_state(name, tiny_config, 32)
  batch = next(_batches(32, 2, 1))
  step = functools.partial(steps.train_step, preprocess_mode="raw")
  jaxpr = jax.make_jaxpr(jax.vmap(step, in_axes=(None, None, None), axis_name=steps.AXIS, axis_size=1))(
    state, batch, jax.random.key(0)
  )
  backward = _count_convs(jaxpr.jaxpr) - 11
  assert backward == trainable_convs + (trainable_convs - 1)


@pytest.mark.parametrize("name", ["vgg16_transfer", "sgdnet"])
def test_frozen_features_get_no_optimizer_state(tiny_config, name):
  tiny_config.optimizer = "rmsprop"
  state = _abstract_state(name, tiny_config, 224)
  opt_size = sum(x.size for x in jax.tree.leaves(state.opt_state) if len(x.shape) > 0)
  head_size = sum(x.size for x in jax.tree.leaves(state.params["head"]))
  assert opt_size == head_size  # RMSprop keeps one accumulator per trainable parameter
  assert head_size == {"vgg16_transfer": 105_136_643, "sgdnet": 1_539}[name]


def test_frozen_features_get_no_update(tiny_config):
  state = _frozen_small_cnn_state(tiny_config, 32)
  _, tree = _train("pmap", state, 32)
  jax.tree.map(np.testing.assert_array_equal, tree["params"]["features"], jax.device_get(state.params["features"]))
  changed = jax.tree.map(
    lambda a, b: not np.array_equal(a, b), tree["params"]["head"], jax.device_get(state.params["head"])
  )
  assert all(jax.tree.leaves(changed))


def test_frozen_batchnorm_runs_in_inference_mode(tiny_config):
  """Correct default: frozen BatchNorm uses (and keeps) its moving statistics; the Keras-quirk
  switch normalises with batch statistics instead; neither updates the moving statistics."""
  state = _frozen_small_cnn_state(tiny_config, 32)
  images = jnp.asarray(next(_batches(32, 4, 1))["image"], jnp.float32)
  variables = state.variables()
  in_axis = lambda s: jax.jit(
    jax.vmap(lambda x: s.apply_fn(variables, x, train=True, mutable=["batch_stats"])[0], axis_name=steps.AXIS)
  )(images[None])[0]
  eval_out = jax.jit(lambda x: state.apply_fn(variables, x, train=False))(images)
  np.testing.assert_allclose(in_axis(state), eval_out, rtol=1e-5, atol=1e-5)
  quirk = _frozen_small_cnn_state(tiny_config, 32, frozen_bn_batch_stats=True)
  assert not np.allclose(in_axis(quirk), eval_out, atol=1e-3)
  for s in (state, quirk):
    _, tree = _train("pmap", s, 32)
    jax.tree.map(np.testing.assert_array_equal, tree["batch_stats"], jax.device_get(s.batch_stats))


def test_half_precision_keeps_float32_parameters(tiny_config):
  model = models.create_model("small_cnn", num_classes=3, dtype=jnp.bfloat16, bn_axis_name=steps.AXIS)
  state = create_train_state(model, optim.create_optimizer(tiny_config), jax.random.key(0), 32)
  par, fn = _compiled_train_step("pmap", "caffe", jnp.bfloat16)
  device_state, metrics = fn(par.put_state(state), par.put_batch(next(_batches(32, 8, 1))), jax.random.key(0))
  assert np.isfinite(par.get_replicated(metrics)["loss"])
  assert {x.dtype for x in jax.tree.leaves(par.get_state(device_state.params))} == {np.dtype("float32")}


def test_eval_step_counts_masked_examples_once(tiny_config):
  state = _state("softmax", tiny_config, 32)
  par = parallel.create("jit")
  fn = par.compile(functools.partial(steps.eval_step, preprocess_mode="raw"))
  batch = next(_batches(32, 8, 1))
  batch["mask"] = np.array([1, 1, 1, 1, 1, 0, 0, 0], np.int32)
  sums = par.get_replicated(fn(par.put_state(state), par.put_batch(batch)))
  assert float(sums["count"]) == 5.0
  logits = state.apply_fn(state.variables(), jnp.asarray(batch["image"], jnp.float32))
  correct = (np.argmax(np.asarray(logits), -1) == batch["label"])[:5].sum()
  assert float(sums["accuracy"]) == correct


def test_keras_rmsprop_and_decay_semantics():
  """lr / (1 + decay * step) and epsilon outside the square root, as Keras 2.3 computes."""
  config = type("C", (), {"optimizer": "rmsprop", "learning_rate": 1e-3, "lr_decay": 2e-5, "get": lambda *a: 0})()
  tx = optim.create_optimizer(config)
  p = {"w": jnp.array([1.0, -2.0])}
  opt_state = tx.init(p)
  a = np.zeros(2)
  w = np.array([1.0, -2.0])
  for step in range(3):
    g = np.array([0.5, -0.25]) * (step + 1)
    updates, opt_state = tx.update({"w": jnp.asarray(g)}, opt_state, p)
    p = optax.apply_updates(p, updates)
    a = 0.9 * a + 0.1 * g**2
    w = w - (1e-3 / (1 + 2e-5 * step)) * g / (np.sqrt(a) + 1e-7)
  np.testing.assert_allclose(p["w"], w, rtol=1e-6)
