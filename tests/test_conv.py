"""dclf.models.conv: gradients equal to those of `lax.conv_general_dilated`, parameters equal to
`flax.linen.Conv`'s, and the fast kernel gradient used where it is meant to be (CPU)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from dclf.errors import UsageError
from dclf.models import conv as conv_lib

NHWC = ("NHWC", "HWIO", "NHWC")

# (input shape, kernel shape, strides, padding): the models' kernel shapes and strides on small
# images and batches.
CASES = {
  "vgg16 block1_conv1 3x3 3->64": ((2, 8, 8, 3), (3, 3, 3, 64), (1, 1), "SAME"),
  "vgg16 block2_conv1 3x3 64->128": ((2, 6, 6, 64), (3, 3, 64, 128), (1, 1), "SAME"),
  "vgg16 block4_conv2 3x3 512->512": ((1, 4, 4, 512), (3, 3, 512, 512), (1, 1), "SAME"),
  "resnet50 conv1 7x7/2 pad 3": ((2, 16, 16, 3), (7, 7, 3, 64), (2, 2), ((3, 3), (3, 3))),
  "resnet50 res3a_branch2a 1x1/2": ((2, 8, 8, 256), (1, 1, 256, 128), (2, 2), "SAME"),
  "resnet50 res5a_branch1 1x1/2 odd size": ((2, 7, 7, 64), (1, 1, 64, 96), (2, 2), "SAME"),
  "resnet50 1x1 1024->256": ((2, 4, 4, 1024), (1, 1, 1024, 256), (1, 1), "SAME"),
  "small_cnn conv1 3x3 3->8": ((4, 12, 12, 3), (3, 3, 3, 8), (1, 1), "SAME"),
  "3x3/2 SAME odd size (asymmetric padding)": ((2, 9, 9, 5), (3, 3, 5, 7), (2, 2), "SAME"),
  "3x3/2 VALID": ((2, 9, 10, 5), (3, 3, 5, 7), (2, 2), "VALID"),
  "2x3 kernel, strides (1, 2)": ((2, 7, 9, 4), (2, 3, 4, 6), (1, 2), ((1, 0), (0, 2))),
}


def _inputs(x_shape, k_shape, strides, padding, dtype):
  kx, kk, kg = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(kx, x_shape, jnp.float32).astype(dtype)
  kernel = (jax.random.normal(kk, k_shape, jnp.float32) / np.sqrt(np.prod(k_shape[:3]))).astype(dtype)
  y_shape = jax.eval_shape(lambda: lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=NHWC))
  dy = jax.random.normal(kg, y_shape.shape, jnp.float32).astype(dtype)
  return x, kernel, dy


def _vjp(conv, x, kernel, dy, strides, padding):
  y, vjp = jax.vjp(lambda x, k: conv(x, k, strides, padding, dimension_numbers=NHWC), x, kernel)
  return (y, *vjp(dy))


def _ours_and_lax(x, kernel, dy, strides, padding, monkeypatch, method="taps"):
  """(output, input gradient, kernel gradient) of dclf's convolution and of lax's, one program."""
  monkeypatch.setenv(conv_lib.ENV, method)
  return jax.jit(
    lambda *a: tuple(_vjp(c, *a, strides, padding) for c in (conv_lib.conv_general_dilated, lax.conv_general_dilated))
  )(x, kernel, dy)


@pytest.mark.parametrize("case", list(CASES))
def test_gradients_equal_lax_float32(case, monkeypatch):
  x_shape, k_shape, strides, padding = CASES[case]
  got, want = _ours_and_lax(*_inputs(x_shape, k_shape, strides, padding, jnp.float32), strides, padding, monkeypatch)
  for name, g, w in zip(("output", "input gradient", "kernel gradient"), got, want):
    assert g.shape == w.shape and g.dtype == w.dtype, name
    scale = float(jnp.max(jnp.abs(w)))
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=2e-6 * scale, err_msg=name)


@pytest.mark.parametrize(
  "case", ["vgg16 block2_conv1 3x3 64->128", "resnet50 conv1 7x7/2 pad 3", "3x3/2 SAME odd size (asymmetric padding)"]
)
def test_gradients_bfloat16_as_accurate_as_lax(case, monkeypatch):
  """bf16 inputs: the kernel gradient (accumulated in float32, rounded once) is as close to the
  exact gradient of the same bf16 values as lax's bf16 gradient is."""
  x_shape, k_shape, strides, padding = CASES[case]
  inputs = _inputs(x_shape, k_shape, strides, padding, jnp.bfloat16)
  got, lax_bf16 = _ours_and_lax(*inputs, strides, padding, monkeypatch)
  _, exact = _ours_and_lax(*(a.astype(jnp.float32) for a in inputs), strides, padding, monkeypatch)
  for name, g, ref, e in zip(("output", "input gradient", "kernel gradient"), got, lax_bf16, exact):
    assert g.dtype == jnp.bfloat16, name
    err = float(jnp.max(jnp.abs(g.astype(jnp.float32) - e)))
    lax_err = float(jnp.max(jnp.abs(ref.astype(jnp.float32) - e)))
    scale = float(jnp.max(jnp.abs(e)))
    assert err <= max(1.5 * lax_err, 2**-8 * scale), (name, err, lax_err, scale)


