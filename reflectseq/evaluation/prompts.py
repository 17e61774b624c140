"""How a problem is put to a model: three templates, one per kind of model.

* ``special``: the special-token format a reflectseq-trained model was trained on
  (``reflectseq.format.one_off_prompt``), with the answer opened as a text block and a code fence
  in the problem's language, as the ReflectionCoder evaluation does. Needs raw completions.
* ``chat``: the instruction as one user message; the backend applies the model's chat template.
* ``raw``: the problem's code prompt as is, continued by a base model (HumanEval's original
  setting), cut at the next top-level statement.
"""

from __future__ import annotations

from dataclasses import dataclass

from reflectseq.enums import Template
from reflectseq.evaluation.problems import Problem
from reflectseq.format import END_OF_BLOCK, END_OF_MESSAGE, TEXT_TOKEN, one_off_prompt

# Codex's stop sequences for completing a Python function body.
RAW_PYTHON_STOPS = ("\nclass ", "\ndef ", "\n#", "\nif __name__", "\nprint(")
SPECIAL_STOPS = (END_OF_BLOCK, END_OF_MESSAGE)


@dataclass(frozen=True)
class Prompt:
    """What to send for one problem.

    ``text`` is a raw prompt for completion; ``chat`` a user message for a chat model (exactly
    one of them is set). ``answer_prefix`` is the start of the answer already written into the
    prompt, put back in front of each completion before post-processing.
    """

    text: str | None = None
    chat: str | None = None
    answer_prefix: str = ""
    stops: tuple[str, ...] = ()


class TemplateError(ValueError):
    """The template cannot express this problem."""


def build_prompt(problem: Problem, template: Template, fence: str) -> Prompt:
    """The prompt for ``problem`` under ``template``; ``fence`` is the language's fence tag."""
    if template is Template.SPECIAL:
        opening = f"```{fence}\n"
        return Prompt(
            text=one_off_prompt(problem.instruction) + TEXT_TOKEN + opening,
            answer_prefix=opening,
            stops=SPECIAL_STOPS,
        )
    if template is Template.CHAT:
        return Prompt(chat=problem.instruction)
    if not problem.prompt_code:
        raise TemplateError(
            f"{problem.task_id}: the raw template needs a code prompt to continue "
            "(HumanEval has one; use the chat or special template for this benchmark)"
        )
    stops = RAW_PYTHON_STOPS if problem.language == "py" else ()
    return Prompt(text=problem.prompt_code, stops=stops)
