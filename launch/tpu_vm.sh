#!/usr/bin/env bash
# Train dclf on a Cloud TPU VM or pod slice, from create to delete.
#
#   launch/tpu_vm.sh [--dry-run] STEP...      STEP: create install run logs delete (or: all)
#
# Settings (environment variables, shown with defaults):
#   TPU_NAME=dclf  ZONE=us-central2-b  ACCELERATOR_TYPE=v4-8  RUNTIME_VERSION=tpu-ubuntu2204-base
#   SPOT=1 (spot VM; 0 for on-demand)  PROJECT=(gcloud default)
#   REPO_URL=https://github.com/<you>/dclf.git  REPO_REF=main
#   BUCKET=gs://<bucket>/dclf   mounted with gcsfuse on every worker at MOUNT=/mnt/dclf, so the
#       workdir and the datasets outlive a preempted VM and every host sees the same files
#   CONFIG=configs/sgdnet.py  RUN_NAME=sgdnet  EXTRA_ARGS="--config.batch_size=1024"
#   DATA_DIR=$MOUNT/tensorflow_datasets  LOGS=./tpu_logs
#
# `run` starts the same command on all workers (--worker=all); dclf joins them with
# jax.distributed (--multihost=on). Preempted? Recreate the VM and run `install run` again:
# the run resumes from the newest checkpoint under $MOUNT/workdirs/$RUN_NAME.
set -euo pipefail

DRY_RUN=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY_RUN=1; shift; fi
if [[ $# -eq 0 ]]; then sed -n '2,20p' "$0"; exit 2; fi

TPU_NAME="${TPU_NAME:-dclf}"
ZONE="${ZONE:-us-central2-b}"
ACCELERATOR_TYPE="${ACCELERATOR_TYPE:-v4-8}"
RUNTIME_VERSION="${RUNTIME_VERSION:-tpu-ubuntu2204-base}"
SPOT="${SPOT:-1}"
PROJECT="${PROJECT:-}"
REPO_URL="${REPO_URL:-https://github.com/your-org/dclf.git}"
REPO_REF="${REPO_REF:-main}"
BUCKET="${BUCKET:-gs://your-bucket/dclf}"
MOUNT="${MOUNT:-/mnt/dclf}"
CONFIG="${CONFIG:-configs/sgdnet.py}"
RUN_NAME="${RUN_NAME:-$(basename "${CONFIG}" .py)}"
EXTRA_ARGS="${EXTRA_ARGS:-}"
DATA_DIR="${DATA_DIR:-${MOUNT}/tensorflow_datasets}"
LOGS="${LOGS:-./tpu_logs}"

gcloud_tpu=(gcloud compute tpus tpu-vm)
common=(--zone "${ZONE}")
if [[ -n "${PROJECT}" ]]; then common+=(--project "${PROJECT}"); fi

run() {
  if [[ "${DRY_RUN}" -eq 1 ]]; then printf '%q ' "$@"; printf '\n'; else "$@"; fi
}

on_all_workers() {
  run "${gcloud_tpu[@]}" ssh "${TPU_NAME}" "${common[@]}" --worker=all --command "$1"
}

step_create() {
  local spot=()
  if [[ "${SPOT}" == "1" ]]; then spot=(--spot); fi
  run "${gcloud_tpu[@]}" create "${TPU_NAME}" "${common[@]}" --accelerator-type "${ACCELERATOR_TYPE}" \
    --version "${RUNTIME_VERSION}" "${spot[@]}"
}

step_install() {
  local bucket_name="${BUCKET#gs://}"
  on_all_workers "set -euo pipefail
    sudo mkdir -p '${MOUNT}' && sudo chown \"\$USER\" '${MOUNT}'
    mountpoint -q '${MOUNT}' || gcsfuse --implicit-dirs --rename-dir-limit=200000 --only-dir '${bucket_name#*/}' '${bucket_name%%/*}' '${MOUNT}'
    if [ ! -d dclf ]; then git clone '${REPO_URL}' dclf; fi
    cd dclf && git fetch -q origin && git checkout -q '${REPO_REF}'
    python3 -m pip install -q -U 'jax[tpu]' && python3 -m pip install -q -e ."
}

step_run() {
  on_all_workers "cd dclf && python3 -m dclf.main --config '${CONFIG}' --workdir '${MOUNT}/workdirs/${RUN_NAME}' \
    --config.data_dir='${DATA_DIR}' --multihost=on ${EXTRA_ARGS} 2>&1 | tee -a \"\$HOME/dclf_${RUN_NAME}.log\""
}

step_logs() {
  run mkdir -p "${LOGS}"
  run "${gcloud_tpu[@]}" scp "${common[@]}" --worker=all "${TPU_NAME}:dclf_${RUN_NAME}.log" "${LOGS}/"
}

step_delete() {
  run "${gcloud_tpu[@]}" delete "${TPU_NAME}" "${common[@]}" --quiet
}

for step in "$@"; do
  case "${step}" in
    create|install|run|logs|delete) "step_${step}" ;;
    all) step_create; step_install; step_run; step_logs; step_delete ;;
    *) echo "error: unknown step '${step}' (create install run logs delete all)" >&2; exit 2 ;;
  esac
done
