#!/usr/bin/env bash
# Train dclf, or run the framework-speed study, on a Cloud TPU VM or pod slice, from create to delete.
#
#   launch/tpu_vm.sh [--dry-run] STEP...      STEP: create install run study logs delete (or: all)
#
# Settings (environment variables, shown with defaults):
#   TPU_NAME=dclf  ZONE=us-central2-b  ACCELERATOR_TYPE=v4-8  RUNTIME_VERSION=tpu-ubuntu2204-base
#   SPOT=1 (spot VM; 0 for on-demand)  PROJECT=(gcloud default)
#   REPO_URL=https://github.com/<you>/dclf.git  REPO_REF=main
#   BUCKET=gs://<bucket>/dclf   mounted with gcsfuse on every worker at MOUNT=/mnt/dclf, so the
#       workdir and the datasets outlive a preempted VM and every host sees the same files
#   VM_DIR=/opt/dclf   on every worker: envs/ (launch/study-envs.txt's environments), studies/
#   VM_PYTHON=python3.11   (from Ubuntu's packages; jax 0.10.2 needs CPython >= 3.11)
#   CONFIG=configs/sgdnet.py  RUN_NAME=sgdnet  EXTRA_ARGS="--config.batch_size=1024"
#   DATA_DIR=$MOUNT/tensorflow_datasets  LOGS=./tpu_logs
#   STUDY_NAME=study-$ACCELERATOR_TYPE  STUDY_ARGS="--models softmax,sgdnet"  RESULTS=./tpu_results
#   DATASETS=distortions/blur_noise  STAGE_DIR=/dev/shm/dclf-data
#
# `install` sets up every worker: the bucket mounted, this repository cloned, the JAX environment
# of launch/study-envs.txt (jax[tpu], pinned). `run` starts the same command on all workers
# (--worker=all); dclf joins them with jax.distributed (--multihost=on). Preempted? Recreate the VM
# and run `install run` again: the run resumes from the newest checkpoint under
# $MOUNT/workdirs/$RUN_NAME.
#
# `study` runs launch/study.sh on worker 0 only: a single-host study (every row data-parallel over
# that host's chips; on a multi-host slice the other workers stay idle). There it creates the
# PyTorch/torch_xla and Keras/TensorFlow environments too, copies DATASETS from
# $BUCKET/tensorflow_datasets to STAGE_DIR (the VM's memory; gcsfuse cannot feed a raw copy's
# 3.6 GB/s), runs python -m dclf.bench.study with each row's interpreter, and copies the study's
# folder to $BUCKET/studies/ (it outlives the VM) and then here, to $RESULTS/$STUDY_NAME.
# A failed row does not stop the steps after `study`; the exit code is 1 then.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=launch/lib.sh
source "${ROOT}/launch/lib.sh"

