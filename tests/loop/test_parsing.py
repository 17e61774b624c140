"""The model-output parser: examples for each documented case, and properties with hypothesis."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reflectseq.format import SPECIAL_TOKENS
from reflectseq.parsing import (
    ParsedBlock,
    has_assertions,
    join_continuation,
    parse_answer,
    pick_code,
)

PY = frozenset({"python", "py"})


def test_text_and_several_code_blocks_in_order() -> None:
    parsed = parse_answer(
        "Plan first.\n\n```python\nx = 1\n```\nThen run:\n~~~bash\npython main.py\n~~~\nDone."
    )
    assert parsed.blocks == (
        ParsedBlock("text", "Plan first."),
        ParsedBlock("code", "x = 1", "python"),
        ParsedBlock("text", "Then run:"),
        ParsedBlock("code", "python main.py", "bash"),
        ParsedBlock("text", "Done."),
    )
    assert not parsed.unterminated_fence


def test_unterminated_fence_keeps_the_rest_as_code() -> None:
    parsed = parse_answer("Here:\n```py\ndef f():\n    return 1\n")
    assert parsed.blocks[-1] == ParsedBlock("code", "def f():\n    return 1", "py")
    assert parsed.unterminated_fence


def test_longer_fence_contains_shorter_ones() -> None:
    parsed = parse_answer("````markdown\n```python\nx\n```\n````")
    assert parsed.blocks == (ParsedBlock("code", "```python\nx\n```", "markdown"),)


def test_special_tokens_are_removed_and_counted() -> None:
    parsed = parse_answer("a<|endofblock|>b\n```python\nprint('<|code|>')\n```<|endofmessage|>")
    assert parsed.removed_special_tokens == 3
    assert parsed.blocks == (ParsedBlock("text", "ab"), ParsedBlock("code", "print('')", "python"))


def test_pick_code_takes_the_last_block_in_the_language() -> None:
    parsed = parse_answer("```python\na\n```\n```python\nb\n```\n```bash\nc\n```")
    assert pick_code(parsed, PY) == 1  # bash never runs
    unlabelled = parse_answer("```\na\n```\n```\nb\n```\n```bash\nc\n```")
    assert pick_code(unlabelled, PY) == 1  # with no labelled block, unlabelled ones count


def test_an_unlabelled_block_of_expected_output_is_not_run() -> None:
    """Models follow the program with what they expect it to print; the program must run."""
    answer = "```python\ndef f():\n    return 2\nprint(f())\n```\nOutput:\n```\n2\n```"
    parsed = parse_answer(answer)
    index = pick_code(parsed, PY)
    assert index is not None and "def f" in parsed.blocks[index].content
    assert pick_code(parse_answer("```bash\nls\n```"), PY) is None
    assert pick_code(parse_answer("```python\n\n```"), PY) is None  # empty code is not runnable


def test_assertion_detection() -> None:
    assert has_assertions("assert f(1) == 2")
    assert has_assertions("assert.deepEqual(a, b)")
    assert not has_assertions("print(f(1))")


# Special tokens are removed on purpose (the next test), so verbatim bodies hold none.
fence_free_line = st.text(
    alphabet=st.characters(blacklist_characters="`~\r\n", blacklist_categories=("Cs",)), max_size=30
).filter(lambda line: not any(token in line for token in SPECIAL_TOKENS))
code_body = st.lists(fence_free_line, max_size=6).map("\n".join)
language = st.sampled_from(["python", "py", "js", "rust", "", "c++"])


@given(st.lists(st.tuples(fence_free_line, code_body, language), max_size=5))
def test_code_bodies_come_back_verbatim(pieces: list[tuple[str, str, str]]) -> None:
    answer = "".join(f"{prose}\n```{lang}\n{body}\n```\n" for prose, body, lang in pieces)
    parsed = parse_answer(answer)
    assert [b.content for b in parsed.code_blocks] == [body for _, body, _ in pieces]
    assert [b.fence for b in parsed.code_blocks] == [lang or None for _, _, lang in pieces]
    assert [b.content for b in parsed.blocks if b.kind == "text"] == [
        prose.strip() for prose, _, _ in pieces if prose.strip()
    ]


@given(st.text(max_size=300), st.lists(st.sampled_from(SPECIAL_TOKENS), max_size=4))
def test_no_block_ever_holds_a_special_token(text: str, tokens: list[str]) -> None:
    parsed = parse_answer(text + "".join(tokens) + text)
    for block in parsed.blocks:
        assert not any(token in block.content for token in SPECIAL_TOKENS)
    assert parsed.removed_special_tokens >= len(tokens)


@given(st.text(max_size=400))
def test_any_text_parses_and_loses_no_code_characters(text: str) -> None:
    parsed = parse_answer(text)
    for block in parsed.blocks:
        assert block.kind in ("text", "code")
        if block.kind == "text":
            assert block.content == block.content.strip() and block.content


def test_a_continuation_is_appended_or_replaces_what_the_model_started_over() -> None:
    cut_code = "Plan.\n\n```python\ndef f():\n"
    assert join_continuation(cut_code, "    return 1\n```") == cut_code + "    return 1\n```"
    # The cut code block started over: it replaces the cut one.
    again = "```python\ndef f():\n    return 1\n```\nDone."
    assert join_continuation(cut_code, "\n" + again) == "Plan.\n\n" + again
    # The whole answer started over.
    whole = cut_code + "    return 1\n```"
    assert join_continuation(cut_code, whole) == whole
    # Cut in prose, the code follows: its fence goes on a line of its own.
    assert join_continuation("The plan is", "```python\nx = 1\n```") == (
        "The plan is\n```python\nx = 1\n```"
    )
    assert join_continuation("The plan is", " simple.") == "The plan is simple."
