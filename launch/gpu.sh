#!/usr/bin/env bash
# Train dclf on one GPU node with all its GPUs (one process; pmap or jit over the local devices).
#
#   launch/gpu.sh [--dry-run] CONFIG WORKDIR [--config.FIELD=VALUE ...]
#
# Install first: pip install -U 'jax[cuda12]' && pip install -e .
# Rerun the same command after an interruption: it resumes from WORKDIR's newest checkpoint.
set -euo pipefail

DRY_RUN=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY_RUN=1; shift; fi
if [[ $# -lt 2 ]]; then sed -n '2,7p' "$0"; exit 2; fi
CONFIG="$1"
WORKDIR="$2"
shift 2

# Let XLA take GPU memory as needed rather than 75% up front, so a PyTorch run beside it fits.
export XLA_PYTHON_CLIENT_PREALLOCATE="${XLA_PYTHON_CLIENT_PREALLOCATE:-false}"
cmd=(python -m dclf.main --config "${CONFIG}" --workdir "${WORKDIR}" --multihost=off "$@")
if [[ "${DRY_RUN}" -eq 1 ]]; then
  printf 'XLA_PYTHON_CLIENT_PREALLOCATE=%q ' "${XLA_PYTHON_CLIENT_PREALLOCATE}"; printf '%q ' "${cmd[@]}"; printf '\n'
else
  exec "${cmd[@]}"
fi
