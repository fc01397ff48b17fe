"""Use cases of the "Processos" area on drafts and versions; one transaction each.

Designers edit a draft (model + form files), validate it, attach scenarios and
publish immutable versions. Running tickets are ``engine.designer.tickets``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import catalogs, connectors, limits, scenarios, specs, timer_preview
from engine import groups as lane_groups
from engine.designer import decision_files, drafts, elements, publishing, template, xmledit
from engine.designer.access import cpf_of, require_designer
from engine.designer.drafts import Draft
from engine.designer.elements import Edits as ElementEdits
from engine.designer.folder import ModelFolder
from engine.designer.folder import choose as choose_model
from engine.designer.folder import write_zip as write_folder_zip
from engine.designer.publishing import VersionInfo
from engine.designer.validation import (
    ModelRejected,
    Problem,
    Validation,
    check_form_pair,
    user_task_forms,
    validate_model,
)
from engine.designer.views import (
    FormEdit,
    Imported,
    ModelSummary,
    ModelView,
    NewForm,
    check_form_file,
    end_events,
    is_pending,
    template_files,
    user_task,
)
from engine.errors import Conflict, NotFound, ProcessDefinitionError, ValidationFailed
from engine.models import Chamado, Group, ProcessDraft, ProcessVersion, Scenario
from engine.unit import Unit
from engine.usecases.base import Actor


@dataclasses.dataclass
class Deployed:
    """What deploying one folder did: the version published, or every problem found."""

    source: str
    process_id: str | None
    number: int | None = None  # the version published (1, 2...)
    unchanged: bool = False  # identical to a published version: nothing published
    created_groups: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    problems: list[Problem] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class Designer:
    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    # ------------------------------------------------------------ helpers

    def _catalog_names(self, session: Session) -> set[str]:
        return set(catalogs.all_catalogs(session))

    def _message_receivers(self, session: Session, pid: str) -> set[str]:
        """Messages the other published processes catch (engine.messages)."""
        latest = (
            select(func.max(ProcessVersion.id))
            .where(ProcessVersion.published_at.is_not(None), ProcessVersion.process_id != pid)
            .group_by(ProcessVersion.process_id)
        )
        found: set[str] = set()
        for version_id in session.scalars(latest):
            found.update(self.unit.bundle(session, version_id).message_catches)
        return found

    def _validate(self, session: Session, pid: str, xml: str, forms: dict[str, str]) -> Validation:
        return validate_model(
            xml.encode("utf-8"),
            forms,
            process_id=pid,
            catalogs=self._catalog_names(session),
            message_receivers=self._message_receivers(session, pid),
        )

    def _save_draft(
        self,
        session: Session,
        actor: Actor,
        pid: str,
        draft: Draft,
        expected_version: int,
        xml: str,
        forms: dict[str, str],
    ) -> Draft:
        """Saves the draft's model and forms whatever their state — a designer's
        unfinished work is never lost — with the problems that keep it from being
        published (``Draft.problems``). Only what cannot be a model at all is refused
        (ModelRejected, nothing saved): XML that does not parse, a DOCTYPE, past the
        size limit. Publishing checks everything again (``publish``)."""
        try:
            specs.safe_parse_xml(xml.encode("utf-8"))
        except ProcessDefinitionError as exc:
            raise ModelRejected([Problem(exc.element_id, exc.message)]) from exc
        problems = tuple(self._validate(session, pid, xml, forms).problems)
        saved = drafts.save(
            session,
            draft,
            expected_version,
            cpf_of(session, actor),
            self.unit.clock(),
            bpmn_xml=xml,
            form_texts=forms,
        )
        return dataclasses.replace(saved, problems=problems)

    def _require_valid(
        self, session: Session, pid: str, xml: str, forms: dict[str, str]
    ) -> specs.ProcessBundle:
        result = self._validate(session, pid, xml, forms)
        if result.bundle is None:
            raise ModelRejected(result.problems)
        return result.bundle

    def runnable_draft(self, session: Session, pid: str) -> tuple[Draft, specs.ProcessBundle]:
        """The draft and its model parsed and checked as publishing parses it
        (ModelRejected when it cannot run): the test run's (engine.designer.sandbox_runs)."""
        draft = drafts.load(session, pid)
        return draft, self._require_valid(session, pid, draft.bpmn_xml, draft.forms)

    @staticmethod
    def _requester_lane() -> str:
        return "Solicitante"  # engine.groups: a lane of this name is the requester's

    # ------------------------------------------------------------ models

    def models(self, actor: Actor) -> list[ModelSummary]:
        require_designer(actor)
        with self.unit.reading() as session:
            ids = set(session.scalars(select(ProcessVersion.process_id).distinct()))
            ids |= set(session.scalars(select(ProcessDraft.process_id)))
            return [self._summary(session, pid) for pid in sorted(ids)]

    def _summary(self, session: Session, pid: str) -> ModelSummary:
        draft = drafts.load(session, pid)
        current = drafts.current_version(session, pid)
        numbers = publishing.version_numbers(session, pid)
        running = session.scalar(
            select(func.count())
            .select_from(Chamado)
            .join(ProcessVersion, ProcessVersion.id == Chamado.process_version_id)
            .where(ProcessVersion.process_id == pid, Chamado.closed_at.is_(None))
        )
        return ModelSummary(
            process_id=pid,
            name=draft.name,
            current_number=numbers.get(current.id) if current else None,
            current_published_at=current.published_at if current else None,
            pending=is_pending(draft, current),
            running=running or 0,
        )

    def model(self, actor: Actor, pid: str) -> ModelView:
        require_designer(actor)
        with self.unit.reading() as session:
            draft = drafts.load(session, pid)
            result = self._validate(session, pid, draft.bpmn_xml, draft.forms)
            return ModelView(
                draft=draft,
                pending=is_pending(draft, drafts.current_version(session, pid)),
                versions=publishing.list_versions(session, pid),
                scenarios=scenarios.list_for(session, pid),
                end_events=end_events(draft.bpmn_xml),
                user_tasks=user_task_forms(specs.safe_parse_xml(draft.bpmn_xml.encode("utf-8"))),
                problems=result.problems,
            )

    def create_model(self, actor: Actor, pid: str, name: str) -> Draft:
        require_designer(actor)
        try:
            with self.unit.transaction() as session:
                return drafts.create(
                    session,
                    pid,
                    name,
                    self._requester_lane(),
                    cpf_of(session, actor),
                    self.unit.clock(),
                )
        except IntegrityError as exc:  # created concurrently under the same id
            raise Conflict("Já existe um modelo com este identificador.") from exc

    def draft(self, actor: Actor, pid: str) -> Draft:
        require_designer(actor)
        with self.unit.reading() as session:
            return drafts.load(session, pid)

    # ------------------------------------------------------------ the model

    def validate(
        self, actor: Actor, pid: str, xml: str, dmn: Mapping[str, object] | None = None
    ) -> list[Problem]:
        """The problems of ``xml`` with the draft's files, and the decision tables as the
        modeler's DMN editor has them (``dmn``: name → XML, ``None`` deleted)."""
        require_designer(actor)
        with self.unit.reading() as session:
            draft = drafts.load(session, pid)
            files = decision_files.apply(draft.forms, dmn or {})
            return list(self._validate(session, pid, xml, files).problems)

    def save_model(
        self,
        actor: Actor,
        pid: str,
        xml: str,
        expected_version: int,
        new_forms: list[NewForm] | None = None,
        dmn: Mapping[str, object] | None = None,
    ) -> Draft:
        """Saves the model, valid or not (its problems in ``problems``); refuses only
        what is not a model at all (engine.designer.service._save_draft).

        ``new_forms`` are form files to create from the starting template for tasks
        the designer just added, so a new user task can be saved linked to its form.
        ``dmn`` are the decision tables the DMN editor created, changed (name → XML) or
        deleted (name → ``None``), saved in the same draft version as the diagram.
        """
        require_designer(actor)
        try:
            with self.unit.transaction() as session:
                draft = drafts.load(session, pid)
                forms = decision_files.apply(draft.forms, dmn or {})
                for form in new_forms or []:
                    forms.update(template_files(form, forms))
                return self._save_draft(session, actor, pid, draft, expected_version, xml, forms)
        except IntegrityError as exc:
            raise Conflict(drafts.STALE) from exc

    def elements(self, actor: Actor, pid: str) -> tuple[Draft, elements.Elements]:
        """The draft's steps, events and gateways with their names, and each decision's
        flows with their conditions: the "Elementos" form (engine.designer.elements)."""
        require_designer(actor)
        with self.unit.reading() as session:
            draft = drafts.load(session, pid)
        return draft, elements.read(draft.bpmn_xml.encode("utf-8"))

    def save_elements(
        self, actor: Actor, pid: str, expected_version: int, edits: ElementEdits
    ) -> Draft:
        """The edits made on the draft's XML, saved as the modeler saves: whatever the
        result's state, with its problems (ValidationFailed, nothing saved, for a name
        or condition past its bounds)."""
        require_designer(actor)
        with self.unit.reading() as session:
            draft = drafts.load(session, pid)
        xml = elements.apply(draft.bpmn_xml.encode("utf-8"), edits)
        return self.save_model(actor, pid, xml, expected_version)

    def import_model(self, actor: Actor, pid: str, data: bytes) -> Imported:
        """An uploaded .bpmn checked safely; not saved (the modeler shows it first)."""
        require_designer(actor)
        try:
            specs.safe_parse_xml(data)
            xml = data.decode("utf-8")
        except ProcessDefinitionError as exc:
            raise ModelRejected([Problem(exc.element_id, exc.message)]) from exc
        except UnicodeDecodeError as exc:
            raise ModelRejected([Problem(None, "O arquivo não está em UTF-8.")]) from exc
        return Imported(xml=xml, problems=self.validate(actor, pid, xml))

    def import_folder(self, actor: Actor, folder: ModelFolder) -> Draft:
        """A SpiffArena folder (``process_model.json``, its .bpmn, forms, decision
        tables) as a NEW model's draft, whatever its state: what keeps it from being
        published is in ``Draft.problems``, to finish in the modeler (a process marked
        ``isExecutable="false"`` is switched on there). Refused (ModelRejected, nothing
        saved) only when no model can be picked from the folder; an existing model
        keeps its draft (Conflict)."""
        require_designer(actor)
        chosen, problems = choose_model(folder, drafting=True)
        if chosen is None:
            raise ModelRejected(problems)
        pid = chosen.process_id
        if not template.PROCESS_ID.fullmatch(pid):
            rule = f"Id de processo inválido. {template.PROCESS_ID_RULE}"
            raise ModelRejected([Problem(pid[:100], rule)])
        try:
            xml = chosen.bpmn.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModelRejected([Problem(None, "O arquivo .bpmn não está em UTF-8.")]) from exc
        # Every decision table of the folder comes along, as the export sends them.
        files = {n: d.decode("utf-8", "replace") for n, d in folder.dmn_files.items()}
        files.update(chosen.forms)
        name = folder.name.strip() or drafts.process_name(xml) or pid
        try:
            with self.unit.transaction() as session:
                draft = drafts.create_from(
                    session, pid, name[:200], xml, files, cpf_of(session, actor), self.unit.clock()
                )
                found = tuple(self._validate(session, pid, xml, files).problems)
        except IntegrityError as exc:  # imported concurrently under the same id
            raise Conflict("Já existe um modelo com este identificador.") from exc
        return dataclasses.replace(draft, problems=found)

    def form_file(self, actor: Actor, pid: str, filename: str) -> bytes:
        """One of the draft's form files (JSON), by its name."""
        require_designer(actor)
        with self.unit.reading() as session:
            draft = drafts.load(session, pid)
        if specs.is_mail_file(filename) or filename not in draft.forms:
            raise NotFound(f"O arquivo {filename} não existe no rascunho.")
        return draft.forms[filename].encode("utf-8")

    def export_folder(self, actor: Actor, pid: str) -> tuple[str, bytes]:
        """The draft as SpiffArena's process-model folder, zipped (engine.designer.folder):
        the model, the forms and e-mail templates it uses, ``process_model.json``."""
        require_designer(actor)
        with self.unit.reading() as session:
            draft = drafts.load(session, pid)
        bpmn, files = publishing.publishable_content(draft)
        # A draft's decision tables go along even before a task calls them: work in
        # progress, as the designer sees it in the modeler (a version keeps used ones).
        files = {**decision_files.texts(draft.forms), **files}
        return f"{pid}.zip", write_folder_zip(pid, draft.name, "", bpmn, files)

    def export(self, actor: Actor, pid: str, version_id: int | None = None) -> tuple[str, bytes]:
        require_designer(actor)
        with self.unit.reading() as session:
            if version_id is None:
                return f"{pid}.bpmn", drafts.load(session, pid).bpmn_xml.encode("utf-8")
            row = session.get(ProcessVersion, version_id)
            if row is None or row.process_id != pid:
                raise NotFound("Versão não encontrada.")
            number = publishing.version_numbers(session, pid)[row.id]
            return f"{pid}-v{number}.bpmn", row.bpmn_xml.encode("utf-8")

    # ------------------------------------------------------------ forms

    def task_form(self, actor: Actor, pid: str, task_id: str) -> FormEdit:
        require_designer(actor)
        with self.unit.reading() as session:
            draft = drafts.load(session, pid)
        task = user_task(draft, task_id)
        schema_file = task.schema_file or f"{task_id}-schema.json"
        ui_file = task.ui_file or f"{task_id}-uischema.json"
        schema_text, ui_text = template.new_form_texts(task.name)
        new = schema_file not in draft.forms
        tree = specs.safe_parse_xml(draft.bpmn_xml.encode("utf-8"))
        shared = tuple(
            f"{other.name} ({other.task_id})"
            for other in user_task_forms(tree)
            if other.task_id != task_id and other.schema_file == schema_file
        )
        return FormEdit(
            process_id=pid,
            draft_version=draft.version,
            task=task,
            schema_file=schema_file,
            ui_file=ui_file,
            schema_text=draft.forms.get(schema_file, schema_text),
            ui_text=draft.forms.get(ui_file, ui_text if new else "{}"),
            new=new,
            shared_with=shared,
        )

    def save_form(
        self,
        actor: Actor,
        pid: str,
        task_id: str,
        files: tuple[str, str],
        texts: tuple[str, str],
        expected_version: int,
    ) -> Draft:
        """Writes a task's schema and UI files and links the task to them."""
        require_designer(actor)
        schema_file, ui_file = (f.strip() for f in files)
        for name in (schema_file, ui_file):
            check_form_file(name, task_id)
        if schema_file == ui_file:
            message = "O esquema e o UI precisam de arquivos distintos."
            raise ModelRejected([Problem(task_id, message)])
        with self.unit.transaction() as session:
            draft = drafts.load(session, pid)
            user_task(draft, task_id)
            try:
                check_form_pair(schema_file, texts[0], texts[1], self._catalog_names(session))
            except ProcessDefinitionError as exc:
                raise ModelRejected([Problem(exc.element_id or task_id, exc.message)]) from exc
            forms = {**draft.forms, schema_file: texts[0], ui_file: texts[1]}
            xml = xmledit.link_task_forms(
                draft.bpmn_xml.encode("utf-8"), task_id, schema_file, ui_file
            ).decode("utf-8")
            return self._save_draft(session, actor, pid, draft, expected_version, xml, forms)

    def lane_groups(self, actor: Actor) -> list[tuple[str, str]]:
        """(key, name) of every group, for the modeler's lane → group choice."""
        require_designer(actor)
        with self.unit.reading() as session:
            rows = session.execute(select(Group.key, Group.name).order_by(Group.name)).all()
        return [(key, name) for key, name in rows if key != lane_groups.REQUESTER]

    def connectors(self, actor: Actor) -> list[dict[str, object]]:
        """The platform's connectors (engine.connectors' registry), for the modeler's
        service task: each operator with its required and optional parameters."""
        require_designer(actor)
        return [
            {
                "operator": c.operator,
                "required": list(c.required),
                "optional": list(c.optional),
            }
            for c in sorted(connectors.REGISTRY.values(), key=lambda c: c.operator)
        ]

    def timer_preview(
        self, actor: Actor, kind: str, expression: str, xml: str = ""
    ) -> timer_preview.TimerPreview:
        """A timer expression read back in pt-BR, or why it cannot be armed (no database)."""
        require_designer(actor)
        return timer_preview.preview(kind, expression, xml)

    def form_options(self, actor: Actor) -> dict[str, list[catalogs.CatalogOption]]:
        """Catalogs for the live preview of ``x-catalog`` fields."""
        require_designer(actor)
        with self.unit.reading() as session:
            return catalogs.all_catalogs(session)

    # ------------------------------------------------------------ scenarios

    def save_scenario(
        self,
        actor: Actor,
        pid: str,
        name: str,
        steps: str,
        expected_end: str,
        scenario_id: int | None = None,
        expected_version: int | None = None,
    ) -> Scenario:
        """A new scenario, or the edit of ``scenario_id`` made on ``expected_version`` (the
        one the designer's page showed; required then): Conflict when it moved since."""
        require_designer(actor)
        with self.unit.transaction() as session:
            drafts.load(session, pid)  # the model must exist
            return scenarios.save(
                session,
                pid,
                name,
                steps,
                expected_end,
                self.unit.clock(),
                scenario_id,
                expected_version,
            )

    def delete_scenario(self, actor: Actor, pid: str, scenario_id: int) -> None:
        require_designer(actor)
        with self.unit.transaction() as session:
            scenarios.delete(session, pid, scenario_id)

    def run_scenarios(self, actor: Actor, pid: str) -> list[scenarios.ScenarioReport]:
        """The scenarios run on the draft, without publishing."""
        require_designer(actor)
        with self.unit.reading() as session:
            draft = drafts.load(session, pid)
            bundle = self._require_valid(session, pid, draft.bpmn_xml, draft.forms)
            return publishing.run_scenarios(
                session,
                bundle,
                catalogs.all_catalogs(session),
                self.unit.clock(),
            )

    # ------------------------------------------------------------ publishing

    def publish(self, actor: Actor, pid: str, expected_version: int, note: str) -> VersionInfo:
        """Validate, run the scenarios, then store an immutable published version."""
        require_designer(actor)
        try:
            with self.unit.transaction() as session:
                draft = drafts.load(session, pid)
                if draft.version != expected_version:
                    raise Conflict(drafts.STALE)
                bpmn, forms = publishing.publishable_content(draft)
                bundle = self._require_valid(session, pid, bpmn.decode("utf-8"), forms)
                reports = publishing.run_scenarios(
                    session,
                    bundle,
                    catalogs.all_catalogs(session),
                    self.unit.clock(),
                )
                row, created = publishing.publish(
                    session,
                    draft,
                    bundle,
                    reports,
                    note,
                    cpf_of(session, actor),
                    self.unit.clock(),
                )
                info = next(v for v in publishing.list_versions(session, pid) if v.id == row.id)
                return dataclasses.replace(info, created_groups=tuple(created))
        except IntegrityError as exc:  # the same content published concurrently
            raise Conflict("Esta versão acabou de ser publicada por outra pessoa.") from exc

    def deploy_folder(
        self, folder: ModelFolder, note: str = "", actor: Actor | None = None
    ) -> Deployed:
        """Validate and publish a SpiffArena folder (or one .bpmn) as its process's new
        version: from the operator's shell (``chamados models deploy``, no ``actor``) or
        by a designer through the API.

        The process id is the one written in the model. A draft being edited is replaced
        only when the folder publishes; an unchanged model publishes nothing.
        """
        if actor is not None:
            require_designer(actor)
        if limits.forbidden_character(note, multiline=True):  # PostgreSQL refuses a NUL
            raise ValidationFailed({"nota": "A nota contém um caractere de controle inválido."})
        chosen, problems = choose_model(folder)
        if chosen is None:
            return Deployed(folder.source, None, problems=problems)
        pid = chosen.process_id
        if not template.PROCESS_ID.fullmatch(pid):
            problem = Problem(pid[:100], f"Id de processo inválido. {template.PROCESS_ID_RULE}")
            return Deployed(folder.source, None, problems=[problem], notes=chosen.notes)
        with self.unit.transaction() as session:
            result = validate_model(
                chosen.bpmn,
                chosen.forms,
                catalogs=self._catalog_names(session),
                run=pid,
                message_receivers=self._message_receivers(session, pid),
            )
            if result.bundle is None:
                return Deployed(folder.source, pid, problems=result.problems, notes=chosen.notes)
            now = self.unit.clock()
            digest = specs.content_hash(chosen.bpmn, chosen.forms)
            same = session.scalar(
                select(ProcessVersion.id).where(
                    ProcessVersion.process_id == pid, ProcessVersion.content_hash == digest
                )
            )
            if same is not None:  # identical to a published version: nothing to publish
                return Deployed(folder.source, pid, unchanged=True, notes=chosen.notes)
            # Checked before anything is written: a refusal leaves the draft as it was.
            reports = publishing.run_scenarios(
                session, result.bundle, catalogs.all_catalogs(session), now
            )
            failed = [r for r in reports if not r.passed]
            if failed:
                return Deployed(
                    folder.source,
                    pid,
                    problems=[
                        Problem(pid, f"O cenário {r.name!r} falhou: nada foi publicado.")
                        for r in failed
                    ],
                    notes=chosen.notes,
                )
            xml = chosen.bpmn.decode("utf-8")
            if drafts.exists(session, pid):
                current = drafts.load(session, pid)
            else:
                current = Draft(pid, folder.name or pid, xml, {}, 0, None, None)
            who = cpf_of(session, actor) if actor is not None else None
            draft = drafts.save(
                session, current, current.version, who, now, bpmn_xml=xml, form_texts=chosen.forms
            )
            row, created = publishing.publish(
                session,
                draft,
                result.bundle,
                reports,
                note or f"Implantado a partir de {folder.source}",
                who,
                now,
            )
            number = publishing.version_numbers(session, pid)[row.id]
            return Deployed(
                folder.source, pid, number=number, created_groups=created, notes=chosen.notes
            )

    def versions(self, actor: Actor, pid: str) -> list[VersionInfo]:
        require_designer(actor)
        with self.unit.reading() as session:
            return publishing.list_versions(session, pid)
