#!/usr/bin/env bash
# Create the framework study's environments, one per framework, from launch/study-envs.txt.
#
#   bash launch/study_envs.sh [--dry-run] --platform cpu|gpu|tpu [--envs jax,torch,keras] DIR
#   bash launch/study_envs.sh --interpreters DIR     (prints NAME=DIR/ENV/bin/python lines: the
#                                                     study's --python values, from the file's `serves`)
#
# Creates DIR/jax, DIR/torch and DIR/keras (or those of --envs): a virtual environment made by
# $PYTHON (default python3; CPython >= 3.11), the platform's pinned requirements, then dclf from this
# checkout (pip install -e '.[test]') constrained to those pins. An environment is complete once
# DIR/ENV/dclf-study-env.txt (its platform and pins) is written; a rerun skips complete ones with
# the same pins and makes the others again. Prints the study command with every environment's
# interpreter at the end (as a comment). --dry-run prints every command and runs none.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=launch/lib.sh
source "${ROOT}/launch/lib.sh"
PINS_FILE="${ROOT}/launch/study-envs.txt"
PYTHON="${PYTHON:-python3}"
PLATFORMS=(cpu gpu tpu)
MARKER=dclf-study-env.txt
INCOMPLETE=dclf-study-env.incomplete

usage() { sed -n '2,13p' "$0" >&2; exit 2; }

DRY_RUN=0
PLATFORM=""
ENVS=""
INTERPRETERS=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --platform) [[ $# -ge 2 ]] || usage; PLATFORM="$2"; shift ;;
    --platform=*) PLATFORM="${1#*=}" ;;
    --envs) [[ $# -ge 2 ]] || usage; ENVS="$2"; shift ;;
    --envs=*) ENVS="${1#*=}" ;;
    --interpreters) INTERPRETERS=1 ;;
    -h|--help) usage ;;
    -*) die "unknown option '$1' (--dry-run --platform --envs --interpreters)" ;;
    *) break ;;
  esac
  shift
done
[[ $# -eq 1 ]] || usage
DIR="$1"
[[ "${DIR}" == /* ]] || DIR="${PWD}/${DIR}"

# The pinned file: ENV FIELD VALUE... lines, '#' comments.
declare -A PINS SERVES
ALL_ENVS=()
while read -r env field values || [[ -n "${env}" ]]; do
  [[ -z "${env}" || "${env}" == \#* ]] && continue
  [[ -n "${values}" ]] || die "${PINS_FILE}: '${env} ${field}' has no values"
  case "${field}" in
    serves) SERVES[${env}]="${values}"; ALL_ENVS+=("${env}") ;;
    cpu|gpu|tpu) PINS[${env}/${field}]="${values}" ;;
    *) die "${PINS_FILE}: unknown field '${field}' (serves, cpu, gpu, tpu)" ;;
  esac
done < "${PINS_FILE}"

interpreters() {
  local env name
  for env in "${ALL_ENVS[@]}"; do
    for name in ${SERVES[${env}]}; do echo "${name}=${DIR}/${env}/bin/python"; done
  done
}

if [[ "${INTERPRETERS}" -eq 1 ]]; then interpreters; exit 0; fi

[[ -n "${PLATFORM}" ]] || die "--platform is required: cpu, gpu or tpu (the wheels to install)"
[[ " ${PLATFORMS[*]} " == *" ${PLATFORM} "* ]] || die "--platform ${PLATFORM}: one of ${PLATFORMS[*]}"
SELECTED=("${ALL_ENVS[@]}")
if [[ -n "${ENVS}" ]]; then
  IFS=, read -r -a SELECTED <<< "${ENVS}"
  for env in "${SELECTED[@]}"; do
    [[ -n "${SERVES[${env}]:-}" ]] || die "--envs: unknown environment '${env}' (${ALL_ENVS[*]})"
  done
fi
for env in "${SELECTED[@]}"; do
  [[ -n "${PINS[${env}/${PLATFORM}]:-}" ]] || die "${PINS_FILE}: no '${env} ${PLATFORM}' requirements"
  dir="${DIR}/${env}"
  if [[ -e "${dir}" && ! -f "${dir}/${MARKER}" && ! -f "${dir}/${INCOMPLETE}" ]]; then
    die "${dir} exists and is not an environment made by launch/study_envs.sh: move it or choose another DIR"
  fi
done

cd "${ROOT}"  # dclf is installed from this checkout: pip's '.[test]'
run "${PYTHON}" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "${PYTHON} is Python $("${PYTHON}" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo '?'): the study's environments need CPython >= 3.11 (set PYTHON)"

for env in "${SELECTED[@]}"; do
  dir="${DIR}/${env}"
  read -r -a pins <<< "${PINS[${env}/${PLATFORM}]}"
  want=("platform ${PLATFORM}" "${pins[@]}")
  if [[ -f "${dir}/${MARKER}" && "$(cat "${dir}/${MARKER}")" == "$(printf '%s\n' "${want[@]}")" ]]; then
    echo "# ${dir}: complete, ${PLATFORM}: ${pins[*]}"
    continue
  fi
  echo "# ${dir}: ${PLATFORM}: ${pins[*]}"
  if [[ -e "${dir}" ]]; then run rm -rf "${dir}"; fi
  run mkdir -p "${dir}"
  run touch "${dir}/${INCOMPLETE}"
  run "${PYTHON}" -m venv "${dir}"
  run "${dir}/bin/python" -m pip install --upgrade pip
  run "${dir}/bin/python" -m pip install "${pins[@]}"
  # Constraints take no extras: jax[tpu]==0.10.2 constrains jax==0.10.2.
  constraints=()
  for pin in "${pins[@]}"; do
    if [[ "${pin}" == *\[*\]* ]]; then pin="${pin%%\[*}${pin#*\]}"; fi
    constraints+=("${pin}")
  done
  write "${dir}/dclf-constraints.txt" "${constraints[@]}"
  run "${dir}/bin/python" -m pip install --constraint "${dir}/dclf-constraints.txt" --editable '.[test]'
  write "${dir}/${MARKER}" "${want[@]}"
  run rm "${dir}/${INCOMPLETE}"
done

study=("${DIR}/jax/bin/python" -m dclf.bench.study OUT_DIR --platform "${PLATFORM}")
while read -r interpreter; do study+=(--python "${interpreter}"); done < <(interpreters)
echo "# the study, each row with its environment's interpreter:"
echo "#   $(quote "${study[@]}")"
