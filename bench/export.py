"""Export throughput and memory against ``psql \\copy`` of the same rows, in one run.

Inserts N sequences (12 blocks each, the loop's four-message layout) straight into a throw-away
Postgres database with COPY, in two instruction sets: the first holds a tenth of them. Then it
exports, each in a fresh child process so peak RSS is the export's own:

* the small set alone (N/10 sequences) and everything (N sequences) as reflection JSONL;
* the same block rows of everything as JSON with ``psql \\copy`` (the baseline rate).

It prints sequences/s for both and their ratio, and peak RSS for N/10 and N.
Targets: ratio >= 0.5; peak RSS < 300 MB at 100k and within 10% of the 10k figure.

    .venv/bin/python bench/export.py [--sequences 100000] [--server URL]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from tempfile import TemporaryDirectory

import psycopg
from sqlalchemy.engine import make_url

from reflectseq.db.scratch import scratch_database

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TEXT = "Let me think about the edge cases first: empty input, one element, duplicates. " * 3
CODE = (
    "def solve(values):\n    seen = set()\n    out = []\n    for v in values:\n"
    "        if v not in seen:\n            seen.add(v)\n            out.append(v)\n"
    "    return out\n\nassert solve([1, 2, 2, 3]) == [1, 2, 3]\nassert solve([]) == []\n"
)
EXECUTION = 'Traceback (most recent call last):\n  File "main.py", line 11\nAssertionError\n'
# (message index, role, stage, [(kind, content, execution_status)])
LAYOUT = [
    (0, "user", "reflection", [("text", TEXT, None)]),
    (
        1,
        "assistant",
        "reflection",
        [
            ("text", TEXT, None),
            ("code", CODE, None),
            ("execution", EXECUTION, "failed"),
            ("analysis", TEXT, None),
            ("code", CODE, None),
            ("execution", "All tests passed.\n", "passed"),
            ("analysis", "Both asserts pass now.", None),
            ("text", "The fix works.", None),
        ],
    ),
    (2, "user", "one_off", [("text", TEXT, None)]),
    (
        3,
        "assistant",
        "one_off",
        [("text", "```python\n" + CODE + "```", None), ("execution", "ok", "passed")],
    ),
]
BLOCKS_PER_SEQUENCE = sum(len(blocks) for *_, blocks in LAYOUT)

BASELINE_QUERY = """
SELECT json_build_object(
  'id', s.id, 'instruction_set_id', s.instruction_set_id, 'instruction_id', s.instruction_id,
  'generation_config_id', s.generation_config_id, 'language', s.language,
  'final_pass', s.final_pass, 'rounds', s.rounds, 'flags', s.flags,
  'index', m.index, 'role', m.role, 'kind', b.kind, 'content', b.content, 'language', b.language)
FROM sequence s JOIN message m ON m.sequence_id = s.id JOIN block b ON b.message_id = m.id
WHERE s.status = 'completed'
ORDER BY s.id, m.index, b.index
"""


def _copy_rows(
    connection: psycopg.Connection, sql: str, rows: Iterator[tuple[object, ...]]
) -> None:
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def populate(url: str, sequences: int) -> list[int]:
    """Insert the data set; return the two instruction set ids (small first)."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    small = sequences // 10
    with psycopg.connect(conninfo) as connection:
        config_id = connection.execute(
            "INSERT INTO generation_config (config_hash, backend, endpoint, model, sampling,"
            " prompt_version, max_rounds, show_tests, created_at) VALUES (%s, 'openai',"
            " 'default', 'bench-model', '{}', 'v1', 4, true, now()) RETURNING id",
            (uuid.uuid4().hex,),
        ).fetchone()[0]  # type: ignore[index]
        set_ids = [
            connection.execute(
                "INSERT INTO instruction_set (name, generation_config_id, instruction_count,"
                " duplicate_count, metadata, created_at, updated_at)"
                " VALUES (%s, %s, %s, 0, '{}', now(), now()) RETURNING id",
                (name, config_id, count),
            ).fetchone()[0]  # type: ignore[index]
            for name, count in (("small", small), ("large", sequences - small))
        ]

        def set_of(n: int) -> int:
            return set_ids[0] if n <= small else set_ids[1]

        _copy_rows(
            connection,
            "COPY instruction (id, instruction_set_id, position, text, language, metadata,"
            " content_hash) FROM STDIN",
            (
                (n, set_of(n), n, f"Task {n}: {TEXT}", "py", "{}", uuid.uuid4().hex)
                for n in range(1, sequences + 1)
            ),
        )
        _copy_rows(
            connection,
            "COPY sequence (id, instruction_id, instruction_set_id, generation_config_id,"
            " sample_index, language, status, stage, rounds, reflection_pass, final_pass,"
            " tokens_in, tokens_out, cost, attempt, flags, created_at, updated_at) FROM STDIN",
            (
                (
                    n,
                    n,
                    set_of(n),
                    config_id,
                    0,
                    "py",
                    "completed",
                    "done",
                    2,
                    True,
                    True,
                    0,
                    0,
                    0.0,
                    1,
                    "{}",
                    "2026-01-01T00:00:00Z",
                    "2026-01-01T00:00:00Z",
                )
                for n in range(1, sequences + 1)
            ),
        )
        _copy_rows(
            connection,
            "COPY message (id, sequence_id, index, role, stage, created_at) FROM STDIN",
            (
                (n * 4 + index, n, index, role, stage, "2026-01-01T00:00:00Z")
                for n in range(1, sequences + 1)
                for index, role, stage, _ in LAYOUT
            ),
        )
        _copy_rows(
            connection,
            "COPY block (message_id, index, kind, content, language, execution_status,"
            " truncated, passed_with_errors, created_at) FROM STDIN",
            (
                (
                    n * 4 + message,
                    position,
                    kind,
                    content,
                    "py" if kind == "code" else None,
                    status,
                    False,
                    False,
                    "2026-01-01T00:00:00Z",
                )
                for n in range(1, sequences + 1)
                for message, _, _, blocks in LAYOUT
                for position, (kind, content, status) in enumerate(blocks)
            ),
        )
        for table in ("instruction", "sequence", "message"):
            connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        connection.execute("ANALYZE")
    return set_ids


