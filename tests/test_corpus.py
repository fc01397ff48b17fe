"""The public corpus (corpus/, see corpus/SOURCES.md): models nobody here wrote, deployed
through the real ``chamados models deploy`` and, where deployed, driven to their end
through the REST API.

Each model folder is deployed on its own; the command must never crash (exit 0 or 1,
no traceback, no "erro inesperado", every refusal line ``element_id: mensagem``). A
deployed model is started by an admin through the API and driven: each open task —
the requester's or a group's — is completed by the admin on its holder's behalf
(``POST /tasks/{id}/complete-as-admin``) with data generated from the task's form schema
(tests/schema_data.py); a model waiting for a message gets it through
``POST /messages/{name}``; one waiting for a timer has the clock moved to it and the
scheduler's use case fires it. No call may answer 500.

The run's report must equal ``corpus/report.json`` (so a regression, or an improvement,
fails until the report is regenerated: ``CORPUS_WRITE=1 pytest tests/test_corpus.py``,
then ``python3 scripts/corpus_report.py --write`` for README's "Corpus público").
Deselect with ``-m "not corpus"``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.models import Chamado, MessageWait, WorkflowTimer
from engine.service import Chamados
from tests.conftest import FRIDAY_EVENING, FakeClock
from tests.schema_data import form_data
from tests.test_api import build_app, person
from web.cli import main

pytestmark = pytest.mark.corpus

_spec = importlib.util.spec_from_file_location(
    "corpus_report", Path(__file__).resolve().parent.parent / "scripts/corpus_report.py"
)
assert _spec is not None and _spec.loader is not None
corpus_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus_report)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
REPORT = CORPUS / "report.json"
ADMIN_CPF = "52998224725"
MAX_STEPS = 40

# What the corpus does today; a change either way must be looked at (and the report,
# README included, regenerated).
EXPECTED = {
    "models": 38,
    "deployed": 20,
    "refused": 18,
    "ran_to_end": 16,
    "incident": 3,
    "stuck": 1,
    "not_started": 0,
}

_PUBLISHED = re.compile(r": (\S+) (?:publicado \(versão \d+\)|já publicado sem alterações)\.$")
_PROBLEM_LINE = re.compile(r"^\S[^\n]*?: \S")
_NEVER = ("Traceback", "erro inesperado", " at 0x", "<Element ", "Exception")


def model_dirs() -> list[Path]:
    """corpus/<source>/<model>/: each folder holding a .bpmn file."""
    return sorted(
        d
        for d in CORPUS.glob("*/*")
        if d.is_dir() and any(p.suffix == ".bpmn" for p in d.iterdir())
    )


class Client:
    """The admin's API calls; any 5xx fails the run on the spot."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        resp = self.client.open(f"/api/v1{path}", method=method, json=body, headers=self.headers)
        assert resp.status_code < 500, f"{method} {path}: {resp.get_data(as_text=True)[:500]}"
        if resp.status_code >= 400:
            assert resp.mimetype == "application/problem+json", resp.get_data(as_text=True)
        return resp.status_code, resp.get_json(silent=True)


