"""Use cases of "Executar teste": a designer steps their draft by hand, one transaction each.

The run itself is engine.designer.sandbox (in memory, nothing of a ticket written);
between two requests its serialized workflow waits in ``sandbox_runs`` — a table of its
own rather than the session store, so that a run survives a new login and another app
process, is bounded by rows (one per designer per model, replaced by a new start) and
is swept when left idle. Every action names the run and the step it was shown on
(``run_id``, ``step``): a second tab, a double submit or a restart changes nothing and
says so. A run belongs to the draft revision it started on: once the draft is saved
again the run is stale and must be restarted (its serialized state names the old
model's tasks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import catalogs, forms, runtime, specs
from engine.designer import drafts, sandbox
from engine.designer.access import require_designer
from engine.designer.sandbox import SandboxStepFailed, SandboxView, SimulatedMail
from engine.designer.service import Designer
from engine.errors import Conflict, DomainError, NotFound
from engine.models import SandboxRun
from engine.unit import Unit
from engine.usecases.base import Actor

IDLE = timedelta(hours=2)  # a run left alone this long is gone
MAX_ACTIONS = 200  # actions in one run: a test, not a ticket's life
MAX_STATE_CHARS = 2_000_000  # the serialized workflow, after a step
STALE_RUN = "O teste avançou ou foi reiniciado em outra aba; nada foi feito. Veja o estado atual."
NO_RUN = "Não há teste em andamento deste rascunho (ele pode ter expirado). Inicie um novo."
OLD_DRAFT = (
    "O rascunho foi salvo depois que este teste começou; nada foi feito. "
    "Reinicie o teste para usar a versão atual."
)


class SandboxFailed(DomainError):
    """The model failed during the step: the run stays as it was before it."""

    status = 422
    title = "O modelo falhou neste passo"

    def __init__(self, message: str, element_id: str | None) -> None:
        super().__init__(message)
        self.element_id = element_id


@dataclass(frozen=True)
class FormOf:
    """A ready task's form, its catalogs resolved, for the platform's form renderer."""

    schema: dict[str, Any]
    ui: dict[str, Any]
    steps: list[forms.Step]


@dataclass
class SandboxPage:
    run_id: int
    step: int
    started_at: datetime
    expires_at: datetime
    draft_version: int
    stale: bool  # the draft changed since the run began: only a restart is offered
    view: SandboxView | None
    mails: list[dict[str, Any]] = field(default_factory=list)
    forms: dict[str, FormOf] = field(default_factory=dict)  # by ready task guid
    max_actions: int = MAX_ACTIONS


class SandboxRuns:
    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self.designer = Designer(unit)

    # ------------------------------------------------------------ reading

    def current(self, actor: Actor, pid: str) -> SandboxPage | None:
        """The actor's run of this model, if any (other designers' runs are never seen)."""
        require_designer(actor)
        with self.unit.reading() as session:
            draft = drafts.load(session, pid)  # the model exists (NotFound otherwise)
            row = self._row(session, pid, actor)
            if row is None or row.expires_at <= self.unit.clock():
                return None
            if row.draft_version != draft.version:
                return self._page(session, row, None, None)
            draft, bundle = self.designer.runnable_draft(session, pid)
            wf = runtime.load(bundle, row.workflow_state)
            return self._page(session, row, bundle, (draft.bpmn_xml.encode("utf-8"), wf))

    # ------------------------------------------------------------ actions

    def start(self, actor: Actor, pid: str) -> None:
        """A new run of the draft as it is saved now, replacing the actor's previous one.
        Raises ModelRejected when the draft cannot run, SandboxFailed when its start fails."""
        require_designer(actor)
        now = self.unit.clock()
        try:
            with self.unit.transaction() as session:
                # Runs left idle by anyone are swept here (bounded by the index).
                session.execute(delete(SandboxRun).where(SandboxRun.expires_at <= now))
                draft, bundle = self.designer.runnable_draft(session, pid)
                options = catalogs.all_catalogs(session)
                try:
                    wf, mails = sandbox.start(bundle, options)
                except SandboxStepFailed as exc:
                    raise SandboxFailed(exc.message, exc.element_id) from exc
                session.execute(
                    delete(SandboxRun).where(
                        SandboxRun.process_id == pid, SandboxRun.owner_id == actor.id
                    )
                )
                row = SandboxRun(
                    process_id=pid,
                    owner_id=actor.id,
                    draft_version=draft.version,
                    steps=0,
                    workflow_state="",
                    mails=[],
                    started_at=now,
                    expires_at=now + IDLE,
                )
                self._save(row, bundle, wf, mails, now, advance=False)
                session.add(row)
                session.flush()
        except IntegrityError as exc:  # started at the same moment in another tab
            raise Conflict(STALE_RUN) from exc

    def complete(
        self, actor: Actor, pid: str, run_id: int, step: int, guid: str, posted: dict[str, Any]
    ) -> None:
        """Completes a ready task with the posted data (ValidationFailed: nothing ran)."""
        now = self.unit.clock()

        def act(bundle: Any, wf: Any, options: Any) -> list[SimulatedMail]:
            return sandbox.complete(bundle, wf, guid, posted, options, now)

        self._act(actor, pid, run_id, step, act)

    def fire_timer(self, actor: Actor, pid: str, run_id: int, step: int, element: str) -> None:
        def act(bundle: Any, wf: Any, options: Any) -> list[SimulatedMail]:
            return sandbox.fire_timer(bundle, wf, element, options)

        self._act(actor, pid, run_id, step, act)

    def send_message(
        self, actor: Actor, pid: str, run_id: int, step: int, name: str, content: str
    ) -> None:
        payload = sandbox.parse_payload(content)

        def act(bundle: Any, wf: Any, options: Any) -> list[SimulatedMail]:
            return sandbox.send_message(bundle, wf, name, payload, options)

        self._act(actor, pid, run_id, step, act)

    def discard(self, actor: Actor, pid: str, run_id: int) -> None:
        require_designer(actor)
        with self.unit.transaction() as session:
            session.execute(
                delete(SandboxRun).where(
                    SandboxRun.id == run_id,
                    SandboxRun.process_id == pid,
                    SandboxRun.owner_id == actor.id,
                )
            )

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _row(session: Session, pid: str, actor: Actor, lock: bool = False) -> SandboxRun | None:
        query = select(SandboxRun).where(
            SandboxRun.process_id == pid, SandboxRun.owner_id == actor.id
        )
        if lock:
            query = query.with_for_update()
        return session.scalar(query)

    def _act(self, actor: Actor, pid: str, run_id: int, step: int, act: Any) -> None:
        require_designer(actor)
        now = self.unit.clock()
        with self.unit.transaction() as session:
            draft = drafts.load(session, pid)
            row = self._row(session, pid, actor, lock=True)
            if row is None or row.expires_at <= now:
                raise NotFound(NO_RUN)
            if row.id != run_id or row.steps != step:
                raise Conflict(STALE_RUN)
            if row.draft_version != draft.version:
                raise Conflict(OLD_DRAFT)
            if row.steps >= MAX_ACTIONS:
                raise Conflict(
                    f"Este teste chegou ao limite de {MAX_ACTIONS} ações. Reinicie o teste."
                )
            draft, bundle = self.designer.runnable_draft(session, pid)
            wf = runtime.load(bundle, row.workflow_state)
            try:
                mails = act(bundle, wf, catalogs.all_catalogs(session))
            except SandboxStepFailed as exc:
                # The run keeps its saved state: the half-stepped workflow is dropped.
                raise SandboxFailed(exc.message, exc.element_id) from exc
            self._save(row, bundle, wf, mails, now, advance=True)

    @staticmethod
    def _save(
        row: SandboxRun,
        bundle: specs.ProcessBundle,
        wf: Any,
        mails: list[SimulatedMail],
        now: datetime,
        advance: bool,
    ) -> None:
        state = runtime.dump(bundle, wf)
        if len(state) > MAX_STATE_CHARS:
            raise Conflict(
                "O teste cresceu além do limite de estado (laços demais?); nada foi gravado. "
                "Reinicie o teste."
            )
        row.workflow_state = state
        kept = [*row.mails, *(m.as_dict() for m in mails)]
        row.mails = kept[-sandbox.MAX_MAILS :]
        if advance:
            row.steps += 1
        row.expires_at = now + IDLE

    def _page(
        self,
        session: Session,
        row: SandboxRun,
        bundle: specs.ProcessBundle | None,
        running: tuple[bytes, Any] | None,
    ) -> SandboxPage:
        page = SandboxPage(
            run_id=row.id,
            step=row.steps,
            started_at=row.started_at,
            expires_at=row.expires_at,
            draft_version=row.draft_version,
            stale=running is None,
            view=None,
            mails=list(row.mails),
        )
        if bundle is None or running is None:
            return page
        bpmn, wf = running
        page.view = sandbox.view(bundle, bpmn, wf)
        options = catalogs.all_catalogs(session)
        for ready in page.view.ready:
            if not ready.form_schema:
                continue
            schema = forms.resolve_catalogs(bundle.forms.get(ready.form_schema, {}), options)
            ui = bundle.forms.get(ready.form_ui or "", {})
            page.forms[ready.guid] = FormOf(schema, ui, forms.steps(ui, schema))
        return page
