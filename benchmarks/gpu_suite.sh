#!/usr/bin/env bash
# The GPU numbers of docs/benchmarks.md: every model, fp32 and bf16, train and eval, JAX and the
# PyTorch reference, one framework per process (so each process's peak memory is its own).
#
#   bash benchmarks/gpu_suite.sh RESULTS_DIR [STEPS]     (MODELS="sgdnet softmax" to run fewer)
#
# Passes in order of what the study needs first, so a run cut short still has the main table:
# 1. JAX under pmap (the trainer's default) and PyTorch eager, NCHW;
# 2. PyTorch with channels-last;
# 3. JAX under jit + shard_map.
# PYTHON names the interpreter (default python3). Each record also lands in RESULTS_DIR/*.json;
# `python -m dclf.bench.records RESULTS_DIR` (see
# docs/benchmarks.md) prints them as one table.
set -uo pipefail
results=${1:?usage: gpu_suite.sh RESULTS_DIR [STEPS]}
steps=${2:-30}
read -ra models <<<"${MODELS:-sgdnet vgg16_transfer vgg16_scratch softmax}"
mkdir -p "$results"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv | tee "$results/gpu.txt" || true

bench() {  # NAME ARGS...: one dclf.benchmark process, its records in RESULTS_DIR/NAME.json
  local name=$1; shift
  echo "== $name: $*"
  "${PYTHON:-python3}" -m dclf.benchmark --steps "$steps" --warmup 5 --precision fp32,bf16 --json "$results/$name.json" "$@" \
    || echo "== $name failed (exit $?)"
}

for model in "${models[@]}"; do
  bench "${model}_jax_pmap" --config "configs/$model.py" --framework jax --parallelism pmap
  bench "${model}_torch" --config "configs/$model.py" --framework torch
done
for model in "${models[@]}"; do
  [[ $model == softmax ]] && continue  # one Dense layer: no convolution layout to change
  bench "${model}_torch_channels_last" --config "configs/$model.py" --framework torch --channels-last
done
for model in "${models[@]}"; do
  bench "${model}_jax_jit" --config "configs/$model.py" --framework jax --parallelism jit
done
