"""Process versions: safe XML parsing, validation, and a per-version spec cache.

A BPMN file is parsed with entity resolution and network off, refused if it
has a DOCTYPE, then handed to SpiffBpmnParser. Each version is parsed once per
process (parsing costs milliseconds) and kept with its bound serializer.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine import decisions, groups, limits, messages, model_checks, policy
from engine.errors import ProcessDefinitionError
from engine.forms.types import implied_object
from engine.mail import check_template
from engine.serializer import bound_serializer

MAX_BPMN_BYTES = 2 * 1024 * 1024
# Flow nodes (tasks, events, gateways, subprocesses) of one model. SpiffBpmnParser recurses
# along the flow (a chain of ~500 tasks exhausts Python's stack) and running a step costs in
# proportion to the workflow's size; real models have tens.
MAX_FLOW_NODES = 200
_BPMN_NS = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
_FLOW_NODE_SUFFIXES = ("Task", "Event", "Gateway", "subProcess", "callActivity", "transaction")
FORM_SCHEMA_KEY = "formJsonSchemaFilename"
FORM_UI_KEY = "formUiSchemaFilename"


def safe_parse_xml(data: bytes) -> etree._Element:
    if len(data) > MAX_BPMN_BYTES:
        raise ProcessDefinitionError(
            f"O arquivo tem {len(data)} bytes; o limite é {MAX_BPMN_BYTES} bytes."
        )
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        tree = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (exc.lineno, 0)
        raise ProcessDefinitionError(
            f"XML malformado (linha {line}, coluna {column}): confira o arquivo num editor BPMN."
        ) from exc
    docinfo = tree.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise ProcessDefinitionError("Arquivos XML com DOCTYPE ou entidades não são aceitos.")
    return tree


def require_bpmn_root(tree: etree._Element, filename: str | None = None) -> None:
    """A file whose root is not BPMN 2.0's ``<definitions>`` (another namespace, a DMN
    table, a form) is named as what it is, not as a model without processes."""
    if tree.tag == f"{_BPMN_NS}definitions":
        return
    tag = str(tree.tag)
    namespace, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    where = f"O arquivo {filename}" if filename else "O arquivo"
    hint = ""
    if "DMN" in namespace.upper():
        hint = " É uma tabela de decisão (DMN): ponha-a na pasta do modelo, ao lado do .bpmn."
    raise ProcessDefinitionError(
        f"{where} não é um modelo BPMN 2.0: começa por <{local}> do espaço de nomes "
        f"{namespace or '(nenhum)'}, e um modelo começa por <definitions> de "
        f"{_BPMN_NS[1:-1]}.{hint}"
    )


@dataclass(frozen=True)
class UserTaskInfo:
    name: str
    title: str
    lane: str | None
    form_schema: str | None
    form_ui_schema: str | None
    properties: dict[str, str]
    instructions: str | None = None  # SpiffArena's instructionsForEndUser (Jinja, markdown)


@dataclass
class ProcessBundle:
    """One parsed process version: what every request on its tickets needs."""

    version_id: int
    process_id: str
    content_hash: str
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]
    serializer: BpmnWorkflowSerializer
    forms: dict[str, Any]
    user_tasks: dict[str, UserTaskInfo] = field(default_factory=dict)
    end_events: dict[str, str] = field(default_factory=dict)  # id -> name
    timer_names: dict[str, str] = field(default_factory=dict)  # id -> name
    policy: policy.ProcessPolicy = field(
        default_factory=lambda: policy.ProcessPolicy(title="", description="")
    )
    # Lane name (None: no lane) -> group key. Parsing gives each lane the key it would
    # get; the service then matches the groups that exist (engine.groups.lane_map).
    lane_groups: dict[str | None, str] = field(default_factory=dict)
    # The e-mail templates that ship with the model: "mail/<name>.txt|.html" -> source.
    mail_templates: dict[str, str] = field(default_factory=dict)
    # BPMN messages (engine.messages): name -> the definitions of the events catching it
    # (anywhere; its start events in ``message_starts``), and name -> a throwing element.
    message_catches: dict[str, list[Any]] = field(default_factory=dict)
    message_starts: dict[str, list[Any]] = field(default_factory=dict)
    message_throws: dict[str, str] = field(default_factory=dict)

    def ui_for(self, form_schema: str | None) -> dict[str, Any]:
        """The UI schema a task of this model pairs with ``form_schema``."""
        for info in self.user_tasks.values():
            if info.form_schema == form_schema and info.form_ui_schema:
                found = self.forms.get(info.form_ui_schema)
                return found if isinstance(found, dict) else {}
        return {}

    def group_of(self, lane: str | None) -> str:
        found = self.lane_groups.get(lane)
        return found if found is not None else groups.lane_map_default(lane)


def content_hash(bpmn: bytes, forms: dict[str, str]) -> str:
    h = hashlib.sha256(bpmn)
    for name in sorted(forms):
        h.update(b"\0" + name.encode() + b"\0" + forms[name].encode())
    return h.hexdigest()


def referenced_forms(bpmn: bytes | etree._Element) -> set[str]:
    """Form files named by the model's user tasks (SpiffArena's properties)."""
    tree = safe_parse_xml(bpmn) if isinstance(bpmn, bytes) else bpmn
    names = set()
    for prop in tree.iter("{http://spiffworkflow.org/bpmn/schema/1.0/core}property"):
        if prop.get("name") in (FORM_SCHEMA_KEY, FORM_UI_KEY) and prop.get("value"):
            names.add(prop.get("value"))
    return names


def referenced_mail(bpmn: bytes | etree._Element) -> set[str]:
    """E-mail templates named by the model's ``mail`` properties (engine.policy)."""
    tree = safe_parse_xml(bpmn) if isinstance(bpmn, bytes) else bpmn
    return {
        (prop.get("value") or "").strip()
        for prop in tree.iter("{http://spiffworkflow.org/bpmn/schema/1.0/core}property")
        if prop.get("name") in ("mail", "mailOnComplete") and (prop.get("value") or "").strip()
    }


