#!/usr/bin/env bash
# Set up a machine for reflectseq: system packages, language toolchains, the virtualenv.
# Idempotent and quick when everything is already there. Usage: scripts/bootstrap.sh [EXTRAS]
# (EXTRAS defaults to "dev,train"; the demo uses "local-llm").
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-dev,train}"
venv="${VENV:-.venv}"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# bubblewrap isolates sandboxed programs under libseccomp's system call filter; chromium drives
# the dashboard's browser tests.
packages=(bubblewrap libseccomp2)
[[ ",$extras," == *",dev,"* ]] && packages+=(chromium)
missing=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ -x sandbox_images/install-toolchains.sh ] && [ "${REFLECTSEQ_SKIP_TOOLCHAINS:-0}" != 1 ]; then
  sandbox_images/install-toolchains.sh
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating $venv with $python"
  "$python" -m venv "$venv"
fi
stamp="$venv/.installed-$(echo "$extras" | tr ',' '-')"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$venv/bin/pip" install -q --upgrade pip
  if [[ ",$extras," == *",train,"* ]]; then
    # The CPU wheel of this exact version is what the train extra pins; installing it first
    # keeps pip from resolving a CUDA build.
    "$venv/bin/pip" install -q "torch==2.13.0"
  fi
  if [[ ",$extras," == *",local-llm,"* ]]; then
    scripts/llama-wheel.sh "$venv"
  fi
  "$venv/bin/pip" install -q -e ".[$extras]"
  touch "$stamp"
fi
