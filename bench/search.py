"""Queue search and the dashboard's queue and progress pages at a million sequences, in one run.

Generates the rows inside Postgres with ``generate_series`` in a throw-away database: at
``--scale 1`` 1,000,000 sequences (90% completed), each with one message of one code block, so
1,000,000 blocks; 2% of the completed ones reviewed, a fifth of those by a second reviewer. Then,
each figure the median of ``--repeat`` runs, beside its baseline from the same run:

* the queue search (the first page of ``search_sequences``) for a rare identifier, a word in one
  block of seven, a phrase, a word in every block and a word found nowhere, beside the same query
  matching blocks with an ``ILIKE`` scan, which is what a search costs without an index;
* the queue page, a searched queue page and the progress page over HTTP (in-process client,
  logged in), beside the statements those pages ran before: the progress page grouped every
  sequence with its reviews, the queue page listed languages with a DISTINCT over every sequence.

Targets (issue 17): the search < 200 ms, the pages < 300 ms at scale 1.

    python -m bench.search [--scale 1.0] [--repeat 5] [--server URL]

(As a module: run as a script, ``bench/api.py`` would shadow the ``api`` package it imports.)
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from reflectseq.db.scratch import scratch_database
from reflectseq.db.session import make_engine, make_session_factory, transaction
from reflectseq.enums import UserRole
from reflectseq.settings import Settings
from reflectseq.store.reviews import QueueFilter, search_sequences
from reflectseq.store.users import create_user

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
FULL_SCALE = 1_000_000
PAGE_SIZE = 50
PASSWORD = "bench-password-7f3a"
SEARCHES = {
    "rare identifier": "needle_in_haystack",
    "word in 1/7": "merge",
    "phrase": '"reverse the"',
    "word everywhere": "sorted",
    "word nowhere": "xylophone",
}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')

POPULATE = [
    "INSERT INTO generation_config (id, config_hash, backend, endpoint, model, sampling,"
    " prompt_version, max_rounds, show_tests, created_at)"
    " VALUES (1, md5('bench'), 'openai', 'default', 'bench-model', '{}', 'v1', 4, true, now())",
    "INSERT INTO instruction_set (id, name, generation_config_id, instruction_count,"
    " duplicate_count, metadata, created_at, updated_at)"
    " VALUES (1, 'bench-search', 1, :n, 0, '{}', now(), now())",
    "INSERT INTO instruction (id, instruction_set_id, position, text, language, metadata,"
    " content_hash)"
    " SELECT g, 1, g, 'Task ' || g, (ARRAY['py','cpp','java','js','rs'])[g % 5 + 1], '{}',"
    " md5(g::text) FROM generate_series(1, :n) AS g",
    "INSERT INTO sequence (id, instruction_id, instruction_set_id, generation_config_id,"
    " sample_index, language, status, stage, rounds, reflection_pass, final_pass, tokens_in,"
    " tokens_out, cost, attempt, flags, created_at, updated_at)"
    " SELECT g, g, 1, 1, 0, (ARRAY['py','cpp','java','js','rs'])[g % 5 + 1],"
    " CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'completed' END, 'done', g % 5, g % 3 <> 0,"
    " g % 4 <> 0, 0, 0, 0.0, 1,"
    " CASE WHEN g % 50 = 1 THEN '{\"no_asserts\": true}' ELSE '{}' END::jsonb, now(), now()"
    " FROM generate_series(1, :n) AS g",
    "INSERT INTO message (id, sequence_id, index, role, stage, created_at)"
    " SELECT g, g, 0, 'assistant', 'reflection', now() FROM generate_series(1, :n) AS g",
    "INSERT INTO block (id, message_id, index, kind, content, language, truncated,"
    " passed_with_errors, created_at)"
    ' SELECT g, g, 0, \'code\', format(E\'def %s_%s(values):\\n    """%s the %s values."""'
    "\\n    return sorted(values)  # %s%s',"
    " (ARRAY['solve','count','merge','parse','reverse','rotate','search'])[g % 7 + 1], g,"
    " (ARRAY['Solve','Count','Merge','Parse','Reverse','Rotate','Search'])[g % 7 + 1],"
    " (ARRAY['list','tree','graph','string','matrix','heap','queue','stack','set','map',"
    "'array'])[(g / 7) % 11 + 1], md5(g::text),"
    " CASE WHEN g % 10007 = 0 THEN ' needle_in_haystack' ELSE '' END),"
    " 'py', false, false, now() FROM generate_series(1, :n) AS g",
    # 2% of the completed sequences reviewed; a fifth of those by a second reviewer too.
    "INSERT INTO review (sequence_id, reviewer_id, status, reason, edits, decided_at, created_at,"
    " updated_at)"
    " SELECT g, (ARRAY[:r1, :r2, :r3])[g % 3 + 1],"
    " CASE WHEN g % 7 = 0 THEN 'rejected' ELSE 'accepted' END,"
    " CASE WHEN g % 7 = 0 THEN 'weak_tests' END, '[]', now(), now(), now()"
    " FROM generate_series(1, :n) AS g WHERE g % 50 = 3",
    "INSERT INTO review (sequence_id, reviewer_id, status, reason, edits, decided_at, created_at,"
    " updated_at)"
    " SELECT g, (ARRAY[:r1, :r2, :r3])[(g + 1) % 3 + 1],"
    " CASE WHEN g % 11 = 0 THEN 'rejected' ELSE 'accepted' END,"
    " CASE WHEN g % 11 = 0 THEN 'weak_tests' END, '[]', now(), now(), now()"
    " FROM generate_series(1, :n) AS g WHERE g % 250 = 3",
]

# The statements the pages ran before they were reworked (the baselines).
OLD_STANDINGS = """
SELECT standing, count(*) FROM (
  SELECT CASE WHEN accepted > 0 AND rejected > 0 THEN 'conflict' WHEN accepted > 0 THEN 'accepted'
              WHEN rejected > 0 THEN 'rejected' WHEN reviews > 0 THEN 'in_progress'
              ELSE 'unreviewed' END AS standing
  FROM (SELECT s.id, count(r.id) AS reviews,
               coalesce(sum(CASE WHEN r.status = 'accepted' THEN 1 ELSE 0 END), 0) AS accepted,
               coalesce(sum(CASE WHEN r.status = 'rejected' THEN 1 ELSE 0 END), 0) AS rejected
        FROM sequence s LEFT JOIN review r ON r.sequence_id = s.id
        WHERE s.status = 'completed' GROUP BY s.id) AS per_sequence) AS standings
