"""engine.serializer restores a saved instance as SpiffWorkflow's own converter does.

Its task restore (engine.serializer._TaskConverter) parses each task id once per load;
everything else is SpiffWorkflow's TaskConverter.from_dict. Here both restore the same
saved states — the chamado through its whole lifecycle, and every public corpus model
that parses, stepped as far as its forms allow — and the two workflows must be equal
task by task (id, parent, children, state, data, internal data, timestamps, waiting
events), save to the same text, and share one id object per task.
"""

from __future__ import annotations

import copy
import json
import pickle
import uuid
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer.default.workflow import TaskConverter

from engine import runtime, serializer, specs
from engine.designer import folder as model_folder
from engine.errors import ModelRuntimeError, ProcessDefinitionError
from engine.models import Chamado
from engine.service import ActorRef, Chamados
from engine.settings import PROJECT_ROOT
from tests.test_engine_lifecycle import (
    chamado,
    decide,
    open_task,
    registration,
    submit_registration,
)

CORPUS_MODELS = sorted(
    d for d in (PROJECT_ROOT / "corpus").glob("*/*") if d.is_dir() and any(d.glob("*.bpmn"))
)


def reference_load(bundle: specs.ProcessBundle, state: str) -> BpmnWorkflow:
    """The same serializer with SpiffWorkflow's own TaskConverter.from_dict restoring
    each task (a UUID parsed per occurrence, the parent's data merged by DeepMerge)."""
    reference = serializer.bound_serializer(bundle.spec, bundle.subprocess_specs)
    registry = reference.registry
    ours = registry.convert_from_dict["Task"].args[0].__self__  # the registered converter

    def stock(dct: dict[str, Any], workflow: Any, ids: Any = None) -> Any:
        return TaskConverter.from_dict(ours, dct, workflow)

    registry.convert_from_dict["Task"] = stock
    wf = reference.deserialize_json(state)
    wf.script_engine = runtime.load(bundle, state).script_engine
    return wf


def snapshot(wf: BpmnWorkflow) -> dict[str, Any]:
    def tasks(workflow: Any) -> dict[str, Any]:
        return {
            str(task.id): (
                task.task_spec.name,
                task.state,
                str(task._parent) if task._parent is not None else None,
                [str(child) for child in task._children],
                task.data,
                task.internal_data,
                task.triggered,
                task.last_state_change,
            )
            for task in workflow.tasks.values()
        }

    return {
        "tasks": tasks(wf),
        "root": str(wf.task_tree.id),
        "last_task": str(wf.last_task.id) if wf.last_task is not None else None,
        "data": wf.data,
        "completed": wf.completed,
        "subprocesses": {str(k): tasks(v) for k, v in wf.subprocesses.items()},
        "waiting": sorted(str(task_id) for task_id in wf.event_manager.tasks),
    }


def aliasing(wf: BpmnWorkflow) -> dict[str, list[str]]:
    """Per task, the data keys whose list or dict is the parent's very object: a script
    that changes one in place changes both, so the restore must alias as SpiffWorkflow's."""
    return {
        str(task.id): sorted(
            key
            for key, value in task.data.items()
            if isinstance(value, dict | list | set) and task.parent.data.get(key) is value
        )
        for task in wf.tasks.values()
        if task.parent is not None
    }


def assert_same_restore(bundle: specs.ProcessBundle, state: str) -> None:
    ours = runtime.load(bundle, state)
    reference = reference_load(bundle, state)
    assert snapshot(ours) == snapshot(reference)
    assert aliasing(ours) == aliasing(reference)
    saved = runtime.dump(bundle, ours)
    assert saved == runtime.dump(bundle, reference)
    # Equal to what was saved (its keys may come in another order when it was saved from
    # a workflow stepped in memory rather than loaded: SpiffWorkflow's own round trip).
    assert json.loads(saved) == json.loads(state)
    for task in ours.tasks.values():
        parent = task.parent
        if parent is not None:
            assert any(child is task.id for child in parent._children)
            assert ours.tasks.get(task._parent) is parent
    # Not a test of itself: the reference really is SpiffWorkflow's path (ids unshared).
    shared = [t for t in reference.tasks.values() if t.parent is not None]
    if shared:
        assert not all(any(c is t.id for c in t.parent._children) for t in shared), (
            "a referência deveria analisar cada id separadamente"
        )