# Files a version keeps beside its primary model, under their names in the folder: the
# .bpmn files its call activities reach and the .dmn files its business rule tasks run.
MODEL_SUFFIXES = (".bpmn", ".dmn")


def is_model_file(name: str) -> bool:
    return not is_mail_file(name) and name.lower().endswith(MODEL_SUFFIXES)


def is_dmn_file(name: str) -> bool:
    return name.lower().endswith(".dmn")


def used_files(bpmn: bytes, files: dict[str, str]) -> dict[str, str]:
    """The files a model runs with, out of a folder's: followed from the primary file
    through call activities (a process in another .bpmn file brings that file) and
    business rule tasks (the .dmn file of the decision), then the forms and e-mail
    templates every file taken names. What is missing is the deploy's to report."""
    processes: dict[str, str] = {}
    decision_files: dict[str, etree._Element] = {}
    trees: dict[str, etree._Element] = {}
    for name, text in sorted(files.items()):
        if not is_model_file(name):
            continue
        try:
            tree = safe_parse_xml(text.encode("utf-8"))
        except ProcessDefinitionError:
            continue  # unreadable: reported if the model reaches it
        trees[name] = tree
        if is_dmn_file(name):
            decision_files[name] = tree
        else:
            for node in tree.iter(f"{_BPMN_NS}process"):
                processes.setdefault(node.get("id", ""), name)
    by_decision = decisions.decision_ids(decision_files)
    taken: set[str] = set()
    pending = [safe_parse_xml(bpmn)]
    seen_bpmn: list[etree._Element] = []
    while pending:
        tree = pending.pop()
        seen_bpmn.append(tree)
        own = {node.get("id") for node in tree.iter(f"{_BPMN_NS}process")}
        for call in tree.iter(f"{_BPMN_NS}callActivity"):
            called = (call.get("calledElement") or "").strip()
            found = processes.get(called)
            if called not in own and found is not None and found not in taken:
                taken.add(found)
                pending.append(trees[found])
        for task in tree.iter(f"{_BPMN_NS}businessRuleTask"):
            found = by_decision.get(decisions.called_decision(task) or "")
            if found is not None:
                taken.add(found)
    for tree in seen_bpmn:
        taken |= referenced_forms(tree)
        taken |= {name for mail in referenced_mail(tree) for name in mail_files(mail)}
    return {name: text for name, text in files.items() if name in taken}


