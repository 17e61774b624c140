"""An export as a Hugging Face dataset directory: ``datasets.load_dataset(DIR)`` reads it as is.

Layout::

    DIR/README.md          the dataset card: YAML front matter (the data files, their features,
                           the split size, a licence for the user to set) and, in words and
                           tables, what the manifest says
    DIR/data/train.jsonl   the export file itself (JSONL shards are what the trainer reads too)
    DIR/manifest.json      the export's manifest

The card is built from the manifest alone, so its counts are the manifest's by construction.
``push_to_hub`` uploads the directory; it is a thin call into ``huggingface_hub`` (the ``hub``
extra), which finds the token the usual way (``HF_TOKEN`` or ``hf auth login``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reflectseq.enums import ExportFormat
from reflectseq.export.spec import ExportSpec

DATA_DIR = "data"
MANIFEST_NAME = "manifest.json"
CARD_NAME = "README.md"
SPLIT = "train"

_STRING = {"dtype": "string"}
_RECORD_FEATURES: list[dict[str, Any]] = [
    {
        "name": "messages",
        "list": [
            {"name": "role", **_STRING},
            {
                "name": "content",
                "list": [{"name": "type", **_STRING}, {"name": "content", **_STRING}],
            },
        ],
    },
    {"name": "type", **_STRING},
]
# The features of each export format, in the card's ``dataset_info`` notation.
FEATURES: dict[ExportFormat, list[dict[str, Any]]] = {
    ExportFormat.REFLECTION: _RECORD_FEATURES,
    ExportFormat.GENERATION: _RECORD_FEATURES,
    ExportFormat.OPENAI: [
        {"name": "messages", "list": [{"name": "role", **_STRING}, {"name": "content", **_STRING}]}
    ],
    ExportFormat.SHAREGPT: [
        {
            "name": "conversations",
            "list": [{"name": "from", **_STRING}, {"name": "value", **_STRING}],
        }
    ],
}
FORMAT_SUMMARIES = {
    ExportFormat.REFLECTION: "ReflectionCoder records: the reflection instruction, the "
    "reflection sequence (text, code and execution blocks), the one-off instruction and the "
    "final answer; `type` is `reflection`",
    ExportFormat.GENERATION: "one-off pairs: the one-off instruction and the final answer; "
    "`type` is `generation`",
    ExportFormat.OPENAI: "chat messages with string contents (the four messages of the "
    "reflection record)",
    ExportFormat.SHAREGPT: "ShareGPT conversations (`human` / `gpt`) of the reflection record",
}


def hf_paths(out_dir: Path, spec: ExportSpec) -> tuple[Path, Path]:
    """Where the data file and the manifest of a dataset directory go."""
    name = f"{SPLIT}.jsonl.gz" if spec.gzip else f"{SPLIT}.jsonl"
    return out_dir / DATA_DIR / name, out_dir / MANIFEST_NAME


def _yaml_scalar(value: Any) -> str:
    # JSON's literals are YAML's: strings double-quoted, numbers and booleans as they are.
    return json.dumps(value, ensure_ascii=False)


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML of dicts, lists and scalars (the card's front matter needs no more)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, Mapping | list) and item:
                lines.append(f"{pad}{key}:\n{to_yaml(item, indent + 2)}")
            else:
                lines.append(f"{pad}{key}: {_yaml_scalar(item)}")
    else:
        for item in value:
            if isinstance(item, Mapping | list) and item:
                nested = to_yaml(item, indent + 2)
                lines.append(f"{pad}- {nested[indent + 2 :]}")
            else:
                lines.append(f"{pad}- {_yaml_scalar(item)}")
    return "\n".join(lines)


def card_metadata(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The card's front matter: what ``datasets`` and the Hub read."""
    export_format = ExportFormat(manifest["format"])
    return {
        "license": "unknown",
        "task_categories": ["text-generation"],
        "tags": list(dict.fromkeys(["code", "reflection", "reflectseq", export_format.value])),
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": SPLIT, "path": f"{DATA_DIR}/{manifest['file']}"}],
            }
        ],
        "dataset_info": {
            "features": FEATURES[export_format],
            # datasets checks num_examples against what it loads; num_bytes is the file's size.
            "splits": [
                {
                    "name": SPLIT,
                    "num_examples": manifest["counts"]["records"],
                    "num_bytes": manifest["bytes"],
                }
            ],
        },
    }


