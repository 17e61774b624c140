"""Fixtures of the sandbox tests: the real local backend and a check that nothing outlives a run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from reflectseq.sandbox import reset_backend
from reflectseq.settings import get_settings


def slot_uids() -> range:
    settings = get_settings()
    return range(
        settings.sandbox_uid_base, settings.sandbox_uid_base + settings.sandbox_concurrency
    )


def orphans_of(uids: range) -> list[str]:
    """Host processes of the slot uids that no sandbox holds any more.

    Inside a sandbox every process descends from the namespace's first process, whose parent is
    bubblewrap; a process that escaped or outlived its sandbox is re-parented to the host's init,
    or to this process, which makes itself a child subreaper when it runs sandboxes. (Other
    executions may legitimately run at the same time: parallel tests, other users.) Zombies of
    the host's init do not count: they run nothing, and reaping them is that init's job; a
    zombie adopted by this process does, since reaping what it adopts is ours.
    """
    me = str(os.getpid())
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid in uids:
                stat = Path(entry.path, "stat").read_text()
                state, parent = stat.rsplit(")", 1)[1].split()[:2]
                if (parent == "1" and state != "Z") or parent == me:
                    found.append(stat[:60])
        except OSError:
            continue
    return found


@pytest.fixture(scope="session", autouse=True)
def _needs_bubblewrap() -> None:
    if shutil.which("bwrap") is None:
        pytest.fail("bubblewrap is not installed: run sandbox_images/install-toolchains.sh")


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    """After the test: no process of a slot uid and no file of one in the host's temp dirs."""
    yield
    uids = slot_uids()
    if os.geteuid() == 0:
        assert orphans_of(uids) == []
    for directory in ("/tmp", "/var/tmp", "/dev/shm"):
        owned = [p.name for p in Path(directory).iterdir() if p.lstat().st_uid in uids]
        assert owned == [], f"files of sandbox uids in {directory}: {owned}"


@pytest.fixture(autouse=True)
def _fresh_backend() -> Iterator[None]:
    """Settings may be changed by a test through the environment; rebuild the backend each time."""
    get_settings.cache_clear()
    reset_backend()
    yield
    get_settings.cache_clear()
    reset_backend()
