"""BPMN messages between the platform and its instances, and between instances.

SpiffWorkflow delivers a message inside one workflow; across workflows it leaves that to
the application: a throw that nothing in its own instance catches comes out of
``workflow.get_events()``, and a message from outside goes in with
``workflow.send_event()``. This module is the platform's side of it:

* **What instances wait for** is mirrored into ``message_waits`` after each step of a
  model that catches messages (``ProcessBundle.message_catches``; other models pay
  nothing), one row per correlation key the instance holds — SpiffWorkflow correlates a
  message with an instance when any key the message carries has the instance's values —
  or one row without key while it holds none (its first message: it catches any).
  A delivery finds its receivers by index, without loading a workflow that would not
  catch it.
* **A throw for others** is saved in ``message_queue`` with the throwing step (so it
  exists exactly when the step does) and delivered by the scheduler's ``messages`` job
  (engine.usecases.messages), each receiver in its own transaction.
* **From outside**, ``POST /api/v1/messages/{name}`` with a payload: its correlations are
  computed as each receiving model defines them (``correlationProperty`` retrieval
  expressions, in the sandbox), and a published process whose start event catches the
  message is started with it.

The payload lands where the catching event says (SpiffArena's ``messageVariable``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent, ThrowingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.util import BpmnEvent
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from engine.models import Chamado, MessageWait, QueuedMessage
from engine.tasktree import all_tasks

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_RECEIVERS = 200  # per message: a broadcast to more is refused, not half-delivered


def _definitions(task_spec: Any) -> Iterator[MessageEventDefinition]:
    definition = getattr(task_spec, "event_definition", None)
    inner = getattr(definition, "event_definitions", None)  # a multiple event
    for one in inner if inner is not None else [definition]:
        if isinstance(one, MessageEventDefinition):
            yield one


def catches(
    specs: Iterable[Any], start_only: bool = False
) -> dict[str, list[MessageEventDefinition]]:
    """Message name -> the definitions of the events that catch it, in these specs
    (``start_only``: only the top process's start events)."""
    found: dict[str, list[MessageEventDefinition]] = {}
    for spec in specs:
        for task_spec in spec.task_specs.values():
            if not isinstance(task_spec, CatchingEvent):
                continue
            if start_only and not isinstance(task_spec, StartEvent):
                continue
            for definition in _definitions(task_spec):
                found.setdefault(definition.name, []).append(definition)
        if start_only:
            break  # the top process only: a sub-process's start is not the instance's
    return found


def throws(specs: Iterable[Any]) -> dict[str, str]:
    """Message name -> the element of a throw of it (for the deploy's check)."""
    found: dict[str, str] = {}
    for spec in specs:
        for task_spec in spec.task_specs.values():
            if isinstance(task_spec, ThrowingEvent):
                for definition in _definitions(task_spec):
                    found.setdefault(definition.name, task_spec.bpmn_id)
    return found


def correlation_keys(correlations: dict[str, Any]) -> list[str]:
    """One canonical text per correlation key and its values (what rows are matched on)."""
    return [
        json.dumps([key, correlations[key]], sort_keys=True, ensure_ascii=False)
        for key in sorted(correlations)
    ]


def event(name: str, payload: Any, correlations: dict[str, Any] | None = None) -> BpmnEvent:
    from SpiffWorkflow.spiff.specs.event_definitions import (
        MessageEventDefinition as SpiffMessage,
    )

    return BpmnEvent(SpiffMessage(name), payload=payload, correlations=correlations or {})


# --- mirrored after each step ---------------------------------------------------------------


def waiting_messages(wf: Any) -> Iterator[Any]:
    """What the workflow waits for that is a message (SpiffWorkflow's pending events),
    those an event-based gateway waits on included: SpiffWorkflow reports the gateway as
    one "multiple" event, the messages of the events after it inside."""
    for pending in wf.waiting_events():
        if pending.event_type == "MessageEventDefinition":
            yield pending
    for task in all_tasks(wf):
        definition = getattr(task.task_spec, "event_definition", None)
        if task.state == TaskState.WAITING and isinstance(definition, MultipleEventDefinition):
            for inner in definition.event_definitions:
                if isinstance(inner, MessageEventDefinition):
                    yield inner.details(task)


def sync(session: Session, chamado: Chamado, wf: Any, new: bool) -> None:
    """The instance's waiting messages as rows (only for models that catch messages)."""
    if not new:
        session.execute(delete(MessageWait).where(MessageWait.chamado_id == chamado.id))
    rows = []
    for pending in waiting_messages(wf):
        keys: list[str | None] = [*correlation_keys(pending.correlations or {})] or [None]
        for key in keys:
            rows.append({"chamado_id": chamado.id, "name": pending.name, "correlation": key})
    unique = [dict(t) for t in {tuple(sorted(r.items())) for r in rows}]
    if unique:
        session.execute(insert(MessageWait), unique)


def queue_thrown(session: Session, chamado: Chamado, wf: Any, now: datetime) -> int:
    """Messages this step threw that its own instance did not catch, for the others."""
    count = 0
    for thrown in wf.get_events():
        if not isinstance(thrown.event_definition, MessageEventDefinition):
            continue  # signals and the rest stay inside their instance
        session.add(
            QueuedMessage(
                name=thrown.event_definition.name,
                payload=json.loads(
                    json.dumps(thrown.payload if thrown.payload is not None else {})
                ),
                correlations=json.loads(json.dumps(thrown.correlations or {})),
                from_chamado_id=chamado.id,
                state="pending",
                created_at=now,
            )
        )
        count += 1
    return count
