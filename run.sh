#!/usr/bin/env bash
# envlearn's two commands, set-up free on a fresh Debian machine:
#   ./run.sh demo    the main job: SFT warm start, then GRPO vs ECHO on the terminal suite, then a report
#   ./run.sh test    the test suite
# Each first makes sure the system packages and the .venv are installed (idempotent, fast when done).
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(bubblewrap git python3 python3-pytest zip unzip procps faketime libfaketime chromium gdb gcc make)
PY=${PYTHON:-python3}

setup() {
  local need=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
  done
  if ((${#need[@]})); then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing Debian packages: ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  local stamp=.venv/.envlearn-installed want
  want=$(cat pyproject.toml adapters/*/pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing envlearn into .venv (torch CPU build pinned first) ..."
    .venv/bin/python -m pip install -q --upgrade pip
    # torch first and pinned: an unpinned resolve pulls a multi-GB CUDA build
    .venv/bin/python -m pip install -q "torch==2.13.0"
    local editables=(-e ".[dev,report,data]")
    for d in adapters/*/; do
      case "$d" in adapters/_template/) continue ;; esac
      [ -f "$d/pyproject.toml" ] && editables+=(-e "$d")
    done
    # setuptools prints an "Editable installation." warning block per editable package: quiet it
    PYTHONWARNINGS="ignore:Editable installation:UserWarning" \
      .venv/bin/python -m pip install -q "torch==2.13.0" "${editables[@]}"
    echo "$want" >"$stamp"
  fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  demo)
    setup
    exec .venv/bin/envlearn demo "$@"
    ;;
  test)
    setup
    exec .venv/bin/python -m pytest -n 2 "$@"
    ;;
  setup)
    setup
    ;;
  *)
    echo "usage: ./run.sh demo|test|setup [ARGS...]" >&2
    exit 2
    ;;
esac
