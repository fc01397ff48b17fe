"""Element-by-element deploy checks: every problem of a model, each naming its element.

Two passes, both collecting instead of stopping at the first problem:

* ``xml_problems`` reads the safe XML tree before SpiffWorkflow does: elements the
  platform does not run (service tasks with an unknown connector, ad-hoc sub-processes,
  complex gateways) and call activities to processes that are not in the model. The
  parser would either crash on them, accept them and fail at start, or publish an
  instance that waits forever. (A message thrown that nothing catches is refused by the
  designer's validation, which knows the other published processes.)
* ``spec_problems`` walks every task spec of the process and of all its sub-processes
  (embedded, event and transaction sub-processes are separate specs in SpiffWorkflow):
  scripts, pre/post scripts, gateway conditions, timers, conditional events,
  multi-instance and loop expressions, event payloads.

``parser_problem`` turns whatever SpiffBpmnParser raises into one pt-BR problem; no
text of the library (English, XML dumps, object reprs) reaches the designer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import (
    MultiInstanceTask,
    StandardLoopTask,
)
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask

from engine import connectors, timer_checks
from engine.scripting import ExpressionRejected, compile_expression, compile_script

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_B = f"{{{BPMN_NS}}}"

Problem = tuple[str | None, str]

# bpmn tag -> how a designer calls it, in pt-BR.
ELEMENT_KINDS = {
    "serviceTask": "tarefa de serviço",
    "businessRuleTask": "tarefa de regra de negócio",
    "sendTask": "tarefa de envio",
    "receiveTask": "tarefa de recebimento",
    "adHocSubProcess": "subprocesso ad hoc",
    "complexGateway": "gateway complexo",
    "callActivity": "atividade de chamada",
    "subProcess": "subprocesso",
    "transaction": "transação",
    "startEvent": "evento de início",
    "endEvent": "evento de fim",
    "intermediateCatchEvent": "evento intermediário",
    "intermediateThrowEvent": "evento intermediário",
    "boundaryEvent": "evento de borda",
    "scriptTask": "tarefa de script",
    "userTask": "tarefa de usuário",
    "manualTask": "tarefa manual",
    "task": "tarefa",
    "exclusiveGateway": "gateway exclusivo",
    "inclusiveGateway": "gateway inclusivo",
    "parallelGateway": "gateway paralelo",
    "eventBasedGateway": "gateway baseado em eventos",
    "process": "processo",
    "sequenceFlow": "fluxo",
    "message": "mensagem",
    "signal": "sinal",
    "error": "erro",
    "escalation": "escalonamento",
    "lane": "raia",
    "dataObject": "objeto de dados",
}

# An ISO 8601 duration or cycle written without quotes (bpmn.io and Camunda write them
# so): in SpiffWorkflow a timer is a Python expression, so PT15M is a variable name that
# does not exist and the timer never arms.
_BARE_ISO = re.compile(r"^R\d*/|^P(?=\d|T\d)[0-9YMWDTHS.,]*$")


def kind(tag: str) -> str:
    local = etree.QName(tag).localname if isinstance(tag, str) else ""
    return ELEMENT_KINDS.get(local, local or "elemento")


def xml_problems(trees: Iterable[etree._Element]) -> list[Problem]:
    """Unsupported elements and unresolvable call activities, over all files of a model."""
    trees = list(trees)
    processes = {
        node.get("id") for tree in trees for node in tree.iter(f"{_B}process") if node.get("id")
    }
    problems: list[Problem] = []
    for tree in trees:
        for node in tree.iter(f"{_B}serviceTask"):
            operator_node = next(iter(node.iter(f"{{{SPIFF_NS}}}serviceTaskOperator")), None)
            operator = operator_node.get("id") if operator_node is not None else None
            names = (
                [p.get("id", "") for p in operator_node.iter(f"{{{SPIFF_NS}}}parameter")]
                if operator_node is not None
                else []
            )
            for problem in connectors.problems(operator, names):
                problems.append((node.get("id"), f"Tarefa de serviço: {problem}"))
        for node in tree.iter(f"{_B}adHocSubProcess"):
            problems.append(
                (
                    node.get("id"),
                    "Subprocessos ad hoc não são executados pela plataforma; use um "
                    "subprocesso comum com gateways.",
                )
            )
        for node in tree.iter(f"{_B}complexGateway"):
            problems.append(
                (
                    node.get("id"),
                    "Gateways complexos não são executados pela plataforma; use gateways "
                    "exclusivos, inclusivos ou paralelos.",
                )
            )
        messages: dict[str | None, str | None] = {
            m.get("id"): m.get("name") for m in tree.iter(f"{_B}message")
        }
        for node in tree.iter(f"{_B}messageEventDefinition", f"{_B}sendTask", f"{_B}receiveTask"):
            unnamed = _message_problem(node, messages)
            if unnamed:
                owner = node if node.get("id") and "Task" in str(node.tag) else node.getparent()
                problems.append((owner.get("id") if owner is not None else None, unnamed))
        for node in tree.iter(f"{_B}callActivity"):
            called = (node.get("calledElement") or "").strip()
            if not called:
                problems.append(
                    (node.get("id"), "Atividade de chamada sem o processo chamado (calledElement).")
                )
            elif called not in processes:
                problems.append(
                    (
                        node.get("id"),
                        f"Atividade de chamada ao processo {called!r}, que não está em nenhum "
                        "arquivo do modelo.",
                    )
                )
    return problems


def _message_problem(node: etree._Element, messages: dict[str | None, str | None]) -> str | None:
    """A message event or send/receive task that names no message would wait forever (or
    throw nothing anyone can catch)."""
    local = etree.QName(node).localname
    if local in ("sendTask", "receiveTask"):
        definition = next(iter(node.iter(f"{_B}messageEventDefinition")), None)
        if definition is not None:
            return None  # checked as a definition of its own
        ref = node.get("messageRef")
    else:
        ref = node.get("messageRef")
    if not ref:
        return "O elemento de mensagem não indica a mensagem (messageRef)."
    if ref not in messages:
        return f"A mensagem {ref!r} não está definida no arquivo (bpmn:message)."
    if not (messages[ref] or "").strip():
        return f"A mensagem {ref!r} não tem nome (name): é pelo nome que ela é entregue."
    return None


def all_specs(
    spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]
) -> Iterator[BpmnProcessSpec]:
    yield spec
    yield from subprocess_specs.values()


def _definitions(task_spec: Any) -> Iterator[Any]:
    definition = getattr(task_spec, "event_definition", None)
    if isinstance(definition, MultipleEventDefinition):
        yield from definition.event_definitions
    elif definition is not None:
        yield definition


def _expression(problems: list[Problem], element: str, what: str, source: Any) -> None:
    if not isinstance(source, str) or not source.strip():
        return
    try:
        compile_expression(source)
    except ExpressionRejected as exc:
        problems.append((element, f"{what}: {exc}"))


def _script(problems: list[Problem], element: str, what: str, source: Any) -> None:
    if not isinstance(source, str) or not source.strip():
        return
    try:
        compile_script(source)
    except ExpressionRejected as exc:
        problems.append((element, f"{what}: {exc}"))


def task_spec_problems(task_spec: Any) -> list[Problem]:
    """Every expression and script one task spec holds, checked as they will run."""
    element = getattr(task_spec, "bpmn_id", None)
    if element is None:
        return []  # internal specs (start, joins, end) hold nothing a designer wrote
    problems: list[Problem] = []
    if isinstance(task_spec, ScriptTask):
        _script(problems, element, "Script", task_spec.script)
    for name, param in (getattr(task_spec, "operation_params", None) or {}).items():
        value = param.get("value") if isinstance(param, dict) else None
        _expression(problems, element, f"Parâmetro {name} do conector", value)
    _script(problems, element, "Script anterior (preScript)", getattr(task_spec, "prescript", None))
    _script(
        problems, element, "Script posterior (postScript)", getattr(task_spec, "postscript", None)
    )
    for condition, target in getattr(task_spec, "cond_task_specs", None) or []:
        if condition is not None:
            to = getattr(target, "bpmn_id", None) or target
            _expression(problems, element, f"Condição do fluxo para {to}", condition.args[0])
    if isinstance(task_spec, MultiInstanceTask):
        _expression(problems, element, "Cardinalidade (loopCardinality)", task_spec.cardinality)
        _expression(problems, element, "Condição de conclusão", task_spec.condition)
    if isinstance(task_spec, StandardLoopTask):
        _expression(problems, element, "Condição do laço", task_spec.condition)
    for definition in _definitions(task_spec):
        if isinstance(definition, TimerEventDefinition):
            _timer(problems, element, definition)
        elif isinstance(definition, ConditionalEventDefinition):
            _expression(problems, element, "Condição do evento", definition.expression)
        elif getattr(definition, "expression", None):  # spiff payloads (signal, error...)
            _expression(problems, element, "Conteúdo do evento", definition.expression)
    return problems


def _timer(problems: list[Problem], element: str, definition: TimerEventDefinition) -> None:
    expression = (definition.expression or "").strip()
    if _BARE_ISO.match(expression):
        problems.append(
            (
                element,
                f'Temporizador {expression}: escreva o valor entre aspas, "{expression}" '
                "(na plataforma o temporizador é uma expressão Python).",
            )
        )
        return
    before = len(problems)
    _expression(problems, element, "Temporizador", expression)
    if len(problems) == before:
        problem = timer_checks.check_expression(definition, expression)
        if problem:
            problems.append((element, f"Temporizador {element}: {problem}."))


def spec_problems(
    spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]
) -> list[Problem]:
    problems: list[Problem] = []
    for one in all_specs(spec, subprocess_specs):
        for task_spec in one.task_specs.values():
            problems.extend(task_spec_problems(task_spec))
    return problems


# --- what the parser raises, in pt-BR ---------------------------------------------------------

_PARSER_MESSAGES: tuple[tuple[str, str], ...] = (
    ("no support implemented for this task type", "este tipo de elemento não é executado"),
    ("is not executable", "o processo não está marcado como executável (isExecutable)"),
    ("no start event found", "o processo não tem evento de início"),
    ("must contain an end event", "o subprocesso precisa de um evento de fim"),
    ("must contain a start event", "o subprocesso precisa de um evento de início"),
    ("duplicate process id", "há dois processos com o mesmo id"),
    ("unknown time specification", "o temporizador não tem duração, data nem ciclo"),
    ("time specification error", "o temporizador tem um valor inválido"),
    ("missing condition", "o evento condicional não tem condição"),
    ("cannot resolve data", "a associação de dados aponta para um objeto que não existe"),
    ("identifier is missing", "uma definição (mensagem, sinal, erro) não tem id"),
    ("data store", "depósitos de dados (dataStore) não são suportados"),
    ("ad hoc", "subprocessos ad hoc não são executados pela plataforma"),
    ("no outgoing", "o elemento não tem fluxo de saída"),
    ("no incoming", "o elemento não tem fluxo de entrada"),
    ("multiple outgoing", "o elemento tem mais de um fluxo de saída sem gateway"),
    ("default", "o fluxo padrão é inválido"),
)


def parser_problem(exc: BaseException) -> Problem:
    """One pt-BR problem for an exception of SpiffBpmnParser, naming the element."""
    element = getattr(exc, "id", None) or getattr(exc, "node_id", None) or None
    tag = getattr(exc, "tag", "") or ""
    text = str(getattr(exc, "msg", "") or (exc.args[0] if exc.args else "")).lower()
    reason = next((pt for en, pt in _PARSER_MESSAGES if en in text), None)
    local = tag.split(":", 1)[-1] if tag else ""
    what = ELEMENT_KINDS.get(local, local) if local else "elemento"
    if reason is None:
        reason = "o motor de processos não conseguiu lê-lo; confira as propriedades do elemento"
    if element:
        return (element, f"{what.capitalize()} {element}: {reason}.")
    return (None, f"Modelo inválido: {reason}.")


def in_document_order(problems: list[Problem], trees: Iterable[etree._Element]) -> list[Problem]:
    """Problems in the order their elements appear in the files (model-wide ones first)."""
    order: dict[str, int] = {}
    for tree in trees:
        for node in tree.iter():
            element_id = node.get("id") if isinstance(node.tag, str) else None
            if element_id is not None:
                order.setdefault(element_id, len(order))
    return sorted(problems, key=lambda p: -1 if p[0] is None else order.get(p[0], len(order)))
