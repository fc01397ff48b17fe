"""Pure SpiffWorkflow stepping: no database, no users.

Guards what SpiffWorkflow does not: ``task.run()`` does not check the task's
state, so only a READY manual task may run, and form payloads are deep-copied
so completed tasks' data (shared by shallow copy) is never rewritten.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.task import Task

from engine.errors import TaskNotReady
from engine.scripting import make_script_engine
from engine.specs import ProcessBundle

_SCRIPT_ENGINE = make_script_engine()


def start(bundle: ProcessBundle, data: dict[str, Any] | None = None) -> BpmnWorkflow:
    wf = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=_SCRIPT_ENGINE)
    if data:
        wf.data.update(copy.deepcopy(data))
        wf.task_tree.data.update(copy.deepcopy(data))
    wf.do_engine_steps()
    return wf


def load(bundle: ProcessBundle, state: str) -> BpmnWorkflow:
    wf = bundle.serializer.deserialize_json(state)
    # deserialize installs the default (unrestricted) script engine.
    wf.script_engine = _SCRIPT_ENGINE
    return wf


def dump(bundle: ProcessBundle, wf: BpmnWorkflow) -> str:
    return bundle.serializer.serialize_json(wf)


def all_tasks(wf: BpmnWorkflow) -> Iterator[Task]:
    """Every task of the workflow and its subprocesses, in creation order.

    Reads the workflows' task dictionaries instead of walking the task tree (what
    ``get_tasks`` does, several times slower): for filters on state alone the order
    and depth of the walk do not matter.
    """
    yield from wf.tasks.values()
    for subprocess in wf.subprocesses.values():
        yield from subprocess.tasks.values()


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
    task.data.update(copy.deepcopy(data))
    task.run()
    wf.do_engine_steps()


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
    wf.refresh_timers()
    wf.do_engine_steps()


def current_data(wf: BpmnWorkflow) -> dict[str, Any]:
    """The data the process holds now: of the ready task, else of the last task."""
    ready = ready_human_tasks(wf)
    if ready:
        return ready[0].data
    return wf.last_task.data if wf.last_task is not None else wf.data
