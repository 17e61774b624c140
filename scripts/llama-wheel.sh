#!/usr/bin/env bash
# Build llama-cpp-python (an sdist on PyPI) once per machine as a portable CPU wheel, cache it,
# and install it into the given virtualenv. Usage: scripts/llama-wheel.sh VENV
#
# Portable on purpose: a -march=native build picks up whatever the build host's CPU reports
# (AVX-512, AMX), and a virtual machine that reports AMX without enabling it dies with SIGILL
# at model load. AVX2/FMA/F16C covers every x86-64 host of the last decade. Only the library
# the loop uses is built: no multimodal (llava/mtmd) library, tools, examples, tests or server.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$1"
version="$(sed -n 's/.*"llama-cpp-python==\([0-9.]*\)".*/\1/p' pyproject.toml)"
flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
flags+=" -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
flags+=" -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
flags+=" -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF"
if [ "$(uname -m)" != x86_64 ]; then
  flags="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
  flags+=" -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF"
fi
key="$(printf '%s %s %s' "$version" "$flags" "$("$venv/bin/python" -c 'import sys; print(sys.version_info[:2])')" | sha256sum | cut -c1-16)"
cache="${REFLECTSEQ_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/reflectseq/wheels}/llama-cpp-python-$key"
if ! ls "$cache"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "bootstrap: building llama-cpp-python $version once (portable CPU build, a few minutes)"
  mkdir -p "$cache.partial"
  CMAKE_ARGS="$flags" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$venv/bin/pip" wheel -q --no-deps \
    --no-cache-dir --no-binary llama-cpp-python -w "$cache.partial" "llama-cpp-python==$version"
  rm -rf "$cache" && mv "$cache.partial" "$cache"
fi
"$venv/bin/pip" install -q --no-deps --force-reinstall "$cache"/llama_cpp_python-*.whl