def stored(svc: Chamados, chamado_id: int) -> tuple[specs.ProcessBundle, str]:
    with svc.unit.session_factory() as s:
        c = s.get(Chamado, chamado_id)
        assert c is not None
        return svc.unit.bundle(s, c.process_version_id), c.workflow_state


def test_the_chamado_restores_as_spiffworkflow_restores_it(
    svc: Chamados, maria: ActorRef, ana: ActorRef
) -> None:
    chamado_id = submit_registration(svc, maria)
    assert_same_restore(*stored(svc, chamado_id))
    decide(svc, ana, chamado_id, {"decisao": "ajuste", "ajuste_solicitado": "Detalhe o erro."})
    assert_same_restore(*stored(svc, chamado_id))
    task = open_task(svc, chamado_id, "requester")
    svc.requests.complete_task(
        maria,
        task.id,
        registration(detalhamento="Erro 500 ao consultar."),
        chamado(svc, chamado_id).version,
    )
    assert_same_restore(*stored(svc, chamado_id))
    decide(svc, ana, chamado_id, {"decisao": "resolver", "resposta": "Corrigido."})
    bundle, state = stored(svc, chamado_id)
    assert runtime.load(bundle, state).is_completed()
    assert_same_restore(bundle, state)


def _bundle(folder: Path) -> specs.ProcessBundle | None:
    """The model the platform would deploy from the folder (its primary file and process,
    the files it runs with), or None where the platform refuses it."""
    chosen, _problems = model_folder.choose(model_folder.read_path(folder))
    if chosen is None:
        return None
    try:
        return specs.parse_process(chosen.bpmn, chosen.forms, process_id=chosen.process_id)
    except ProcessDefinitionError:
        return None


@pytest.mark.parametrize("folder", CORPUS_MODELS, ids=lambda d: d.name)
def test_every_corpus_state_restores_as_spiffworkflow_restores_it(folder: Path) -> None:
    bundle = _bundle(folder)
    if bundle is None:
        return  # refused by the platform (test_corpus reports why)
    try:
        wf = runtime.start(bundle)
    except ModelRuntimeError:
        return
    for _step in range(8):
        assert_same_restore(bundle, runtime.dump(bundle, wf))
        ready = runtime.ready_human_tasks(wf)
        if not ready:
            break
        try:
            runtime.complete(wf, ready[0], {})
        except ModelRuntimeError:
            break
    assert_same_restore(bundle, runtime.dump(bundle, wf))


# --- task ids that keep their text (engine.serializer._Id) ----------------------------------


def test_a_loaded_task_id_is_the_uuid_it_was_saved_from() -> None:
    plain = uuid.uuid4()
    text = str(plain)
    loaded = serializer._Ids()[text]
    assert isinstance(loaded, uuid.UUID)
    assert loaded == plain and plain == loaded and hash(loaded) == hash(plain)
    assert {plain: 1}[loaded] == 1
    assert str(loaded) == text and repr(loaded) == repr(plain)
    assert loaded.hex == plain.hex and loaded.version == 4
    # Immutable, so a copy is itself; a pickle is a plain UUID.
    assert copy.copy(loaded) is loaded and copy.deepcopy({"k": loaded})["k"] is loaded
    unpickled = pickle.loads(pickle.dumps(loaded))
    assert type(unpickled) is uuid.UUID and unpickled == plain
    # Any spelling UUID accepts saves back in the canonical form, as a plain UUID would.
    for spelling in (text.upper(), "{" + text + "}", plain.hex, "urn:uuid:" + text):
        assert str(serializer._Ids()[spelling]) == text
    with pytest.raises(ValueError):
        serializer._Ids()["not-an-id"]


def test_a_task_id_kept_in_task_data_saves_and_restores_as_a_uuid(
    svc: Chamados, maria: ActorRef
) -> None:
    bundle, state = stored(svc, submit_registration(svc, maria))
    wf = runtime.load(bundle, state)
    task = runtime.ready_human_tasks(wf)[0]
    task.data["origem"] = task.id  # as a model's script could keep it
    restored = runtime.load(bundle, runtime.dump(bundle, wf))
    kept = restored.get_task_from_id(task.id).data["origem"]
    assert kept == task.id and isinstance(kept, uuid.UUID)