def parse_process(
    bpmn: bytes,
    forms: dict[str, str],
    version_id: int = 0,
    process_id: str | None = None,
) -> ProcessBundle:
    """Parse and validate a model; refuses with every problem found, each on its element.

    ``process_id`` picks the process to run when the file holds several (SpiffArena's
    ``primary_process_id``); without it the file's first executable process runs.
    """
    tree = safe_parse_xml(bpmn)
    require_bpmn_root(tree)
    _check_size(tree)
    bpmn_trees, dmn_trees, file_problems = _companions(forms)
    trees = [tree, *bpmn_trees.values()]
    problems = [*file_problems, *model_checks.xml_problems(trees)]
    broken_tables: set[str] = set()
    for name, dmn in dmn_trees.items():
        found = decisions.file_problems(name, dmn)
        problems.extend(found)
        if found:
            broken_tables.add(name)
    problems.extend(decisions.task_problems(trees, decisions.decision_ids(dmn_trees)))
    parser = SpiffBpmnParser()
    unread_tables = False
    try:
        parser.add_bpmn_xml(tree, filename="model.bpmn")
        ids = parser.get_process_ids()
        for name, companion in bpmn_trees.items():
            parser.add_bpmn_xml(companion, filename=name)
        for name, dmn in dmn_trees.items():
            # A table with problems is named above, by decision, rule and column; the
            # parser would only stop at its first one, vaguer (or cannot read it at all).
            if name not in broken_tables:
                parser.add_dmn_xml(dmn, filename=name)
            else:
                unread_tables = True
        if not ids:
            raise ProcessDefinitionError("O modelo não tem processo executável.")
        if process_id is not None and process_id not in ids:
            raise ProcessDefinitionError(
                f"O processo {process_id!r} não está no arquivo (há: {', '.join(ids)}).",
                process_id,
            )
        process_id = process_id or ids[0]
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ProcessDefinitionError as exc:
        raise _refused([*problems, *exc.problems]) from exc
    except RecursionError as exc:
        deep = (
            None,
            "Modelo encadeado ou aninhado demais para ser lido: reduza o número de elementos "
            "em sequência ou de subprocessos um dentro do outro.",
        )
        raise _refused([*problems, deep]) from exc
    except Exception as exc:  # the parser raises several unrelated types, in English
        said = model_checks.parser_problem(exc)
        # Often the parser only trips on what the XML pass already named (a call to a
        # missing process): then its vaguer problem adds nothing.
        # A business rule task whose table was left unread trips it too: already said.
        on_table = unread_tables and "businessRuleTask" in str(getattr(exc, "tag", ""))
        if not problems or (said[0] and said[0] not in {p[0] for p in problems} and not on_table):
            problems.append(said)
        raise _refused(problems) from exc

    problems.extend(model_checks.spec_problems(spec, subprocess_specs))
    # Read by engine.runtime after every step: a model without any skips the scan.
    spec.interrupting_event_subprocesses = _mark_interrupting_event_subprocesses(
        trees, model_checks.all_specs(spec, subprocess_specs)
    )
    if problems:
        raise _refused(model_checks.in_document_order(problems, [*trees, *dmn_trees.values()]))
    parsed_forms = _parse_forms(
        {k: v for k, v in forms.items() if not is_mail_file(k) and not is_model_file(k)}
    )
    bundle = ProcessBundle(
        version_id=version_id,
        process_id=process_id,
        content_hash=content_hash(bpmn, forms),
        spec=spec,
        subprocess_specs=subprocess_specs,
        serializer=bound_serializer(spec, subprocess_specs),
        forms=parsed_forms,
        policy=policy.read(tree, process_id),
        mail_templates={k: v for k, v in forms.items() if is_mail_file(k)},
    )
    for one in model_checks.all_specs(spec, subprocess_specs):
        for task_spec in [*one.task_specs.values()]:
            _collect_task_spec(task_spec, bundle)
    _check_mail_templates(bundle)
    every = list(model_checks.all_specs(spec, subprocess_specs))
    bundle.message_catches = messages.catches(every)
    bundle.message_starts = messages.catches([spec], start_only=True)
    bundle.message_throws = messages.throws(every)
    lanes = {info.lane for info in bundle.user_tasks.values()}
    bundle.lane_groups = {lane: groups.lane_map_default(lane) for lane in lanes}
    return bundle


