#!/usr/bin/env bash
# Run the framework-speed study on this host (a TPU VM's worker 0, a GPU node, a CPU machine), from
# this checkout: the environments, the datasets staged in local memory, the study, its folder copied.
#
#   bash launch/study.sh [--dry-run] --platform cpu|gpu|tpu OUT_DIR [STUDY_FLAG ...]
#
# 1. launch/study_envs.sh creates the environments of launch/study-envs.txt under ENVS_DIR (those
#    already complete are kept).
# 2. Each of DATASETS is copied from DATA_SOURCE (a gs:// URL, read with `gcloud storage`, or a
#    folder) to STAGE_DIR, and its raw copy made there if the source has none (python -m dclf.data
#    convert-raw; kept when up to date), for real-data runs that read pixels from memory, not through
#    gcsfuse or a network disk: the study's rows time synthetic batches (it has no real-data flag),
#    `python -m dclf.benchmark --rows ROW --real-data` reads the staged copy. DATASETS= (empty)
#    stages nothing.
# 3. python -m dclf.bench.study OUT_DIR --platform P with each row's interpreter, STUDY_FLAGs added,
#    TFDS_DATA_DIR=STAGE_DIR; its output also goes to OUT_DIR.log.
# 4. OUT_DIR is copied to RESULTS_DEST (a gs:// URL or a folder; empty: not copied), even when a
#    row failed; the exit code is the study's.
#
# Settings (environment variables, shown with defaults):
#   ENVS_DIR=$HOME/dclf-envs  PYTHON=python3 (CPython >= 3.11, for new environments)
#   DATASETS=distortions/blur_noise  DATA_SOURCE=${TFDS_DATA_DIR:-$HOME/tensorflow_datasets}
#   STAGE_DIR=/dev/shm/dclf-data  RESULTS_DEST=
# --dry-run prints every command (the environments' too) and runs none.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=launch/lib.sh
source "${ROOT}/launch/lib.sh"

usage() { sed -n '2,24p' "$0" >&2; exit 2; }

DRY_RUN=0
PLATFORM=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --platform) [[ $# -ge 2 ]] || usage; PLATFORM="$2"; shift ;;
    --platform=*) PLATFORM="${1#*=}" ;;
    -h|--help) usage ;;
    -*) die "unknown option '$1' before OUT_DIR (--dry-run --platform); study flags go after it" ;;
    *) break ;;
  esac
  shift
done
[[ $# -ge 1 ]] || usage
OUT_DIR="$1"
shift
[[ "${OUT_DIR}" == /* ]] || OUT_DIR="${PWD}/${OUT_DIR}"
case "${PLATFORM}" in
  cpu|gpu|tpu) ;;
  "") die "--platform is required: cpu, gpu or tpu (no row runs on another platform than asked)" ;;
  *) die "--platform ${PLATFORM}: one of cpu gpu tpu" ;;
esac

ENVS_DIR="${ENVS_DIR:-${HOME}/dclf-envs}"
DATASETS="${DATASETS-distortions/blur_noise}"
DATA_SOURCE="${DATA_SOURCE:-${TFDS_DATA_DIR:-${HOME}/tensorflow_datasets}}"
STAGE_DIR="${STAGE_DIR:-/dev/shm/dclf-data}"
RESULTS_DEST="${RESULTS_DEST:-}"
JAX_PYTHON="${ENVS_DIR}/jax/bin/python"
envs=(bash "${ROOT}/launch/study_envs.sh" --platform "${PLATFORM}" "${ENVS_DIR}")

# A copy between a gs:// URL and a folder (either side; only what differs is copied), or between
# folders.
copy_tree() {
  if [[ "$2" != gs://* ]]; then run mkdir -p "$2"; fi
  if [[ "$1" == gs://* || "$2" == gs://* ]]; then
    run gcloud storage rsync --recursive "$1" "$2"
  else
    run cp -a "$1/." "$2/"
  fi
}

echo "# 1. environments (launch/study-envs.txt, ${PLATFORM})"
if [[ "${DRY_RUN}" -eq 1 ]]; then "${envs[@]:0:2}" --dry-run "${envs[@]:2}"; else "${envs[@]}"; fi

echo "# 2. datasets staged in ${STAGE_DIR}: ${DATASETS:-none}"
for dataset in ${DATASETS}; do
  if [[ "${DATA_SOURCE%/}" != "${STAGE_DIR%/}" ]]; then copy_tree "${DATA_SOURCE%/}/${dataset}" "${STAGE_DIR}/${dataset}"; fi
  run "${JAX_PYTHON}" -m dclf.data convert-raw "${dataset}" --data_dir "${STAGE_DIR}"
done

echo "# 3. the study"
# A single-host study: on a multi-host TPU slice this host's chips form a slice of their own
# (TPU_PROCESS_BOUNDS, and TPU_HOST_BOUNDS for older runtimes), instead of waiting for the others.
study=(env)
if [[ -n "${DATASETS}" ]]; then study+=(TFDS_DATA_DIR="${STAGE_DIR}"); fi
if [[ "${PLATFORM}" == tpu ]]; then study+=("TPU_PROCESS_BOUNDS=1,1,1" "TPU_HOST_BOUNDS=1,1,1"); fi
study+=("${JAX_PYTHON}" -m dclf.bench.study "${OUT_DIR}" --platform "${PLATFORM}")
while read -r interpreter; do study+=(--python "${interpreter}"); done \
  < <(bash "${ROOT}/launch/study_envs.sh" --interpreters "${ENVS_DIR}")
study+=("$@")
run mkdir -p "${OUT_DIR}"
status=0
if [[ "${DRY_RUN}" -eq 1 ]]; then
  echo "$(quote "${study[@]}") 2>&1 | tee -a $(quote "${OUT_DIR}.log")"
else
  "${study[@]}" 2>&1 | tee -a "${OUT_DIR}.log" || status=$?
fi

echo "# 4. results: ${OUT_DIR} -> ${RESULTS_DEST:-(stays here)}"
if [[ -n "${RESULTS_DEST}" ]]; then copy_tree "${OUT_DIR}" "${RESULTS_DEST%/}/$(basename "${OUT_DIR}")"; fi
exit "${status}"
