"""`Conv`: `flax.linen.Conv` whose kernel gradient is fast on CPUs.

The kernel (weight) gradient `jax.grad` derives from `lax.conv_general_dilated` is itself a
convolution: input and output gradient with batch and channels swapped, the output gradient
acting as a window the size of the image. XLA:CPU (jaxlib 0.10.2 hands float convolutions to
YNNPACK) runs that convolution 4-10x slower than the layer's forward convolution once the layer
has a hundred channels or more (openxla/xla#34273, jax-ml/jax#31662); it was two thirds of
VGG16's CPU training step.

On CPU backends `Conv` computes the kernel gradient of those layers as matrix products instead,
one per kernel tap (i, j), contracting over the batch and the output pixels:

    dkernel[i, j] = input_padded[:, i::s, j::s, :]^T . doutput      (in_channels x out_channels)

accumulated in float32. For 1x1 kernels that is one matrix product, faster than any convolution
XLA:CPU has for it. Layers with few channels (in x out < 64 x 64: small_cnn, VGG16's first
conv, ResNet50's conv1) or a small output gradient (under 2^21 elements: VGG16's head conv at
batch 8, small_cnn's conv5) keep XLA's gradient, which is as fast or faster there
(`benchmarks/conv_kernels.py` prints both for every VGG16 layer). The
forward pass and the input gradient are always XLA's. Other backends (GPU, TPU) keep XLA's
gradient: `lax.platform_dependent` picks at lowering time.

`DCLF_CONV_KERNEL_GRAD`, read when a step is traced, overrides the choice: `xla` is plain
`lax.conv_general_dilated` everywhere (no custom gradient), `taps` the matrix products for every
layer on every backend, `auto` (the default) as described above.

Parameters are `flax.linen.Conv`'s (`kernel` HWIO, `bias`), so checkpoints and converted Keras
weights load unchanged. Convolutions other than 2-D NHWC/HWIO ones without dilation or groups
(none in dclf's models) fall back to `lax.conv_general_dilated`.
"""

import functools
import math
import os
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from dclf.errors import UsageError

ENV = "DCLF_CONV_KERNEL_GRAD"
METHODS = ("auto", "xla", "taps")
_NHWC = ("NHWC", "HWIO", "NHWC")
# Under `auto`, kernels larger than 1x1 get the per-tap products on CPU for layers at least this
# wide (in_channels x out_channels) whose output gradient holds at least this many elements (8 MiB
# in float32). Below them XLA's kernel gradient is as fast or faster; above them, where the
# output gradient (the window of XLA's kernel-gradient convolution) outgrows the caches, it is
# 1.5-4x slower in wall time and runs on one core. Measured on an idle 2-core AMD EPYC
# (AVX-512, 32 MiB L3), jaxlib 0.10.2: benchmarks/conv_kernels.py.
MIN_TAPS_CHANNELS_PRODUCT = 64 * 64
MIN_TAPS_OUTPUT_ELEMENTS = 2**21


def kernel_grad_method() -> str:
  """The kernel-gradient method `DCLF_CONV_KERNEL_GRAD` selects (`auto` when unset)."""
  method = os.environ.get(ENV, "auto").strip().lower() or "auto"
  if method not in METHODS:
    raise UsageError(f"{ENV}={method!r}: expected one of {', '.join(METHODS)}")
  return method


def _conv(x, kernel, strides, padding, precision):
  return lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=_NHWC, precision=precision)


def kernel_grad_taps(x, dy, kernel_shape, strides, padding, precision=None):
  """The kernel gradient of a 2-D NHWC/HWIO convolution (explicit `padding` pairs), as one matrix
  product per kernel tap, accumulated in float32; returned in float32."""
  kh, kw, cin, cout = kernel_shape
  sh, sw = strides
  n, ho, wo, _ = dy.shape
  xp = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (*padding[0], 0), (*padding[1], 0), (0, 0, 0)))
  dy2 = dy.reshape(n * ho * wo, cout)
  taps = []
  for i in range(kh):
    for j in range(kw):
      xs = lax.slice(xp, (0, i, j, 0), (n, i + (ho - 1) * sh + 1, j + (wo - 1) * sw + 1, cin), (1, sh, sw, 1))
      taps.append(
        lax.dot_general(
          xs.reshape(n * ho * wo, cin),
          dy2,
          (((0,), (0,)), ((), ())),
          precision=precision,
          preferred_element_type=jnp.float32,
        )
      )
  return jnp.stack(taps).reshape(kernel_shape)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _conv_fast_kernel_grad(x, kernel, strides, padding, precision, method):
  return _conv(x, kernel, strides, padding, precision)