def _mark_interrupting_event_subprocesses(trees: list[etree._Element], every_spec: Any) -> bool:
    """BPMN's event sub-process interrupts what its parent was doing when its start
    event is interrupting (the default: no ``isInterrupting="false"``); SpiffWorkflow 3.2
    runs every one as if it did not. The task specs of those that interrupt are marked
    (specs are never serialized with an instance) and engine.runtime interrupts; True
    when the model has any."""
    ids = set()
    for tree in trees:
        for node in tree.iter(f"{_BPMN_NS}subProcess"):
            if node.get("triggeredByEvent") != "true":
                continue
            starts = [child for child in node if child.tag == f"{_BPMN_NS}startEvent"]
            if any(start.get("isInterrupting", "true") != "false" for start in starts):
                ids.add(node.get("id"))
    for one in every_spec:
        for task_spec in one.task_specs.values():
            if task_spec.bpmn_id in ids:
                task_spec.interrupts_parent = True
    return bool(ids)


def _companions(
    forms: dict[str, str],
) -> tuple[dict[str, etree._Element], dict[str, etree._Element], list[tuple[str | None, str]]]:
    """The version's other .bpmn files and its .dmn files, parsed as safely as the model."""
    bpmn_trees: dict[str, etree._Element] = {}
    dmn_trees: dict[str, etree._Element] = {}
    problems: list[tuple[str | None, str]] = []
    for name in sorted(forms):
        if not is_model_file(name):
            continue
        try:
            tree = safe_parse_xml(forms[name].encode("utf-8"))
            if not is_dmn_file(name):
                _check_size(tree)
        except ProcessDefinitionError as exc:
            problems.append((exc.element_id, f"{name}: {exc.message}"))
            continue
        (dmn_trees if is_dmn_file(name) else bpmn_trees)[name] = tree
    return bpmn_trees, dmn_trees, problems


def _refused(problems: list[tuple[str | None, str]]) -> ProcessDefinitionError:
    element, message = problems[0]
    return ProcessDefinitionError(message, element, problems)


MAIL_DIR = "mail/"


def is_mail_file(name: str) -> bool:
    return name.startswith(MAIL_DIR)


def mail_files(name: str) -> tuple[str, str]:
    """The two files of an e-mail template the model names: plain text and HTML."""
    return f"{MAIL_DIR}{name}.txt", f"{MAIL_DIR}{name}.html"


def _check_mail_templates(bundle: ProcessBundle) -> None:
    for element_id, element in bundle.policy.elements.items():
        for mail in (element.mail, element.mail_on_complete):
            if mail is None:
                continue
            for name in mail_files(mail.template):
                source = bundle.mail_templates.get(name)
                if source is None:
                    raise ProcessDefinitionError(
                        f"O elemento {element_id} envia o e-mail {mail.template!r}, mas o "
                        f"arquivo {name} não acompanha o modelo.",
                        element_id,
                    )
                problem = check_template(name, bundle.mail_templates)
                if problem:
                    raise ProcessDefinitionError(f"E-mail {name} inválido: {problem}", element_id)


