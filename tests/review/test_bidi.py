"""Trojan Source on the dashboard: bidi controls are marked, never shown raw (over HTTP)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.review.bidi_markers import reveal_bidi
from reflectseq.db.session import transaction
from reflectseq.enums import ExecutionStatus
from reflectseq.quality.bidi import BIDI_CONTROLS
from tests.review.conftest import log_in
from tests.review.factories import RIGHT, TROJAN, Attempt, completed_sequences, user

TEXTAREA = re.compile(r"<textarea[^>]*>.*?</textarea>", re.DOTALL)
BANNER = re.compile(r'<p class="banner-warning"[^>]*id="bidi-warning">.*?</p>', re.DOTALL)


def test_reveal_bidi_escapes_and_marks_every_control() -> None:
    shown = reveal_bidi("<b>\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069</b>")
    assert "<b>" not in shown and "&lt;b&gt;" in shown
    assert BIDI_CONTROLS.search(shown) is None
    for code in ("202A", "202B", "202C", "202D", "202E", "2066", "2067", "2068", "2069"):
        assert f"&lt;U+{code}&gt;</span>" in shown
    assert reveal_bidi("plain \u200f text") == "plain \u200f text"  # a mark, not a control


def test_the_sequence_page_marks_controls_and_warns(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    attempts = (
        Attempt(TROJAN, ExecutionStatus.FAILED, stderr="AssertionError \u2067here\u2069"),
        Attempt(RIGHT, ExecutionStatus.PASSED),
    )
    with transaction(db) as session:
        seq = completed_sequences(
            session,
            1,
            attempts=attempts,
            set_name="set \u202ename",
            flags={"bidi_controls": {"characters": 6}},
        )[0].id
        clean = completed_sequences(session, 1, set_name="clean")[0].id
        user(session, "rita")
    log_in(client, "rita")
    html = client.get(f"/review/sequences/{seq}").text
    banner = BANNER.search(html)
    assert banner is not None and "Trojan Source" in banner.group()
    # The code (#3) and its execution's output (#4); #7 only diffs against #3.
    assert re.findall(r">#(\d+)</a>", banner.group()) == ["3", "4"]
    assert 'class="bidi"' in html and "&lt;U+202E&gt;" in html and "&lt;U+2067&gt;" in html
    assert "Bidi controls: characters: 6" in html
    assert BIDI_CONTROLS.search(html) is None  # edit forms are not part of the page
    # Raw controls remain only inside the edit box, where the text must stay as stored.
    code_id = re.findall(r'id="block-(\d+)"[^>]*\n[^>]*aria-label="Block 3: code"', html)[0]
    form = client.get(f"/review/sequences/{seq}/blocks/{code_id}/edit?fragment=1").text
    assert "\u202e" in form and BIDI_CONTROLS.search(TEXTAREA.sub("", form)) is None
    queue = client.get("/review/").text
    assert "&lt;U+202E&gt;" in queue and BIDI_CONTROLS.search(queue) is None
    assert BANNER.search(client.get(f"/review/sequences/{clean}").text) is None
