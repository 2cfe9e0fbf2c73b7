#!/usr/bin/env bash
# Train dclf on one GPU node with all its GPUs (one process; pmap or jit over the local devices), or
# run the framework-speed study there.
#
#   launch/gpu.sh [--dry-run] CONFIG WORKDIR [--config.FIELD=VALUE ...]
#   launch/gpu.sh [--dry-run] study OUT_DIR [STUDY_FLAG ...]
#
# Training: install first: pip install -U 'jax[cuda12]' && pip install -e . (or use the JAX
# environment of launch/study_envs.sh). Rerun the same command after an interruption: it resumes
# from WORKDIR's newest checkpoint.
# The study: launch/study.sh --platform gpu on this node (read it for its settings): the
# environments of launch/study-envs.txt under ENVS_DIR (default $HOME/dclf-envs), DATASETS staged
# from DATA_SOURCE (a gs:// URL or a folder; default $TFDS_DATA_DIR or ~/tensorflow_datasets) to
# local memory, the study with each row's interpreter over every GPU of the node, OUT_DIR copied to
# RESULTS_DEST (a gs:// URL or a folder) when set.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=launch/lib.sh
source "${ROOT}/launch/lib.sh"

dry_run=()
if [[ "${1:-}" == "--dry-run" ]]; then dry_run=(--dry-run); shift; fi
if [[ $# -lt 2 ]]; then sed -n '2,15p' "$0" >&2; exit 2; fi

if [[ "$1" == study ]]; then
  shift
  exec bash "${ROOT}/launch/study.sh" "${dry_run[@]}" --platform gpu "$@"
fi

CONFIG="$1"
WORKDIR="$2"
shift 2
# Let XLA take GPU memory as needed rather than 75% up front, so a PyTorch run beside it fits.
export XLA_PYTHON_CLIENT_PREALLOCATE="${XLA_PYTHON_CLIENT_PREALLOCATE:-false}"
cmd=(python -m dclf.main --config "${CONFIG}" --workdir "${WORKDIR}" --multihost=off "$@")
if [[ "${#dry_run[@]}" -eq 1 ]]; then
  echo "XLA_PYTHON_CLIENT_PREALLOCATE=$(quote "${XLA_PYTHON_CLIENT_PREALLOCATE}") $(quote "${cmd[@]}")"
else
  exec "${cmd[@]}"
fi
