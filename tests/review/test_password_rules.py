"""The rules new dashboard passwords must meet (pure: no database)."""

from __future__ import annotations

import pytest

from reflectseq.passwords import common_passwords, password_problem


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short pw 1!", "at least 12 characters"),
        ("x y" * 400, "at most 1024 characters"),
        ("aaaaaaaaaaaaaaaa", "one character repeated"),
        ("correcthorsebatterystaple", "two kinds of characters"),
        ("314159265358979", "two kinds of characters"),
        ("ABCDEFGHIJKLMNOP", "two kinds of characters"),
        ("qwerty123456", "most used passwords"),  # on the list as it is
        ("Password2024!!", "most used passwords"),  # a listed word with digits and symbols
        ("!!Dragon123456", "most used passwords"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, problem: str) -> None:
    found = password_problem(password)
    assert found is not None and problem in found


@pytest.mark.parametrize(
    "password",
    ["correct horse battery", "Tr0ub4dor&3xyz", "mañana es otro día", "9 lives 4 cats!"],
)
def test_long_mixed_passwords_and_passphrases_are_accepted(password: str) -> None:
    assert password_problem(password) is None


def test_the_shipped_list_holds_the_most_used_passwords_lower_cased() -> None:
    common = common_passwords()
    assert len(common) > 19_000
    assert {"123456", "password", "iloveyou", "1qaz2wsx3edc"} <= common
    assert all(entry == entry.lower() for entry in common)
