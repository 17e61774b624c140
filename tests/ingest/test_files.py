"""Instruction files as ``reflectseq run`` reads them: every preset in every format, and errors
that name the line, row or item and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reflectseq.cli import app
from reflectseq.ingest.checker import InvalidInstructions
from reflectseq.ingest.files import problem_text, read_instruction_file
from reflectseq.ingest.mapping import FieldMapping, MappingError
from reflectseq.ingest.presets import preset_table
from reflectseq.ingest.records import InputFormat
from tests.ingest.layouts import FORMATS, LAYOUTS, SUFFIX, check_tasks, encode


def _write(tmp_path: Path, rows: list[dict[str, object]], input_format: InputFormat) -> Path:
    path = tmp_path / f"tasks{SUFFIX[input_format]}"
    path.write_bytes(encode(rows, input_format))
    return path


@pytest.mark.parametrize("input_format", FORMATS, ids=str)
@pytest.mark.parametrize("preset", sorted(LAYOUTS))
def test_each_preset_reads_in_each_format(
    tmp_path: Path, preset: str, input_format: InputFormat
) -> None:
    layout = LAYOUTS[preset]
    path = _write(tmp_path, layout.rows, input_format)

    specs = read_instruction_file(path, FieldMapping.from_options(preset=preset))

    check_tasks([spec.model_dump() for _, spec in specs], layout)


def test_every_shipped_preset_has_a_sample_layout_and_is_documented() -> None:
    docs = Path("docs/instructions.md").read_text(encoding="utf-8")
    for name in preset_table().presets:
        assert name in LAYOUTS
        assert f"`{name}`" in docs


@pytest.mark.parametrize("input_format", FORMATS, ids=str)
def test_own_layout_reads_in_each_format(tmp_path: Path, input_format: InputFormat) -> None:
    rows = [
        {"text": "Write add.", "language": "python", "tests": "assert add(1, 2) == 3"},
        {"text": "Write sub.", "language": "rs", "metadata": {"source": "mine"}},
    ]
    path = _write(tmp_path, rows, input_format)

    specs = read_instruction_file(path)

    assert [spec.language for _, spec in specs] == ["py", "rs"]  # aliases become codes
    assert specs[1][1].metadata == {"source": "mine"}


def test_field_options_map_columns_and_override_a_preset(tmp_path: Path) -> None:
    rows = [{"question": "Sum a list.", "test": "assert total([1]) == 1", "id": "q1"}]
    path = _write(tmp_path, rows, InputFormat.JSONL)
    mapping = FieldMapping.from_options(
        preset="evol-instruct",
        fields=["text=question", "tests=test", "metadata.task_id=id"],
        language="python",
    )

    ((position, spec),) = read_instruction_file(path, mapping)

    assert (position, spec.text, spec.tests, spec.language) == (
        1,
        "Sum a list.",
        "assert total([1]) == 1",
        "py",
    )
    assert spec.metadata == {"task_id": "q1"}


@pytest.mark.parametrize(
    ("options", "option", "message"),
    [
        ({"fields": ["txt=instruction"]}, "field", "unknown field 'txt'"),
        ({"fields": ["text"]}, "field", "is not FIELD=COLUMN"),
        ({"preset": "alpaca-ish"}, "preset", "unknown preset 'alpaca-ish'"),
        ({"language": "cobol"}, "language", "unknown language 'cobol'"),
    ],
)
def test_bad_mappings_name_the_option(
    options: dict[str, object], option: str, message: str
) -> None:
    with pytest.raises(MappingError) as caught:
        FieldMapping.from_options(**options)  # type: ignore[arg-type]
    assert caught.value.option == option
    assert message in caught.value.message


def test_a_missing_column_names_line_field_and_column(tmp_path: Path) -> None:
    rows = [{"instruction": "ok", "lang": "py"}, {"instrution": "typo", "lang": "py"}]
    path = _write(tmp_path, rows, InputFormat.JSONL)

    with pytest.raises(InvalidInstructions) as caught:
        read_instruction_file(
            path, FieldMapping.from_options(fields=["text=instruction", "language=lang"])
        )

    (problem,) = caught.value.problems
    assert problem_text(path, problem) == f"{path}:2: text: Field required (column 'instruction')"


def test_errors_name_csv_lines_parquet_rows_and_json_items(tmp_path: Path) -> None:
    rows = [{"text": "ok", "language": "py"}, {"text": "bad", "language": "cobol"}]
    mapping = FieldMapping()
    found = {}
    for input_format in FORMATS:
        path = _write(tmp_path, rows, input_format)
        with pytest.raises(InvalidInstructions) as caught:
            read_instruction_file(path, mapping)
        found[input_format] = problem_text(path, caught.value.problems[0])
    assert found[InputFormat.JSONL].endswith("tasks.jsonl:2: language: unknown language 'cobol'")
    assert found[InputFormat.CSV].endswith("tasks.csv:3: language: unknown language 'cobol'")
    assert found[InputFormat.PARQUET].endswith(
        "tasks.parquet: row 2: language: unknown language 'cobol'"
    )
    assert found[InputFormat.JSON].endswith(
        "tasks.json: item 1: language: unknown language 'cobol'"
    )


def test_unreadable_files_are_reported_not_raised(tmp_path: Path) -> None:
    broken = tmp_path / "tasks.parquet"
    broken.write_bytes(b"PAR1 but not really")
    not_array = tmp_path / "tasks.json"
    not_array.write_text(json.dumps({"text": "x", "language": "py"}))
    ragged = tmp_path / "tasks.csv"
    ragged.write_text("text,language\nok,py\nx,py,extra\n")
    for path, message in [
        (broken, "not a Parquet file"),
        (not_array, "must be an array of objects"),
        (ragged, "line 3: 3 cells but 2 columns"),
    ]:
        with pytest.raises(InvalidInstructions) as caught:
            read_instruction_file(path)
        assert message in str(caught.value)


def test_the_own_layout_still_refuses_unknown_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, [{"instruction": "x", "language": "py"}], InputFormat.CSV)
    with pytest.raises(InvalidInstructions) as caught:
        read_instruction_file(path)
    assert {p.field for p in caught.value.problems} == {("text",), ("instruction",)}


def test_run_refuses_a_bad_mapping_before_doing_anything(tmp_path: Path) -> None:
    path = _write(tmp_path, LAYOUTS["evol-instruct"].rows, InputFormat.JSONL)
    out = tmp_path / "out.jsonl"

    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--field", "txt=x"])

    assert result.exit_code == 2
    assert "--field: unknown field 'txt'" in result.output
    assert not out.exists()


def test_humaneval_rows_need_the_tests_and_entry_point_their_check_call_uses(
    tmp_path: Path,
) -> None:
    rows = [{"task_id": "a", "prompt": "def f():\n", "test": "def check(c): pass"}, {"prompt": "x"}]
    path = _write(tmp_path, rows, InputFormat.JSONL)
    with pytest.raises(InvalidInstructions) as caught:
        read_instruction_file(path, FieldMapping.from_options(preset="humaneval"))
    assert [problem_text(path, p) for p in caught.value.problems] == [
        f"{path}:1: entry_point: missing; the preset's tests need it",
        f"{path}:2: tests: missing; the preset's tests need it (column 'test')",
    ]