STEPS=(create install run study logs delete)
DRY_RUN=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY_RUN=1; shift; fi
if [[ $# -eq 0 ]]; then sed -n '2,32p' "$0" >&2; exit 2; fi
for step in "$@"; do
  [[ " ${STEPS[*]} all " == *" ${step} "* ]] || die "unknown step '${step}' (${STEPS[*]} all)"
done

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
VM_DIR="${VM_DIR:-/opt/dclf}"
VM_PYTHON="${VM_PYTHON:-python3.11}"
CONFIG="${CONFIG:-configs/sgdnet.py}"
RUN_NAME="${RUN_NAME:-$(basename "${CONFIG}" .py)}"
EXTRA_ARGS="${EXTRA_ARGS:-}"
DATA_DIR="${DATA_DIR:-${MOUNT}/tensorflow_datasets}"
LOGS="${LOGS:-./tpu_logs}"
STUDY_NAME="${STUDY_NAME:-study-${ACCELERATOR_TYPE}}"
STUDY_ARGS="${STUDY_ARGS:-}"
RESULTS="${RESULTS:-./tpu_results}"
DATASETS="${DATASETS-distortions/blur_noise}"
STAGE_DIR="${STAGE_DIR:-/dev/shm/dclf-data}"

gcloud_tpu=(gcloud compute tpus tpu-vm)
common=(--zone "${ZONE}")
if [[ -n "${PROJECT}" ]]; then common+=(--project "${PROJECT}"); fi
ENVS="${VM_DIR}/envs"
STUDY_DIR="${VM_DIR}/studies/${STUDY_NAME}"
STUDY_STATUS=0

on_workers() {  # WORKERS COMMAND
  run "${gcloud_tpu[@]}" ssh "${TPU_NAME}" "${common[@]}" --worker="$1" --command "$2"
}

step_create() {
  local spot=()
  if [[ "${SPOT}" == "1" ]]; then spot=(--spot); fi
  run "${gcloud_tpu[@]}" create "${TPU_NAME}" "${common[@]}" --accelerator-type "${ACCELERATOR_TYPE}" \
    --version "${RUNTIME_VERSION}" "${spot[@]}"
}

step_install() {
  local bucket_name="${BUCKET#gs://}"
  on_workers all "set -euo pipefail
    sudo mkdir -p '${MOUNT}' '${VM_DIR}' && sudo chown \"\$USER\" '${MOUNT}' '${VM_DIR}'
    mountpoint -q '${MOUNT}' || gcsfuse --implicit-dirs --rename-dir-limit=200000 --only-dir '${bucket_name#*/}' '${bucket_name%%/*}' '${MOUNT}'
    command -v '${VM_PYTHON}' >/dev/null || { sudo apt-get update -q && sudo apt-get install -y -q '${VM_PYTHON}' '${VM_PYTHON}-venv'; }
    if [ ! -d dclf ]; then git clone '${REPO_URL}' dclf; fi
    cd dclf && git fetch -q origin && git checkout -q '${REPO_REF}'
    PYTHON='${VM_PYTHON}' bash launch/study_envs.sh --platform tpu --envs jax '${ENVS}'"
  if [[ "${DRY_RUN}" -eq 1 ]]; then
    echo "#   on every worker, launch/study_envs.sh runs:"
    PYTHON="${VM_PYTHON}" bash "${ROOT}/launch/study_envs.sh" --dry-run --platform tpu --envs jax "${ENVS}" | sed 's/^/#   /'
  fi
}

step_run() {
  on_workers all "cd dclf && '${ENVS}/jax/bin/python' -m dclf.main --config '${CONFIG}' --workdir '${MOUNT}/workdirs/${RUN_NAME}' \
    --config.data_dir='${DATA_DIR}' --multihost=on ${EXTRA_ARGS} 2>&1 | tee -a \"\$HOME/dclf_${RUN_NAME}.log\""
}

# shellcheck disable=SC2317  # reached as "step_${step}" (not part of `all`)
step_study() {
  local settings=(ENVS_DIR="${ENVS}" PYTHON="${VM_PYTHON}" DATASETS="${DATASETS}" STAGE_DIR="${STAGE_DIR}"
    DATA_SOURCE="${BUCKET}/tensorflow_datasets" RESULTS_DEST="${BUCKET}/studies")
  local study=(bash launch/study.sh --platform tpu "${STUDY_DIR}") study_args
  read -r -a study_args <<< "${STUDY_ARGS}"  # words, as EXTRA_ARGS
  study+=("${study_args[@]}")
  on_workers 0 "cd dclf && $(quote env "${settings[@]}" "${study[@]}")" || STUDY_STATUS=$?
  if [[ "${DRY_RUN}" -eq 1 ]]; then
    echo "#   on worker 0, launch/study.sh runs:"
    env "${settings[@]}" "${study[0]}" "${ROOT}/${study[1]}" --dry-run "${study[@]:2}" | sed 's/^/#   /'
  fi
  run mkdir -p "${RESULTS}"
  run "${gcloud_tpu[@]}" scp "${common[@]}" --worker=0 --recurse "${TPU_NAME}:${STUDY_DIR}" \
    "${TPU_NAME}:${STUDY_DIR}.log" "${RESULTS}/"
}

step_logs() {
  run mkdir -p "${LOGS}"
  run "${gcloud_tpu[@]}" scp "${common[@]}" --worker=all "${TPU_NAME}:dclf_${RUN_NAME}.log" "${LOGS}/"
}

step_delete() {
  run "${gcloud_tpu[@]}" delete "${TPU_NAME}" "${common[@]}" --quiet
}

for step in "$@"; do
  if [[ "${step}" == all ]]; then step_create; step_install; step_run; step_logs; step_delete; else "step_${step}"; fi
done
exit "${STUDY_STATUS}"
