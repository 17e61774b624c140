#!/usr/bin/env bash
# The GPU checks of the trainer in one call, a few minutes on one GPU:
#   1. the tests marked `gpu` (tests/trainer/test_devices.py): compact and masked student agree
#      on CUDA in fp32 and bf16; a bf16 run with activation checkpointing learns; LoRA trains
#      its adapters and the new-token rows only, and saves;
#   2. the student-pass benchmark on the 0.5B shape in bf16 with activation checkpointing,
#      fully fine-tuned and with LoRA (bench/trainer.py), which prints tokens/s.
# Prints PASS or FAIL per check, the benchmarks' tokens/s, and exits 0 when every check passed,
# 1 when one failed, 2 when this machine cannot run them (no CUDA GPU, or missing packages).
#
#   scripts/gpu-check.sh             # on a GPU machine with the project installed (dev, train)
#   scripts/gpu-check.sh --cpu       # the same steps on the CPU with the tiny model: checks
#                                    # this script and the CPU cases, says nothing of the GPU
# The Python used is $VENV/bin/python, else .venv/bin/python, else python3.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ -n "${VENV:-}" ]; then
  python="$VENV/bin/python"
elif [ -x .venv/bin/python ]; then
  python=.venv/bin/python
else
  python=python3
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

# What runs, and the time limits (seconds) that keep a GPU run under five minutes.
if [ "${1:-}" = "--cpu" ]; then
  device=cpu tests=(tests/trainer/test_devices.py -k cpu)
  bench_args=(--model tiny --dtype float32 --steps 1)
  tests_limit=600 bench_limit=600
else
  device=cuda tests=(tests/trainer -m gpu)
  bench_args=(--model 0.5b --dtype bfloat16)
  tests_limit=120 bench_limit=90
fi

# Can this machine run the checks at all? Say exactly what is missing.
"$python" - "$device" <<'PY' || exit 2
import importlib
import sys

missing = []
for name in ("torch", "transformers", "peft", "pytest", "pydantic", "yaml", "sqlalchemy"):
    try:
        importlib.import_module(name)
    except ImportError:
        missing.append(name)
if missing:
    sys.exit(
        f"gpu-check: NOT RUN: {sys.executable} lacks {', '.join(missing)}; install the project "
        "with pip install -e '.[dev,train]' (over a CUDA build of torch) or set VENV"
    )
import torch
import transformers

print(f"gpu-check: python {sys.executable}, torch {torch.__version__} (CUDA build "
      f"{torch.version.cuda or 'none'}), transformers {transformers.__version__}")
if sys.argv[1] == "cuda":
    if not torch.cuda.is_available():
        sys.exit("gpu-check: NOT RUN: no CUDA GPU is visible to torch on this machine")
    if not torch.cuda.is_bf16_supported():
        sys.exit(f"gpu-check: NOT RUN: {torch.cuda.get_device_name(0)} has no bf16 support")
    print(f"gpu-check: device {torch.cuda.get_device_name(0)}")
PY

failed=0
summary=()
log="$(mktemp -d -t gpu-check-XXXXXX)"

check() {  # check NAME SECONDS COMMAND...: run it under a time limit, record PASS or FAIL
  local name="$1" limit="$2" start status
  shift 2
  start=$SECONDS
  echo "== $name"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$log/$name.log"
  status=${PIPESTATUS[0]}
  if [ "$status" -eq 0 ]; then
    summary+=("PASS  $name ($((SECONDS - start)) s)")
  else
    [ "$status" -eq 124 ] && echo "gpu-check: $name ran past its $limit s"
    summary+=("FAIL  $name (exit $status, $((SECONDS - start)) s)")
    failed=1
  fi
}

check tests "$tests_limit" "$python" -m pytest -q -rs -p no:cacheprovider "${tests[@]}"
bench=("$python" bench/trainer.py --device "$device" "${bench_args[@]}" --checkpointing
  --threads "$(nproc)")
check bench-full "$bench_limit" "${bench[@]}"
check bench-lora "$bench_limit" "${bench[@]}" --lora

echo "== summary"
printf '%s\n' "${summary[@]}"
for name in bench-full bench-lora; do
  awk -v n="$name" '/^(masked|compact) +[0-9]/ {print n ": " $1 " " $2 " tokens/s, peak " $3 " MiB"}' \
    "$log/$name.log"
done
rm -rf "$log"
if [ "$failed" -ne 0 ]; then
  echo "gpu-check: FAIL"
  exit 1
fi
echo "gpu-check: PASS"