def problem_text(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    errors = body.get("errors") or {}
    if errors:
        return "; ".join(f"{k}: {v}" for k, v in sorted(errors.items()))
    return str(body.get("detail") or body.get("title") or "")


def deploy(app: Flask, folder: Path) -> dict[str, Any]:
    rel = folder.relative_to(CORPUS).as_posix()
    with app.app_context():
        result = CliRunner().invoke(main, ["models", "deploy", str(folder)])
    output = result.output.replace(str(folder), rel)
    assert result.exit_code in (0, 1), f"{rel}: saída {result.exit_code}\n{output}"
    assert isinstance(result.exception, SystemExit | None), f"{rel}: {result.exception!r}"
    for never in _NEVER:
        assert never not in output, f"{rel}: {never!r} na saída\n{output}"
    lines = [line for line in output.splitlines() if line.strip()]
    if result.exit_code == 0:
        published = [m.group(1) for line in lines if (m := _PUBLISHED.search(line))]
        assert len(published) == 1, output
        return {"model": rel, "deployed": True, "process_id": published[0]}
    header = next(i for i, line in enumerate(lines) if ": recusado (" in line)
    problems = lines[header + 1 :]
    assert problems, output
    for line in problems:
        assert _PROBLEM_LINE.match(line), f"{rel}: linha fora do formato: {line!r}"
    return {"model": rel, "deployed": False, "problems": problems}


def drive(app: Flask, api: Client, clock: FakeClock, process_id: str) -> dict[str, Any]:
    """Start an instance and take it as far as it goes; returns how it ended."""
    svc: Chamados = app.extensions["chamados"]
    status, body = api.call("POST", f"/processes/{process_id}/instances")
    if status != 201:
        return {"run": "not_started", "detail": problem_text(body)}
    cid = body["chamado"]["id"]
    steps = 0
    for _ in range(MAX_STEPS):
        svc.messages.deliver_queued("corpus")
        _status, view = api.call("GET", f"/chamados/{cid}")
        chamado = view["chamado"]
        if chamado["incident"] is not None:
            incident = chamado["incident"]
            return {
                "run": "incident",
                "steps": steps,
                "detail": f"{incident['element']}: {incident['message']}",
            }
        if chamado["closed_at"] is not None:
            return {"run": "ran_to_end", "steps": steps}
        if view["open_tasks"]:
            outcome = complete(api, view["open_tasks"][0]["id"])
            if outcome is not None:
                return {"run": "stuck", "steps": steps, "detail": outcome}
        elif not (send_awaited_message(svc, api, cid) or fire_next_timer(svc, clock, cid)):
            return {"run": "stuck", "steps": steps, "detail": "sem tarefa, mensagem ou timer"}
        steps += 1
    return {"run": "stuck", "steps": steps, "detail": f"mais de {MAX_STEPS} passos"}


def complete(api: Client, task_id: int) -> str | None:
    """The admin completes the task with data from its form; None when it went through."""
    status, form = api.call("GET", f"/tasks/{task_id}?as_admin=true")
    assert status == 200, form
    last = ""
    for required_only in (False, True):
        data = form_data(form["schema"] or {}, required_only=required_only)
        status, body = api.call(
            "POST",
            f"/tasks/{task_id}/complete-as-admin",
            {"data": data, "version": form["version"]},
        )
        if status in (200, 202):
            return None
        last = f"{form['task']['name']}: {status} {problem_text(body)}"
    return last


def send_awaited_message(svc: Chamados, api: Client, cid: int) -> bool:
    """A message the instance waits for, sent with the correlation it holds."""
    with svc.unit.session_factory() as s:
        wait = s.scalars(
            select(MessageWait).where(MessageWait.chamado_id == cid).order_by(MessageWait.id)
        ).first()
    if wait is None:
        return False
    # The correlation it holds, ``[key, {property: value}]``, sent as the payload: right
    # when each property's retrieval expression is its own name, as in SpiffArena's models.
    payload: dict[str, Any] = {}
    if wait.correlation:
        _key, values = json.loads(wait.correlation)
        payload = values if isinstance(values, dict) else {}
    else:  # nothing held yet (a message start): each property its retrieval reads
        payload = {name: f"corpus-{name}" for name in _retrieved_names(svc, cid, wait.name)}
    status, _body = api.call("POST", f"/messages/{wait.name}", {"payload": payload})
    return status == 200


def _retrieved_names(svc: Chamados, cid: int, message: str) -> list[str]:
    """The payload names the model's correlation expressions for ``message`` read, where
    an expression is a bare name (SpiffArena's models write them so)."""
    with svc.unit.session_factory() as s:
        version_id = s.scalar(select(Chamado.process_version_id).where(Chamado.id == cid))
        bundle = svc.unit.bundle(s, version_id)
    names = []
    for definition in bundle.message_catches.get(message, []):
        for prop in getattr(definition, "correlation_properties", None) or []:
            expression = str(getattr(prop, "retrieval_expression", "") or "").strip()
            if expression.isidentifier():
                names.append(expression)
    return names


def fire_next_timer(svc: Chamados, clock: FakeClock, cid: int) -> bool:
    with svc.unit.session_factory() as s:
        due = s.scalar(
            select(func.min(WorkflowTimer.due_at)).where(
                WorkflowTimer.chamado_id == cid, WorkflowTimer.state == "waiting"
            )
        )
    if due is None:
        return False
    clock.now = max(clock.now, due) + timedelta(seconds=1)
    return bool(svc.timers.fire_due_timers("corpus"))


def run_corpus(app: Flask) -> dict[str, Any]:
    svc: Chamados = app.extensions["chamados"]
    clock = FakeClock(FRIDAY_EVENING)
    svc.clock = clock
    api = Client(app.test_client(), person(app, ADMIN_CPF, "Carlos Admin", "admin"))
    models = []
    for folder in model_dirs():
        entry = deploy(app, folder)
        if entry["deployed"]:
            entry.update(drive(app, api, clock, entry["process_id"]))
        models.append(entry)
    counts = {
        "models": len(models),
        "deployed": sum(m["deployed"] for m in models),
        "refused": sum(not m["deployed"] for m in models),
    }
    for outcome in ("ran_to_end", "incident", "stuck", "not_started"):
        counts[outcome] = sum(m.get("run") == outcome for m in models)
    return {"counts": counts, "models": models}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


def test_the_public_corpus_deploys_and_runs_as_reported(app: Flask) -> None:
    report = run_corpus(app)
    text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    if os.environ.get("CORPUS_WRITE") == "1":
        REPORT.write_text(text, encoding="utf-8")
    committed = json.loads(REPORT.read_text(encoding="utf-8"))
    for got, want in zip(report["models"], committed["models"], strict=False):
        assert got == want, f"{got['model']}: mudou (CORPUS_WRITE=1 regrava corpus/report.json)"
    assert report == committed
    assert report["counts"] == EXPECTED


def test_every_corpus_file_is_listed_with_its_source_and_unchanged_length() -> None:
    """corpus/MANIFEST.tsv names where each file came from; a file edited here (even a
    line ending) no longer has the length it had upstream."""
    listed = {}
    for line in (CORPUS / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines():
        rel, repo, path, commit, chars = line.split("\t")
        assert re.fullmatch(r"[0-9a-f]{40}", commit) and repo and path, line
        listed[rel] = int(chars)
    files = {
        p.relative_to(CORPUS).as_posix(): p
        for d in model_dirs()
        for p in d.iterdir()
        if p.is_file()
    }
    assert sorted(files) == sorted(listed)
    for rel, path in files.items():
        assert len(path.read_bytes().decode("utf-8")) == listed[rel], rel


def test_the_readme_reports_the_committed_corpus_run() -> None:
    report = json.loads(REPORT.read_text(encoding="utf-8"))
    readme = corpus_report.README.read_text(encoding="utf-8")
    assert corpus_report.section_of(readme) == corpus_report.render(report), (
        "README desatualizado: python3 scripts/corpus_report.py --write"
    )