GROUP BY standing
"""
OLD_LANGUAGES = (
    "SELECT DISTINCT language FROM sequence WHERE status = 'completed' ORDER BY language"
)
ILIKE_SEARCH = """
SELECT s.id FROM sequence s
WHERE s.status = 'completed' AND s.id IN (
  SELECT m.sequence_id FROM message m JOIN block b ON b.message_id = m.id
  WHERE b.content ILIKE :pattern)
ORDER BY s.id LIMIT :limit
"""


def median_ms(run: Callable[[], object], repeat: int) -> float:
    """The median wall time of ``repeat`` runs, in milliseconds (after one warm-up run)."""
    run()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def populate(engine: Engine, sequences: int) -> float:
    """Insert the data set in SQL; the GIN index is built once at the end, as on a restore."""
    started = time.perf_counter()
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        reviewers = [
            create_user(session, username=f"reviewer{i}", password=PASSWORD, role=UserRole.ADMIN)
            for i in (1, 2, 3)
        ]
        ids = {f"r{i}": user.id for i, user in enumerate(reviewers, 1)}
    with engine.begin() as connection:
        index_sql = connection.execute(
            text("SELECT pg_get_indexdef('ix_block_content_search'::regclass)")
        ).scalar_one()
        connection.execute(text("DROP INDEX ix_block_content_search"))
        for statement in POPULATE:
            connection.execute(text(statement), {"n": sequences, **ids})
        connection.execute(text(index_sql))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    return time.perf_counter() - started


def logged_in_client(url: str, data_dir: Path) -> TestClient:
    """An in-process client of the real app, logged in to the dashboard."""
    settings = Settings(database_url=url, data_dir=data_dir, secret_key="bench-secret")
    client = TestClient(create_app(settings), follow_redirects=False)
    form = client.get("/review/login")
    token = CSRF_FIELD.search(form.text)
    assert token, "the login page has no CSRF token"
    response = client.post(
        "/review/login",
        data={"username": "reviewer1", "password": PASSWORD, "csrf_token": token.group(1)},
    )
    if response.status_code != 303:
        raise SystemExit(f"login failed: {response.status_code} {response.text[:300]}")
    return client


def page_ms(client: TestClient, path: str, repeat: int) -> float:
    def fetch() -> None:
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")

    return median_ms(fetch, repeat)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000,000 sequences")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--server", default=DEFAULT_SERVER, help="any database on the server")
    args = parser.parse_args(argv)
    sequences = max(100, round(FULL_SCALE * args.scale))
    with scratch_database(args.server, "reflectseq_bench_search") as url:
        engine = make_engine(url)
        seconds = populate(engine, sequences)
        print(f"generated {sequences} sequences with one block each in {seconds:.1f} s")
        factory = make_session_factory(engine)
        print(f"queue search, first page of {PAGE_SIZE}, median of {args.repeat}")
        for label, query in SEARCHES.items():
            with factory() as session:
                ours = median_ms(
                    lambda q=query: search_sequences(  # type: ignore[misc]
                        session, QueueFilter(search=q), after_id=None, limit=PAGE_SIZE
                    ),
                    args.repeat,
                )
                # The scan looks for the first word only: a lower bound of what it would cost.
                first_word = query.strip('"').split()[0]
                pattern = f"%{first_word}%"
                baseline = median_ms(
                    lambda p=pattern: session.execute(  # type: ignore[misc]
                        text(ILIKE_SEARCH), {"pattern": p, "limit": PAGE_SIZE + 1}
                    ).all(),
                    args.repeat,
                )
            print(
                f"  {label:16s} {query!r:22s} indexed {ours:8.1f} ms   "
                f"ILIKE scan {baseline:8.1f} ms   {baseline / ours:6.1f}x   target < 200 ms"
            )
        with tempfile.TemporaryDirectory() as tmp:
            client = logged_in_client(url, Path(tmp))
            with client, factory() as session:
                queue = page_ms(client, "/review/", args.repeat)
                searched = page_ms(client, "/review/?q=needle_in_haystack", args.repeat)
                progress = page_ms(client, "/review/progress", args.repeat)
                old_languages = median_ms(
                    lambda: session.execute(text(OLD_LANGUAGES)).all(), args.repeat
                )
                old_standings = median_ms(
                    lambda: session.execute(text(OLD_STANDINGS)).all(), args.repeat
                )
        print(f"dashboard pages over HTTP at {sequences} sequences, median of {args.repeat}")
        print(
            f"  queue page            {queue:8.1f} ms   baseline: its old language "
            f"DISTINCT alone {old_languages:8.1f} ms   target < 300 ms"
        )
        print(f"  queue page, searched  {searched:8.1f} ms   target < 300 ms")
        print(
            f"  progress page         {progress:8.1f} ms   baseline: its old grouping "
            f"alone {old_standings:8.1f} ms   target < 300 ms"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
