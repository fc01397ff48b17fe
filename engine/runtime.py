"""Pure SpiffWorkflow stepping: no database, no users.

Guards what SpiffWorkflow does not: ``task.run()`` does not check the task's
state, so only a READY manual task may run, and form payloads are deep-copied
so completed tasks' data (shared by shallow copy) is never rewritten. Every
failure of the model while it runs comes out as one exception, ModelRuntimeError,
which the use cases turn into a technical incident of the ticket (engine.incidents).
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar
from uuid import UUID

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.task import Task

from engine.connectors import ConnectorFailed
from engine.errors import ModelRuntimeError, TaskNotReady
from engine.scripting import ExpressionRejected, make_script_engine
from engine.specs import ProcessBundle
from engine.tasktree import all_tasks as all_tasks  # callers say runtime.all_tasks

_SCRIPT_ENGINE = make_script_engine()
_E = TypeVar("_E", bound=BaseException)


def _in_chain(exc: BaseException, kind: type[_E]) -> _E | None:
    """The ``kind`` exception (a script over a limit, a connector's failure) behind
    SpiffWorkflow's wrappers."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _original(exc: BaseException) -> BaseException | None:
    """The script's own exception behind SpiffWorkflow's wrappers."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if not isinstance(current, WorkflowException):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _reason(exc: WorkflowException) -> str:
    """Why a step failed, in pt-BR; the Python error of a script is named as Python says it
    (a designer searches for "KeyError"), SpiffWorkflow's own English is not passed on."""
    refused = _in_chain(exc, ExpressionRejected)
    if refused is not None:
        return str(refused)
    failed = _in_chain(exc, ConnectorFailed)
    if failed is not None:
        return f"o conector {failed.operator} falhou: {failed}"
    if "No conditions satisfied" in str(exc):
        return "nenhuma condição de saída do gateway valeu e ele não tem fluxo padrão."
    original = _original(exc)
    if original is not None:
        line = getattr(exc, "line_number", None)
        where = f" na linha {line}" if line else ""
        return f"o script ou a expressão falhou{where} com {_python_error(original)}"
    return "o motor de processos não conseguiu executar o elemento."


def _catcher(wf: BpmnWorkflow, name: str) -> str | None:
    """The element of ``wf`` waiting for the message ``name`` (where an incident shows)."""
    for task in wf.get_tasks(state=TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        if getattr(definition, "name", None) == name:
            return str(task.task_spec.bpmn_id)
    return None


def _python_error(original: BaseException) -> str:
    """``KeyError: 'falta'.``: the class as Python names it (a designer searches for it)
    and its text, but for an unknown name, the commonest failure of models brought from
    elsewhere — a helper of their platform (SpiffArena's get_last_user_completing_task…)
    or a variable no step set — which is said in Portuguese."""
    detail = str(original)[:200]
    if isinstance(original, NameError) and getattr(original, "name", None):
        detail = (
            f"o nome '{original.name}' não existe nos dados da instância nem entre as "
            "funções oferecidas aos scripts"
        )
    return type(original).__name__ + (f": {detail}." if detail else ".")


# Automatic steps (scripts, gateways, events) one call may run. A request runs a handful;
# a loop of script tasks with no human task in it would otherwise run until Python's
# recursion limit, each step dearer than the last (completed tasks are never pruned).
MAX_ENGINE_STEPS = 300


def _element(exc: BaseException) -> str | None:
    spec = getattr(exc, "task_spec", None)
    return getattr(spec, "bpmn_id", None) or getattr(spec, "name", None)


def _steps(
    wf: BpmnWorkflow, task: Task | None = None, refresh: bool = False, event: Any = None
) -> int:
    """Run ``task`` (if any) and the engine steps after it, at most MAX_ENGINE_STEPS.

    ``refresh``: make the due timers READY first (SpiffWorkflow refreshes them only at
    the end of its steps). ``event``: a message from outside, caught first (its
    correlation expressions run in the sandbox too); returns how many events caught it
    (0: nothing ran).

    Whatever fails in here is a flaw of the model, not of the request: a script or
    expression refused while running (it would have made a value too big), a script
    that raised, a gateway no flow leaves, a runaway loop, a workflow grown too deep.
    It becomes a ModelRuntimeError naming the element; the caller's workflow object
    is then half-stepped and must be thrown away (its saved state is what counts).
    """
    ran = 0

    def count(next_task: Task) -> None:
        nonlocal ran
        ran += 1
        if ran > MAX_ENGINE_STEPS:
            raise ModelRuntimeError(
                f"O processo executou mais de {MAX_ENGINE_STEPS} passos automáticos seguidos "
                f"e parou no elemento {next_task.task_spec.bpmn_id} (um laço sem tarefa "
                "humana?). Avise a equipe responsável pelo modelo.",
                next_task.task_spec.bpmn_id,
            )

    caught = 0
    try:
        if event is not None:
            try:
                caught = wf.event_manager.catch(event, internal=False)
            except WorkflowException:
                raise
            except Exception as exc:  # noqa: BLE001 - SpiffWorkflow runs the model's
                # correlation expressions over the payload unwrapped: one the payload does
                # not satisfy is a failure of this delivery, said on the message.
                name = getattr(getattr(event, "event_definition", None), "name", "")
                raise ModelRuntimeError(
                    f"A mensagem “{name}” não pôde ser recebida: uma expressão de "
                    f"correlação do modelo falhou com {_python_error(exc)} Confira o "
                    "conteúdo enviado e a correlação do modelo.",
                    _catcher(wf, name),
                ) from exc
            if not caught:
                return 0
        if refresh:
            wf.refresh_timers()
        if task is not None:
            task.run()
        wf.do_engine_steps(will_complete_task=count)
        while _interrupt(wf):
            wf.do_engine_steps(will_complete_task=count)
    except RecursionError as exc:
        raise ModelRuntimeError(
            "O processo ficou profundo demais para continuar (laços demais no modelo). "
            "Avise a equipe responsável pelo modelo."
        ) from exc
    except WorkflowException as exc:
        element = _element(exc)
        reason = _reason(exc)
        raise ModelRuntimeError(
            f"O processo não pôde continuar no elemento {element}: {reason} "
            "Avise a equipe responsável pelo modelo.",
            element,
        ) from exc
    return caught


def _interrupt(wf: BpmnWorkflow) -> bool:
    """An interrupting event sub-process just triggered (engine.specs marks them) cancels
    whatever else its parent workflow was doing, as BPMN says: the requester's open task
    is withdrawn, the other branches and listeners stop; the sub-process runs on and its
    end ends the instance. True when something was interrupted."""
    if not getattr(wf.spec, "interrupting_event_subprocesses", False):
        return False  # the model has none (engine.specs): nothing to scan
    interrupted = False
    for workflow in [wf, *wf.subprocesses.values()]:
        for task in list(workflow.tasks.values()):
            if not getattr(task.task_spec, "interrupts_parent", False):
                continue
            if task.internal_data.get("interrupted") or not _triggered(wf, task):
                continue
            keep = set()
            node: Task | None = task
            while node is not None:
                keep.add(node.id)
                node = node.parent
            for other in list(workflow.tasks.values()):
                if other.id not in keep and not other.has_state(TaskState.FINISHED_MASK):
                    other.cancel()
            task.internal_data["interrupted"] = True
            interrupted = True
    return interrupted


def _triggered(wf: BpmnWorkflow, task: Task) -> bool:
    """Whether an event sub-process's start event has fired (before that, SpiffWorkflow
    keeps it STARTED, waiting on that event)."""
    if task.state == TaskState.COMPLETED:
        return True
    inner = wf.subprocesses.get(task.id)
    return inner is not None and any(
        isinstance(t.task_spec, StartEvent) and t.state == TaskState.COMPLETED
        for t in inner.tasks.values()
    )


def create(bundle: ProcessBundle, data: dict[str, Any] | None = None) -> BpmnWorkflow:
    """A new instance, before its first step (what a ticket keeps when that step fails)."""
    wf = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=_SCRIPT_ENGINE)
    if data:
        wf.data.update(copy.deepcopy(data))
        wf.task_tree.data.update(copy.deepcopy(data))
    return wf


def start(bundle: ProcessBundle, data: dict[str, Any] | None = None) -> BpmnWorkflow:
    wf = create(bundle, data)
    _steps(wf)
    return wf


def deliver(wf: BpmnWorkflow, event: Any) -> bool:
    """A message from outside the instance (engine.messages); False: nothing waits for it
    here (another correlation, or no longer waiting) and nothing ran."""
    return _steps(wf, event=event) > 0


def load(bundle: ProcessBundle, state: str) -> BpmnWorkflow:
    wf = bundle.serializer.deserialize_json(state)
    # deserialize installs the default (unrestricted) script engine.
    wf.script_engine = _SCRIPT_ENGINE
    return wf


def dump(bundle: ProcessBundle, wf: BpmnWorkflow) -> str:
    return bundle.serializer.serialize_json(wf)


def ready_human_tasks(wf: BpmnWorkflow) -> list[Task]:
    return [t for t in all_tasks(wf) if t.state == TaskState.READY and t.task_spec.manual]


def ready_task(wf: BpmnWorkflow, guid: str) -> Task:
    try:
        task = wf.get_task_from_id(UUID(guid))
    except Exception:
        task = None
    if task is None or task.state != TaskState.READY or not task.task_spec.manual:
        raise TaskNotReady("Esta tarefa não está mais disponível; a página foi atualizada.")
    return task


def complete(wf: BpmnWorkflow, task: Task, data: dict[str, Any]) -> None:
    if task.state != TaskState.READY or not task.task_spec.manual:
        raise TaskNotReady("Esta tarefa não está mais disponível.")
    _merge_answers(task.data, copy.deepcopy(data))
    _steps(wf, task)


def _merge_answers(target: dict[str, Any], data: dict[str, Any]) -> None:
    """A form's answers into task data; a dotted field name (SpiffArena's dot notation,
    "fatura.vencimento") nests its value: {"fatura": {"vencimento": ...}}, beside what
    the dict already held."""
    for key, value in data.items():
        if "." not in key:
            target[key] = value
            continue
        *path, last = key.split(".")
        node = target
        for part in path:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[last] = value


def end_event(wf: BpmnWorkflow, bundle: ProcessBundle) -> str | None:
    """The id of the end event the workflow finished on, if it has finished.

    A branch started by a non-interrupting event may reach an end event of its
    own earlier; the workflow finished on the last one reached.
    """
    if not wf.is_completed():
        return None
    ends = [
        t
        for t in wf.get_tasks(state=TaskState.COMPLETED)
        if t.task_spec.bpmn_id in bundle.end_events
    ]
    if not ends:
        return None
    return max(ends, key=lambda t: t.last_state_change).task_spec.bpmn_id


def fire_timers(wf: BpmnWorkflow) -> None:
    """Run whatever timers are due: refresh makes them READY, the steps run them."""
    _steps(wf, refresh=True)


def current_data(wf: BpmnWorkflow) -> dict[str, Any]:
    """The data the process holds now: of the ready task, else of the last task."""
    ready = ready_human_tasks(wf)
    if ready:
        return ready[0].data
    return wf.last_task.data if wf.last_task is not None else wf.data
