"""Syntax highlighting of code blocks with Pygments, keyed by the language table's codes."""

from __future__ import annotations

from functools import lru_cache

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

from api.review.bidi_markers import mark_bidi
from reflectseq.languages import resolve_language

CSS_CLASS = "hl"
# Long outputs are not worth colouring: past this size a block is shown as plain text, which
# keeps a page with megabytes of program output fast to render.
MAX_HIGHLIGHT_CHARS = 200_000

_formatter = HtmlFormatter(cssclass=CSS_CLASS, wrapcode=True)


@lru_cache(maxsize=64)
def lexer_for(language: str | None) -> Lexer:
    """The Pygments lexer of a language code, fence tag or alias; plain text when unknown."""
    if not language:
        return TextLexer()
    names = [language]
    try:
        resolved = resolve_language(language)
        names = [resolved.fence, resolved.code, language]
    except KeyError:
        pass
    for name in names:
        try:
            return get_lexer_by_name(name)
        except ClassNotFound:
            continue
    return TextLexer()


def highlight_code(code: str, language: str | None) -> Markup:
    """Highlighted HTML of ``code`` (escaped by Pygments itself), bidi controls made visible."""
    lexer = lexer_for(language) if len(code) <= MAX_HIGHLIGHT_CHARS else TextLexer()
    return mark_bidi(Markup(highlight(code, lexer, _formatter)))  # Pygments escapes the code


def stylesheet() -> str:
    """The colour rules of the highlighted HTML."""
    return str(_formatter.get_style_defs(f".{CSS_CLASS}"))