def _convolutions(method, k_shape, monkeypatch):
  """Convolutions in the program for y = conv(x, k) and dL/dk: the forward, plus the kernel
  gradient where it is XLA's. Traced and lowered only, on an output gradient of 2^21 elements."""
  monkeypatch.setenv(conv_lib.ENV, method)
  x = jax.ShapeDtypeStruct((2, 128, 64, k_shape[2]), jnp.float32)
  kernel = jax.ShapeDtypeStruct(k_shape, jnp.float32)
  dy = jax.ShapeDtypeStruct((2, 128, 64, k_shape[3]), jnp.float32)
  fn = jax.jit(lambda x, k, dy: _vjp(conv_lib.conv_general_dilated, x, k, dy, (1, 1), "SAME")[::2])
  return fn.lower(x, kernel, dy).as_text().count("stablehlo.convolution")


def test_kernel_gradient_method_on_cpu(monkeypatch):
  assert jax.default_backend() == "cpu"
  wide, narrow, one_by_one = (3, 3, 64, 128), (3, 3, 4, 8), (1, 1, 4, 8)
  big, small = (2, 128, 64, 128), (2, 64, 64, 128)  # output gradients of 2^21 and 2^20 elements
  assert conv_lib.use_taps_on_cpu(wide, big) and conv_lib.use_taps_on_cpu(one_by_one, (1, 2, 2, 8))
  assert not conv_lib.use_taps_on_cpu(narrow, big) and not conv_lib.use_taps_on_cpu(wide, small)
  assert _convolutions("auto", wide, monkeypatch) == 1  # matrix products for the kernel gradient
  assert _convolutions("auto", one_by_one, monkeypatch) == 1
  assert _convolutions("auto", narrow, monkeypatch) == 2  # XLA's convolution
  assert _convolutions("xla", wide, monkeypatch) == 2
  assert _convolutions("taps", narrow, monkeypatch) == 1


def test_unknown_method_is_an_error(monkeypatch):
  monkeypatch.setenv(conv_lib.ENV, "fastest")
  with pytest.raises(UsageError, match=conv_lib.ENV):
    conv_lib.conv_general_dilated(
      jnp.zeros((1, 4, 4, 1)), jnp.zeros((3, 3, 1, 1)), (1, 1), "SAME", dimension_numbers=NHWC
    )


@pytest.mark.parametrize("use_bias", [True, False])
def test_module_matches_flax_conv(use_bias, monkeypatch):
  """Same parameter tree (names, shapes, initial values), outputs and gradients (kernel, bias,
  input) as flax.linen.Conv, on a layer where `auto` computes the kernel gradient as per-tap
  matrix products on this CPU: 3x3/2 from 4 to 1024 channels, an output gradient of 2^21
  elements, the cheapest 3x3 layer over both thresholds (in x out >= 64 x 64, output >= 2^21)."""
  monkeypatch.setenv(conv_lib.ENV, "auto")
  kwargs = {"features": 1024, "kernel_size": (3, 3), "strides": 2, "padding": "SAME", "use_bias": use_bias}
  ours, theirs = conv_lib.Conv(**kwargs), nn.Conv(**kwargs)
  assert isinstance(ours, nn.Conv)
  x = jax.random.normal(jax.random.key(1), (2, 63, 63, 4))
  variables = ours.init(jax.random.key(2), x)
  reference = theirs.init(jax.random.key(2), x)
  assert jax.tree.structure(variables) == jax.tree.structure(reference)
  jax.tree.map(np.testing.assert_array_equal, variables, reference)
  assert set(variables["params"]) == ({"kernel", "bias"} if use_bias else {"kernel"})
  assert variables["params"]["kernel"].shape == (3, 3, 4, 1024)
  assert conv_lib.use_taps_on_cpu((3, 3, 4, 1024), ours.apply(variables, x).shape)

  def loss(module):
    return lambda v, x: jnp.sum(jnp.tanh(module.apply(v, x)) ** 2)

  ours_grad, theirs_grad = (jax.jit(jax.value_and_grad(loss(m), (0, 1))) for m in (ours, theirs))
  convolutions = [f.lower(variables, x).as_text().count("stablehlo.convolution") for f in (ours_grad, theirs_grad)]
  assert convolutions == [2, 3], "ours: forward and input gradient only; the kernel gradient is matrix products"
  got, want = ours_grad(variables, x), theirs_grad(variables, x)
  np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
  for g, w in zip(jax.tree.leaves(got[1]), jax.tree.leaves(want[1])):
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6 * float(jnp.max(jnp.abs(w))))


def test_module_routes_through_fast_kernel_gradient(monkeypatch):
  """A flax release that stopped honouring `conv_general_dilated` would silently lose the fast
  path: the module's kernel gradient must hold no convolution on CPU."""
  monkeypatch.setenv(conv_lib.ENV, "auto")
  module = conv_lib.Conv(128, (3, 3))
  x = jnp.ones((2, 128, 64, 64))
  variables = jax.eval_shape(module.init, jax.random.key(0), x)
  grad = jax.jit(jax.grad(lambda v: jnp.sum(module.apply(v, x) ** 2)))
  assert grad.lower(variables).as_text().count("stablehlo.convolution") == 1  # the forward only
