"""From raw model answers to executable code."""

from __future__ import annotations

from reflectseq.evaluation.postprocess import clean_completion, extract_code, truncate_at_stops
from reflectseq.format import END_OF_BLOCK, END_OF_MESSAGE


def test_takes_the_block_in_the_wanted_language() -> None:
    answer = (
        "Run it with:\n```bash\npython main.py\n```\n"
        "The code:\n```python\ndef f():\n    return 1\n```\n"
    )
    assert extract_code(answer, {"python", "py"}) == "def f():\n    return 1\n"


def test_untagged_block_is_the_fallback() -> None:
    answer = "```\nx = 1\n```\nand\n```rust\nfn main() {}\n```"
    assert extract_code(answer, {"python"}) == "x = 1\n"


def test_an_open_fence_runs_to_the_end() -> None:
    assert extract_code("```python\ndef f():\n    return", {"python"}) == "def f():\n    return"


def test_text_without_fences_is_code() -> None:
    assert extract_code("    return a + b\n", {"python"}) == "    return a + b\n"


def test_longer_fences_contain_shorter_ones() -> None:
    answer = '````python\ns = """\n```\n"""\n````'
    assert extract_code(answer, {"python"}) == 's = """\n```\n"""\n'


def test_earliest_stop_wins() -> None:
    assert truncate_at_stops("abcXdefYg", ["Y", "X", ""]) == "abc"
    assert truncate_at_stops("abc", ["Z"]) == "abc"


def test_special_token_answer_is_cut_at_the_end_of_block() -> None:
    answer = f"```python\ndef f():\n    return 2\n```{END_OF_BLOCK}{END_OF_MESSAGE}junk"
    code = clean_completion(
        answer, language="py", tags={"python"}, stops=(END_OF_BLOCK, END_OF_MESSAGE)
    )
    assert code == "def f():\n    return 2\n"


def test_python_harness_after_the_solution_is_dropped() -> None:
    answer = (
        "```python\ndef f(x):\n    assert x >= 0\n    print(x)\n    return x\n\n"
        "assert f(1) == 2\nif __name__ == '__main__':\n    print(f(3))\n```"
    )
    code = clean_completion(answer, language="py", tags={"python"})
    # Indented asserts and prints belong to the solution and stay.
    assert code == "def f(x):\n    assert x >= 0\n    print(x)\n    return x\n"


def test_other_languages_keep_top_level_statements() -> None:
    answer = "```js\nfunction f() { return 1; }\nprint(f());\n```"
    assert clean_completion(answer, language="js", tags={"javascript", "js"}) == (
        "function f() { return 1; }\nprint(f());\n"
    )