@jax.tree_util.register_static
class _Needed(tuple):
  """Which of (input, kernel) get a gradient: static, carried with the residuals."""


def _fwd(x, kernel, strides, padding, precision, method):
  y = _conv(x.value, kernel.value, strides, padding, precision)
  return y, (x.value, kernel.value, _Needed((x.perturbed, kernel.perturbed)))


def _bwd(strides, padding, precision, method, residuals, dy):
  x, kernel, (need_dx, need_dkernel) = residuals
  if isinstance(dy, SymbolicZero):
    return None, None

  # Transposes of the linear maps x -> conv(x, kernel) and kernel -> conv(x, kernel): the
  # gradients `jax.grad` takes, without re-tracing the forward convolution.
  def transpose(f, like, dy):
    return jax.linear_transpose(f, jax.ShapeDtypeStruct(like.shape, like.dtype))(dy)[0]

  dx = transpose(lambda x: _conv(x, kernel, strides, padding, precision), x, dy) if need_dx else None

  def taps(x, dy):
    return kernel_grad_taps(x, dy, kernel.shape, strides, padding, precision).astype(kernel.dtype)

  def xla(x, dy):
    return transpose(lambda k: _conv(x, k, strides, padding, precision), kernel, dy)

  dkernel = None
  if need_dkernel:
    dkernel = taps(x, dy) if method == "taps" else lax.platform_dependent(x, dy, cpu=taps, default=xla)
  return dx, dkernel


_conv_fast_kernel_grad.defvjp(_fwd, _bwd, symbolic_zeros=True)


def use_taps_on_cpu(kernel_shape, output_shape) -> bool:
  """Whether `auto` computes the kernel gradient as matrix products on CPU, for an NHWC output."""
  kh, kw, cin, cout = kernel_shape
  wide = cin * cout >= MIN_TAPS_CHANNELS_PRODUCT
  return (kh, kw) == (1, 1) or (wide and math.prod(output_shape) >= MIN_TAPS_OUTPUT_ELEMENTS)


def _is_nhwc(lhs_shape, rhs_shape, dimension_numbers) -> bool:
  if len(lhs_shape) != 4:
    return False
  return lax.conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers) == lax.conv_dimension_numbers(
    lhs_shape, rhs_shape, _NHWC
  )


def conv_general_dilated(
  lhs,
  rhs,
  window_strides,
  padding,
  lhs_dilation=None,
  rhs_dilation=None,
  dimension_numbers=None,
  feature_group_count=1,
  batch_group_count=1,
  precision=None,
  preferred_element_type=None,
):
  """`lax.conv_general_dilated` with the kernel gradient of `kernel_grad_method()`; same signature."""
  method = kernel_grad_method()
  plain = (
    method == "xla"
    or not _is_nhwc(lhs.shape, rhs.shape, dimension_numbers)
    or any(d != 1 for d in (lhs_dilation or ()) + (rhs_dilation or ()))
    or feature_group_count != 1
    or batch_group_count != 1
    or preferred_element_type is not None
    or lhs.dtype != rhs.dtype
  )
  if plain:
    return lax.conv_general_dilated(
      lhs,
      rhs,
      window_strides,
      padding,
      lhs_dilation,
      rhs_dilation,
      dimension_numbers,
      feature_group_count,
      batch_group_count,
      precision,
      preferred_element_type,
    )
  strides = tuple(window_strides)
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], strides, padding)
  padding = tuple(tuple(p) for p in padding)
  if method == "auto":
    out = jax.eval_shape(lambda x, k: _conv(x, k, strides, padding, precision), lhs, rhs)
    if not use_taps_on_cpu(rhs.shape, out.shape):
      return _conv(lhs, rhs, strides, padding, precision)
  return _conv_fast_kernel_grad(lhs, rhs, strides, padding, precision, method)


class Conv(nn.Conv):
  """`flax.linen.Conv` (same attributes, parameters and initialisers) computing its kernel
  gradient with `conv_general_dilated` above: matrix products over the kernel taps on CPU."""

  conv_general_dilated: Callable[..., Any] | None = conv_general_dilated
