"""What a new dashboard password must be: long, not a common one, not one kind of character.

Length does most of the work (NIST SP 800-63B puts it before composition rules). The list of
the 20,000 most used passwords (``data/common-passwords.txt``, see ``data/NOTICE``) stops the
guesses an attacker tries first, also when dressed up with digits and symbols around them
(``Password123!``). A password of one repeated character or of a single kind of character
(only lower-case letters, only digits...) is refused as well: a space, a digit or a capital
letter is enough to pass that rule, so passphrases like ``correct horse battery`` are fine.

The rules apply whenever a password is set; hashes stored earlier keep working until changed.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 accepts more, but megabyte passwords are a DoS vector
COMMON_PASSWORDS_FILE = "data/common-passwords.txt"
# Digits, punctuation and spaces around a word: "Password123!" is "password" dressed up.
_DECORATION = re.compile(r"^[\W\d_]+|[\W\d_]+$")
# A common word needs this many letters before its dressed-up forms are refused too.
MIN_COMMON_CORE = 4
KINDS_HINT = "lower-case letters, upper-case letters, digits, spaces or symbols"
RULES = (
    f"At least {MIN_PASSWORD_LENGTH} characters of at least two kinds ({KINDS_HINT}); "
    "common passwords are refused. A few unrelated words make a good one."
)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-cased."""
    text = resources.files("reflectseq").joinpath(COMMON_PASSWORDS_FILE).read_text("ascii")
    return frozenset(text.splitlines())


def _kind(character: str) -> str:
    if character.islower():
        return "lower"
    if character.isupper():
        return "upper"
    if character.isdigit():
        return "digit"
    return "other"


def _is_common(password: str) -> bool:
    lowered = password.lower()
    core = _DECORATION.sub("", lowered)
    common = common_passwords()
    return lowered in common or (len(core) >= MIN_COMMON_CORE and core in common)


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be used as a new password, or None when it can."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    if len(set(password)) == 1:
        return "must not be one character repeated"
    if len({_kind(character) for character in password}) == 1:
        return f"must mix at least two kinds of characters ({KINDS_HINT})"
    if _is_common(password):
        return "is one of the most used passwords (or one with digits or symbols around it)"
    return None
