"""Student pass benchmark: ``compact`` beside the reference's ``masked`` doubled batch.

Both modes run the same distillation loss (teacher CE + student CE + KL) with forward and
backward on the same model weights and the same batch, so the losses must agree; the script
prints tokens/s, peak memory and the loss of each, and the ratios compact / masked.

Each mode runs in its own process, so peak memory is measured cleanly: on CUDA the allocator's
peak, on CPU the growth of the peak resident set over the process's state after setup.

    .venv/bin/python bench/trainer.py                      # tiny model, CPU
    .venv/bin/python bench/trainer.py --model 0.5b --device cuda --dtype bfloat16 --checkpointing
    .venv/bin/python bench/trainer.py --model 0.5b --device cuda --dtype bfloat16 --lora

It fails (exit 1) when a mode's loss is not finite. scripts/gpu-check.sh runs it on a GPU.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import sys
import time
from pathlib import Path
from typing import Any

# Run as ``python bench/trainer.py``, this file's folder comes first on sys.path and its name
# would shadow the ``trainer`` package; the benchmark needs the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import torch  # noqa: E402

from reflectseq.format import Record, RecordBlock, RecordMessage  # noqa: E402
from trainer.config import DistillationConfig, LoraConfig  # noqa: E402
from trainer.data import Collator  # noqa: E402
from trainer.distill_trainer import batch_visibility  # noqa: E402
from trainer.loss import combine, distillation_sums, token_counts  # noqa: E402
from trainer.masks import parse_block_order  # noqa: E402
from trainer.model_setup import apply_lora, prepare  # noqa: E402
from trainer.tiny_model import TinyModelConfig, build_model, train_tokenizer  # noqa: E402
from trainer.tokenization import RecordTokenizer  # noqa: E402

MODELS: dict[str, dict[str, int]] = {
    # 1.0 M parameters (0.26 M of them in the two 1024-row embeddings), as the run prints:
    # small enough for two CPU cores.
    "tiny": {
        "vocab_size": 1024,
        "hidden_size": 128,
        "intermediate_size": 384,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
    },
    # Qwen2.5-0.5B's shape (vocabulary rows included), randomly initialised.
    "0.5b": {
        "vocab_size": 151936,
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
    },
}

_CODE = (
    "def solve(xs):\n    total = 0\n    for x in xs:\n        total += x * {i}\n    return total\n"
)
_TEXT = "The result for case {i} is wrong because the loop multiplies instead of adding. "
_EXEC = 'Traceback (most recent call last):\n  File "main.py", line {i}\nAssertionError: {i}\n'


def records(n: int, block_repeats: int) -> list[Any]:
    """Reflection records with long reflections and a short final answer, like real ones."""

    def block(kind: str, template: str, i: int) -> RecordBlock:
        return RecordBlock(
            type=kind, content="".join(template.format(i=i + k) for k in range(block_repeats))
        )

    out = []
    for i in range(n):
        reflection = [
            block(kind, template, i + j)
            for j, (kind, template) in enumerate(
                [("text", _TEXT), ("code", _CODE), ("execution", _EXEC)] * 2
            )
        ]
        out.append(
            Record(
                type="reflection",
                messages=[
                    RecordMessage(
                        role="user", content=[RecordBlock(type="text", content=_TEXT.format(i=i))]
                    ),
                    RecordMessage(role="assistant", content=reflection),
                    RecordMessage(
                        role="user",
                        content=[RecordBlock(type="text", content=_TEXT.format(i=i) * 2)],
                    ),
                    RecordMessage(
                        role="assistant",
                        content=[
                            RecordBlock(
                                type="text", content="```python\n" + _CODE.format(i=i) * 3 + "```"
                            )
                        ],
                    ),
                ],
            )
        )
    return out


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_mode(args: argparse.Namespace, student_pass: str, queue: Any) -> None:
    """One mode in a fresh process: setup, a warm-up step, then timed steps."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    data = records(args.batch, args.block_repeats)
    texts = [b.content for r in data for m in r.messages for b in m.content]
    tokenizer = train_tokenizer(texts * 4, vocab_size=1000, with_bos=True)
    shape = MODELS[args.model]
    tiny = TinyModelConfig(
        **{k: v for k, v in shape.items() if k != "vocab_size"}, max_position_embeddings=8192
    )
    with device:  # initialised where it runs: the 0.5B shape takes seconds on a CPU
        model: Any = build_model(tiny, shape["vocab_size"])
    prepare(model, tokenizer)
    if args.lora:
        model = apply_lora(model, LoraConfig())
    model.to(device=device, dtype=getattr(torch, args.dtype)).train()
    if args.checkpointing:
        model.gradient_checkpointing_enable({"use_reentrant": False})
    encoder = RecordTokenizer(tokenizer)
    batch = Collator(tokenizer.pad_token_id)(
        [{"record": encoder.encode(r), "index": i} for i, r in enumerate(data)]
    )
    batch = {k: v.to(device) for k, v in batch.items()}
    config = DistillationConfig(student_pass=student_pass)
    visible = batch_visibility(
        batch,
        list(config.strategies),
        block_order=parse_block_order("tce"),
        rate=args.rate,
        seed=0,
        step=0,
    )
    counts = token_counts(batch, distill=True)

    def step() -> float:
        model.zero_grad(set_to_none=True)
        loss = combine(
            distillation_sums(model, batch, visible, config, tokenizer.pad_token_id), counts, config
        )
        loss.backward()
        return float(loss.detach())

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = peak_rss_bytes()
    start = time.perf_counter()
    losses = [step() for _ in range(args.steps)]
    sync()
    elapsed = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() if device.type == "cuda" else peak_rss_bytes()) - base
    tokens = int(batch["attention_mask"].sum()) * args.steps
    hidden = int((batch["attention_mask"].bool() & ~visible).sum())
    queue.put(
        {
            "tokens_per_s": tokens / elapsed,
            "peak_mb": max(peak, 0) / 2**20,
            "loss": losses[-1],
            "seq_tokens": int(batch["attention_mask"].sum()) // args.batch,
            "hidden_share": hidden / int(batch["attention_mask"].sum()),
            "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
            "trainable_m": sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=sorted(MODELS), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument(
        "--block-repeats", type=int, default=6, help="Length of each reflection block."
    )
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument(
        "--rate", type=float, default=0.5, help="Mask rate (block_mask, order tce)."
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--checkpointing", action="store_true", help="Gradient checkpointing.")
    parser.add_argument(
        "--lora", action="store_true", help="LoRA adapters (the trainer's default lora: config)."
    )
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    results = {}
    for mode in ("masked", "compact"):
        queue = context.Queue()
        process = context.Process(target=run_mode, args=(args, mode, queue))
        process.start()
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"the {mode} run failed (exit code {process.exitcode})")
        results[mode] = queue.get()
    masked, compact = results["masked"], results["compact"]
    print(
        f"model {args.model} ({compact['params_m']:.1f} M params, "
        f"{compact['trainable_m']:.1f} M trained), {args.device} {args.dtype}"
        f"{', checkpointing' if args.checkpointing else ''}{', LoRA' if args.lora else ''}, "
        f"batch {args.batch} x ~{compact['seq_tokens']} tokens, mask rate {args.rate} "
        f"({compact['hidden_share']:.0%} of tokens hidden from the student), {args.steps} steps"
    )
    print(f"{'student pass':<14}{'tokens/s':>12}{'peak MiB':>12}{'loss':>14}")
    for mode in ("masked", "compact"):
        r = results[mode]
        print(f"{mode:<14}{r['tokens_per_s']:>12.0f}{r['peak_mb']:>12.1f}{r['loss']:>14.6f}")
    # Peak RSS growth can be 0 on the CPU when the warm-up step already reached the peak.
    memory = f"x{compact['peak_mb'] / masked['peak_mb']:.2f}" if masked["peak_mb"] > 0 else "n/a"
    print(
        f"compact / masked: tokens/s x{compact['tokens_per_s'] / masked['tokens_per_s']:.2f}, "
        f"peak memory {memory}, "
        f"|loss difference| {abs(compact['loss'] - masked['loss']):.2e}"
    )
    if not all(math.isfinite(results[mode]["loss"]) for mode in results):
        raise SystemExit("a loss is not finite")


if __name__ == "__main__":
    main()
