"""One import declaration for an assembled Go file.

Go refuses a file that imports a package it does not use, or uses one it does not import. Once
the model's ``main`` is dropped, its ``os`` import may be unused; MultiPL-E's Go tests use
``testing`` and ``fmt`` that only its prompt imported. So every import declaration of the program
(code and tests) is collected, the ones still used are kept, used standard packages that nobody
imported are added, and they go in one block after the first package clause (a second package
clause, from tests written as a whole file, is dropped).
"""

from __future__ import annotations

import re

from reflectseq.languages import Imports, Syntax
from reflectseq.sandbox.lexing import code_matches, mask

_DECLARATION = r"^import[ \t]*(?:\((?P<block>[^)]*)\)|(?P<single>[^\n;]+))[ \t]*;?[ \t]*\n?"
_SPEC = re.compile(r'(?:(?P<alias>[\w.]+)[ \t]+)?"(?P<path>[^"]+)"')
_PACKAGE = r"^package[ \t]+\w+[ \t]*;?[ \t]*\n?"


def _cut(program: str, pattern: str, syntax: Syntax) -> tuple[str, list[re.Match[str]]]:
    """``program`` without the declarations ``pattern`` matches in code, and those matches."""
    matches = list(code_matches(pattern, program, mask(program, syntax)))
    for match in reversed(matches):
        program = program[: match.start()] + program[match.end() :]
    return program, matches


def merge_go_imports(program: str, imports: Imports, syntax: Syntax) -> str:
    """``program`` with one import block holding exactly the packages it uses."""
    program, declarations = _cut(program, _DECLARATION, syntax)
    specs: dict[str, str | None] = {}
    for declaration in declarations:
        for spec in _SPEC.finditer(declaration.group("block") or declaration.group("single")):
            specs.setdefault(spec.group("path"), spec.group("alias"))
    program, packages = _cut(program, _PACKAGE, syntax)
    body = mask(program, syntax)

    def used(name: str) -> bool:
        return re.search(rf"(?<![\w.]){re.escape(name)}\.", body) is not None

    kept = [
        f'{alias} "{path}"' if alias else f'"{path}"'
        for path, alias in specs.items()
        if alias in ("_", ".") or used(alias or path.rsplit("/", 1)[-1])
    ]
    kept += [f'"{name}"' for name in imports.implicit if name not in specs and used(name)]
    package = packages[0].group().rstrip() if packages else ""
    block = "import (\n" + "".join(f"\t{spec}\n" for spec in kept) + ")\n\n" if kept else ""
    return f"{package}\n\n{block}{program.lstrip()}" if package else f"{block}{program}"
