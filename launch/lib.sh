# Shared by the launch scripts (sourced, not run): errors, and commands that --dry-run prints.
# shellcheck shell=bash

# One line `error: ...` on stderr, exit code 2 (bad input: nothing has been done).
die() { echo "error: $*" >&2; exit 2; }

# The words as a shell would read them back: plain words as they are, others in single quotes.
quote() {
  local word out=()
  for word in "$@"; do
    if [[ "${word}" =~ ^[A-Za-z0-9_./=:,@%+-]+$ ]]; then out+=("${word}"); else out+=("'${word//\'/\'\\\'\'}'"); fi
  done
  echo "${out[*]}"
}

# Runs a command, or prints it when DRY_RUN=1.
run() {
  if [[ "${DRY_RUN:-0}" -eq 1 ]]; then quote "$@"; else "$@"; fi
}

# `write FILE LINE...`: the lines into FILE, through a temporary name (printed under --dry-run).
write() {
  local file="$1"; shift
  if [[ "${DRY_RUN:-0}" -eq 1 ]]; then
    echo "$(quote printf '%s\n' "$@") > $(quote "${file}")"
  else
    printf '%s\n' "$@" > "${file}.tmp" && mv "${file}.tmp" "${file}"
  fi
}
