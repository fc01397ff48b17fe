"""The draft's decision tables (``.dmn`` files) as the modeler's DMN editor changes them.

A draft keeps its ``.dmn`` files in its files dict (``Draft.forms``) beside the form
JSON, under their folder names, as a version does (specs.used_files); the modeler sends
the tables it created, edited or deleted with the diagram, and they are saved together
in one draft version. What a table says is checked like any model content, at save and
on "Validar" (engine.decisions, through engine.designer.validation): a draft saves with
its problems listed. Only what cannot be a DMN file at all is refused here, nothing
saved: a bad file name, XML that does not parse safely, past the size limit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from engine import specs
from engine.designer.validation import ModelRejected, Problem
from engine.errors import ProcessDefinitionError

# A file name of the folder (no path): what SpiffArena and a zip carry back and forth.
DMN_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,95}\.dmn")
DMN_FILE_RULE = "use letras sem acento, dígitos, ., _ ou - e termine em .dmn (ex.: faixa.dmn)"
MAX_DMN_FILES = 50


def texts(files: Mapping[str, str]) -> dict[str, str]:
    """The draft's decision tables, by file name."""
    return {name: text for name, text in files.items() if specs.is_dmn_file(name)}


def apply(files: Mapping[str, str], changes: Mapping[str, object]) -> dict[str, str]:
    """``files`` with the DMN editor's ``changes`` (name → XML, or ``None`` to delete).

    Refuses (ModelRejected, every problem at once) a name that is not a ``.dmn`` file
    name, content that is not text, XML that does not parse safely or is too big.
    """
    too_many = Problem(None, f"O modelo pode ter até {MAX_DMN_FILES} tabelas de decisão.")
    if len(changes) > MAX_DMN_FILES:  # before parsing anything: bounded work
        raise ModelRejected([too_many])
    result = dict(files)
    problems: list[Problem] = []
    for name, text in changes.items():
        if not isinstance(name, str) or not DMN_FILE.fullmatch(name):
            problems.append(
                Problem(None, f"Nome de tabela de decisão inválido: {name!r} ({DMN_FILE_RULE}).")
            )
            continue
        if text is None:
            result.pop(name, None)
            continue
        if not isinstance(text, str):
            problems.append(Problem(None, f"{name}: envie o XML da tabela de decisão."))
            continue
        try:
            specs.safe_parse_xml(text.encode("utf-8"))
        except ProcessDefinitionError as exc:
            problems.append(Problem(exc.element_id, f"{name}: {exc.message}"))
            continue
        result[name] = text
    if len(texts(result)) > MAX_DMN_FILES:
        problems.append(too_many)
    if problems:
        raise ModelRejected(problems)
    return result
