"""Decision tables (DMN) that travel with a model, called by its business rule tasks.

SpiffArena keeps a model's ``.dmn`` files in its folder, and a business rule task names
the decision it runs (``spiffworkflow:calledDecisionId``). SpiffWorkflow's DMN engine
runs them: each file holds one decision with one decision table (its parser reads the
first decision of a file and refuses a second), each rule's input entries are matched
with Python expressions (``< 100``, ``"A"``, ``4 < ? < 6``; an entry that is not an
expression of its own is appended to the input's, as the engine does) and its output entries are
Python expressions written to the task's data under each output's name.

Every one of those expressions runs in the same sandbox as the model's scripts
(engine.scripting, through the workflow's script engine), so a table is checked at
deploy the way the engine will build each expression — input, entry and output — and
every problem names the decision and the rule, in pt-BR.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping

from lxml import etree

from engine.scripting import ExpressionRejected, compile_expression

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"

Problem = tuple[str | None, str]

# DMN's "?" stands for the input's value in an entry such as ``4 < ? < 6`` (outside quotes).
_QUESTION_MARK = re.compile(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)")


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def _children(node: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in node if _local(child) == name]


def _text(node: etree._Element | None) -> str | None:
    if node is None:
        return None
    found = next(iter(_children(node, "text")), None)
    return found.text if found is not None else None


def decisions_in(tree: etree._Element) -> list[etree._Element]:
    """The ``decision`` elements of a DMN file (any DMN version's namespace)."""
    return [node for node in tree.iter() if _local(node) == "decision"]


def decision_ids(files: Mapping[str, etree._Element]) -> dict[str, str]:
    """Decision id → file (a file with several decisions is refused by ``file_problems``)."""
    found: dict[str, str] = {}
    for name, tree in files.items():
        for decision in decisions_in(tree):
            if decision.get("id"):
                found.setdefault(decision.get("id", ""), name)
    return found


def called_decision(task: etree._Element) -> str | None:
    """The decision a business rule task runs, as SpiffArena writes it."""
    for node in task.iter(f"{{{SPIFF_NS}}}calledDecisionId"):
        return (node.text or "").strip() or None
    return None


def task_problems(trees: Iterable[etree._Element], decisions: Mapping[str, str]) -> list[Problem]:
    """Business rule tasks whose decision is missing or not in any of the model's tables."""
    problems: list[Problem] = []
    for tree in trees:
        for task in tree.iter(f"{{{BPMN_NS}}}businessRuleTask"):
            element = task.get("id")
            called = called_decision(task)
            if called is None:
                camunda = next(
                    (value for key, value in task.attrib.items() if key.endswith("decisionRef")),
                    None,
                )
                hint = (
                    f" (o atributo decisionRef={camunda!r} é do Camunda: escreva a decisão em "
                    "spiffworkflow:calledDecisionId)"
                    if camunda
                    else ""
                )
                problems.append(
                    (element, f"Tarefa de regra de negócio sem a tabela de decisão{hint}.")
                )
            elif called not in decisions:
                known = f" (há: {', '.join(sorted(decisions))})" if decisions else ""
                problems.append(
                    (
                        element,
                        f"A tarefa de regra de negócio chama a tabela de decisão {called!r}, "
                        f"que não está em nenhum arquivo .dmn do modelo{known}.",
                    )
                )
    return problems


def file_problems(name: str, tree: etree._Element) -> list[Problem]:
    """Everything SpiffWorkflow's DMN engine would trip on in one file, checked now."""
    decisions = decisions_in(tree)
    if len(decisions) != 1:
        what = "nenhuma decisão" if not decisions else f"{len(decisions)} decisões"
        return [
            (
                None,
                f"{name}: o arquivo tem {what}; cada arquivo .dmn deve ter exatamente uma "
                "decisão com uma tabela.",
            )
        ]
    decision = decisions[0]
    decision_id = decision.get("id") or name
    tables = _children(decision, "decisionTable")
    if len(tables) != 1:
        return [(decision_id, f"Decisão {decision_id} ({name}): deve ter uma tabela de decisão.")]
    return _table_problems(decision_id, tables[0])


def _table_problems(decision_id: str, table: etree._Element) -> list[Problem]:
    problems: list[Problem] = []
    where = f"Tabela de decisão {decision_id}"
    inputs = _children(table, "input")
    outputs = _children(table, "output")
    expressions: list[str | None] = []
    for n, node in enumerate(inputs, start=1):
        label = node.get("label") or f"entrada {n}"
        expression = _text(next(iter(_children(node, "inputExpression")), None))
        if not (expression or "").strip():
            problems.append((decision_id, f"{where}, {label}: a entrada não tem expressão."))
            expressions.append(None)
            continue
        if _check(problems, decision_id, f"{where}, {label}", expression or ""):
            expressions.append(expression)
        else:
            expressions.append(None)
    for n, node in enumerate(outputs, start=1):
        name = (node.get("name") or "").strip()
        if not name.isidentifier() or name.startswith("_"):
            label = node.get("label") or f"saída {n}"
            problems.append(
                (
                    decision_id,
                    f"{where}, {label}: o nome da saída ({name or 'vazio'}) deve ser um nome "
                    "de variável (letras, números e _, sem começar por _).",
                )
            )
    for row, rule in enumerate(_children(table, "rule"), start=1):
        entries = _children(rule, "inputEntry")
        results = _children(rule, "outputEntry")
        if len(entries) != len(inputs) or len(results) != len(outputs):
            problems.append(
                (
                    decision_id,
                    f"{where}, regra {row}: tem {len(entries)} entrada(s) e {len(results)} "
                    f"saída(s); a tabela tem {len(inputs)} e {len(outputs)}.",
                )
            )
            continue
        for column, (entry, expression) in enumerate(zip(entries, expressions, strict=True)):
            text = (_text(entry) or "").strip()
            if not text or text == "-" or expression is None:
                continue  # "-" or empty: any value
            label = inputs[column].get("label") or f"entrada {column + 1}"
            what = f"{where}, regra {row}, {label}"
            _check(problems, decision_id, what, _match(expression, text))
        for column, result in enumerate(results):
            text = (_text(result) or "").strip()
            if text:
                label = outputs[column].get("label") or f"saída {column + 1}"
                _check(problems, decision_id, f"{where}, regra {row}, {label}", text)
    return problems


def _match(expression: str, entry: str) -> str:
    """The expression SpiffWorkflow's DMNEngine evaluates for one input entry."""
    if _QUESTION_MARK.search(entry):
        return _QUESTION_MARK.sub(f"({expression})", entry)
    try:
        ast.parse(entry)
    except SyntaxError:
        return expression + entry  # an operator first: "< 100", "in ('A', 'B')"
    return f"({expression}) == ({entry})"


def _check(problems: list[Problem], element: str, what: str, source: str) -> bool:
    try:
        compile_expression(source)
    except ExpressionRejected as exc:
        problems.append((element, f"{what}: {exc}"))
        return False
    return True