def _check_size(tree: etree._Element) -> None:
    nodes = [
        e
        for e in tree.iter()
        if isinstance(e.tag, str)
        and e.tag.startswith(_BPMN_NS)
        and e.tag[len(_BPMN_NS) :].endswith(_FLOW_NODE_SUFFIXES)
    ]
    if len(nodes) > MAX_FLOW_NODES:
        last = nodes[MAX_FLOW_NODES].get("id")
        raise ProcessDefinitionError(
            f"O modelo tem {len(nodes)} elementos de fluxo (tarefas, eventos, gateways); o "
            f"limite é {MAX_FLOW_NODES}. Divida o processo.",
            last,
        )


def _parse_forms(forms: dict[str, str]) -> dict[str, Any]:
    parsed = {}
    for name, text in forms.items():
        try:
            parsed[name] = limits.loads(text)
        except limits.JsonRejected as exc:
            raise ProcessDefinitionError(f"Formulário {name}: {exc.message}") from exc
        except json.JSONDecodeError as exc:
            raise ProcessDefinitionError(f"Formulário {name} não é JSON válido: {exc}") from exc
        if not isinstance(parsed[name], dict):
            raise ProcessDefinitionError(f"Formulário {name} deve ser um objeto JSON.")
        parsed[name] = implied_object(parsed[name])
    return parsed


def _collect_task_spec(task_spec: Any, bundle: ProcessBundle) -> None:
    """What the bundle keeps of one (already checked) task spec: human tasks, ends, timers."""
    element = getattr(task_spec, "bpmn_id", None)
    if element is None:
        return
    definition = getattr(task_spec, "event_definition", None)
    if isinstance(definition, TimerEventDefinition):
        bundle.timer_names[element] = task_spec.bpmn_name or element

    if getattr(task_spec, "manual", False):
        # Any lane is a group (created empty at deploy if new); no lane is the requester.
        lane = task_spec.lane
        props = dict(getattr(task_spec, "extensions", {}).get("properties", {}))
        schema, ui = props.get(FORM_SCHEMA_KEY), props.get(FORM_UI_KEY)
        for name in (schema, ui):
            if name and name not in bundle.forms:
                raise ProcessDefinitionError(
                    f"A tarefa {element} usa o formulário {name}, que não existe.", element
                )
        bundle.user_tasks[element] = UserTaskInfo(
            name=element,
            title=task_spec.bpmn_name or element,
            lane=lane,
            form_schema=schema,
            form_ui_schema=ui,
            properties=props,
            instructions=getattr(task_spec, "extensions", {}).get("instructionsForEndUser"),
        )
    if type(task_spec).__name__ == "EndEvent":
        bundle.end_events[element] = task_spec.bpmn_name or element


def read_process_dir(
    processes_dir: Path, forms_dir: Path
) -> dict[str, tuple[bytes, dict[str, str]]]:
    """Every ``*.bpmn`` with the form and e-mail files it references, keyed by file stem."""
    found = {}
    for path in sorted(processes_dir.glob("*.bpmn")):
        bpmn = path.read_bytes()
        forms = {}
        for template in sorted(referenced_mail(bpmn)):
            for name in mail_files(template):
                mail_path = processes_dir / name
                if not mail_path.exists():
                    raise ProcessDefinitionError(f"{path.name}: e-mail {name} não encontrado.")
                forms[name] = mail_path.read_text(encoding="utf-8")
        for name in sorted(referenced_forms(bpmn)):
            form_path = forms_dir / name
            if form_path.parent != forms_dir or not form_path.exists():
                raise ProcessDefinitionError(f"{path.name}: formulário {name} não encontrado.")
            forms[name] = form_path.read_text(encoding="utf-8")
        found[path.stem] = (bpmn, forms)
    return found


class SpecCache:
    """Parsed versions by id. Safe to lose: rebuilt from the database on demand."""

    def __init__(self) -> None:
        self._bundles: dict[int, ProcessBundle] = {}
        self._lock = threading.Lock()

    def get(self, version_id: int) -> ProcessBundle | None:
        return self._bundles.get(version_id)

    def put(self, bundle: ProcessBundle) -> ProcessBundle:
        with self._lock:
            return self._bundles.setdefault(bundle.version_id, bundle)