def export_child(url: str, set_ids: list[int], out: Path) -> dict[str, float]:
    """Run one export in a fresh interpreter; return its seconds, records and peak RSS (MB)."""
    code = (
        "import json, resource, sys, time\n"
        "from pathlib import Path\n"
        "from reflectseq.db.session import session_factory_for\n"
        "from reflectseq.export.files import write_export\n"
        "from reflectseq.export.filters import ExportFilters\n"
        "from reflectseq.export.spec import ExportSpec\n"
        "url, sets, out = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])\n"
        "spec = ExportSpec(filters=ExportFilters(instruction_set_ids=sets))\n"
        "start = time.perf_counter()\n"
        "written = write_export(session_factory_for(url), spec, out)\n"
        "seconds = time.perf_counter() - start\n"
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "records = written.counts.records\n"
        "print(json.dumps({'seconds': seconds, 'records': records, 'rss_mb': rss}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, url, json.dumps(set_ids), str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def psql_copy(url: str, out: Path) -> float:
    """Seconds ``psql \\copy`` takes to write the same rows as JSON."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    query = " ".join(BASELINE_QUERY.split())
    start = time.perf_counter()
    subprocess.run(
        ["psql", conninfo, "-v", "ON_ERROR_STOP=1", "-c", f"\\copy ({query}) TO '{out}'"],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=100_000)
    parser.add_argument("--server", default=DEFAULT_SERVER, help="any database on the server")
    args = parser.parse_args()
    with scratch_database(args.server, "reflectseq_bench_export") as url:
        start = time.perf_counter()
        small_set, large_set = populate(url, args.sequences)
        print(
            f"inserted {args.sequences} sequences x {BLOCKS_PER_SEQUENCE} blocks "
            f"in {time.perf_counter() - start:.1f} s"
        )
        with TemporaryDirectory() as tmp:
            out = Path(tmp)
            small = export_child(url, [small_set], out / "small.jsonl")
            full = export_child(url, [small_set, large_set], out / "full.jsonl")
            baseline_s = psql_copy(url, out / "copy.json")
            sizes = {p.name: p.stat().st_size / 1e6 for p in out.iterdir()}
        n = args.sequences
        export_rate = full["records"] / full["seconds"]
        copy_rate = n / baseline_s
        print(
            f"export  {full['records']:>7} sequences in {full['seconds']:6.1f} s = "
            f"{export_rate:8.0f} seq/s ({sizes['full.jsonl']:.0f} MB)"
        )
        print(
            f"\\copy   {n:>7} sequences in {baseline_s:6.1f} s = {copy_rate:8.0f} seq/s "
            f"({sizes['copy.json']:.0f} MB)"
        )
        print(f"rate ratio export / \\copy = {export_rate / copy_rate:.2f}  (target >= 0.5)")
        print(
            f"peak RSS: {small['records']} seq {small['rss_mb']:.0f} MB, "
            f"{full['records']} seq {full['rss_mb']:.0f} MB, "
            f"ratio {full['rss_mb'] / small['rss_mb']:.2f}  (targets < 300 MB, <= 1.10)"
        )
        print(
            f"self RSS of this driver (insert side): "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )


if __name__ == "__main__":
    main()