def _table(header: tuple[str, str], counts: Mapping[str, int]) -> str:
    rows = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    rows += [f"| {key} | {count} |" for key, count in counts.items()]
    if not counts:
        rows.append("| (none) | 0 |")
    return "\n".join(rows)


def _generators(configs: list[Mapping[str, Any]]) -> str:
    rows = [
        "| model | backend | prompt version | temperature | top_p | max tokens | max rounds |",
        "|---|---|---|---|---|---|---|",
    ]
    for config in configs:
        sampling = config.get("sampling") or {}
        rows.append(
            f"| {config['model']} | {config['backend']} | {config['prompt_version']} | "
            f"{sampling.get('temperature')} | {sampling.get('top_p')} | "
            f"{sampling.get('max_tokens')} | {config['max_rounds']} |"
        )
    return "\n".join(rows)


def render_card(manifest: Mapping[str, Any], title: str) -> str:
    """The README.md of a dataset directory, from the export's manifest."""
    counts = manifest["counts"]
    contamination = manifest.get("contamination", {})
    export_format = ExportFormat(manifest["format"])
    body = f"""# {title}

Reflection-sequence training data for code LLMs, made with reflectseq
{manifest["reflectseq_version"]}: for every instruction a model went through generate → execute →
analyze → fix, with every program run in a sandbox, then answered once more in one go (after
*ReflectionCoder*, arXiv 2405.17057). Format `{export_format.value}`:
{FORMAT_SUMMARIES[export_format]}.

```python
from datasets import load_dataset
dataset = load_dataset("path/to/this/directory")  # or the Hub repository
```

## Records

{counts["records"]} records in `{DATA_DIR}/{manifest["file"]}` (sha256 `{manifest["sha256"]}`),
exported {manifest["created_at"]}. {counts["excluded"]} were left out for their quality flags,
{counts["incomplete"]} were incomplete; {counts["edited_blocks"]} blocks carry reviewers' edits.

### By language

{_table(("language", "records"), counts["by_language"])}

### By verdict of the one-off answer

{_table(("verdict", "records"), counts["by_final_pass"])}

### By review

{_table(("review", "records"), counts["by_review"])}

### Quality flags raised by the records

{_table(("flag", "records"), counts["flagged"])}

### Left out, by flag

{_table(("flag", "records"), counts["excluded_by_flag"])}

## How it was made

Filters of the export:

```json
{json.dumps(manifest["filters"], indent=2, ensure_ascii=False)}
```

Generator configurations (prompt versions {", ".join(manifest["prompt_versions"]) or "none"}):

{_generators(manifest["generator_configs"])}

## Contamination

{contamination.get("method", "not recorded")}. A record counted under no benchmark below was
never checked against it.

### Records checked, per benchmark

{_table(("benchmark", "records"), contamination.get("records_checked_against", {}))}

## Licence

Not set: put the licence in the `license` field above and here. The instructions' own terms and
those of the generator models above apply to this data.

`{MANIFEST_NAME}` holds the export's full manifest.
"""
    return f"---\n{to_yaml(card_metadata(manifest))}\n---\n\n{body}"


def write_card(out_dir: Path, manifest_path: Path) -> Path:
    """Write ``README.md`` from the manifest; replaced atomically, never half-written."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    card = out_dir / CARD_NAME
    partial = card.with_name(f".{CARD_NAME}.part")
    partial.write_text(render_card(manifest, out_dir.resolve().name), encoding="utf-8")
    os.replace(partial, card)
    return card


def push_to_hub(out_dir: Path, repo_id: str, *, private: bool = False) -> str:
    """Upload the dataset directory to the Hub as a dataset repository; its URL.

    Raises ``ImportError`` without ``huggingface_hub`` and ``OSError`` / ``ValueError`` for
    what the Hub or the network refuse (offline mode, no token, a bad repository name).
    """
    from huggingface_hub import HfApi  # noqa: PLC0415 - optional (the `hub` extra)

    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    commit = api.upload_folder(
        folder_path=out_dir,
        repo_id=repo_id,
        repo_type="dataset",
        commit_message="Upload a reflectseq export",
    )
    return str(commit.repo_url)
