"""SpiffArena's process-model folder, the unit designers bring: read it and pick its model.

A folder holds ``process_model.json`` (``display_name``, ``description``,
``primary_file_name``, ``primary_process_id``), every ``.bpmn`` and ``.dmn`` file and the
forms' JSON files — and, this platform's own, the e-mail templates the model declares in a
``mail/`` subfolder. A single ``.bpmn`` file is a folder of one: its forms are looked up
beside it. Reading never raises for what is inside the files: every problem is a
``Problem`` naming the element (or the file), for the deploy to report all at once.
The version keeps, beside the primary model, the files it runs with (specs.used_files):
the .bpmn files its call activities reach, the .dmn files of its business rule tasks,
its forms and e-mail templates. ``write_zip`` is the way back: a model exported as the
same folder, zipped.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from lxml import etree

from engine import limits, specs
from engine.designer.validation import BPMN_NS, MAX_FORM_BYTES, MAX_FORMS, Problem
from engine.errors import ProcessDefinitionError

METADATA = "process_model.json"
MAX_FILES = 200


class UnreadablePath(ValueError):
    """The path is not a model at all (a usage error); ``str()`` is pt-BR."""


@dataclass
class ModelFolder:
    """What a folder (or a single .bpmn) brings, before any check of the model itself."""

    source: str  # the path as given, for messages
    name: str  # display name
    description: str
    primary_file: str | None
    primary_process_id: str | None
    bpmn_files: dict[str, bytes] = field(default_factory=dict)
    form_files: dict[str, str] = field(default_factory=dict)
    dmn_files: dict[str, bytes] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def read_path(path: Path) -> ModelFolder:
    if path.is_file() and path.suffix.lower() == ".bpmn":
        folder = _read_dir(path.parent, str(path), only_bpmn=path.name)
        folder.primary_file = path.name
        return folder
    if path.is_file() and path.suffix.lower() == ".zip":
        return read_zip(str(path), path.read_bytes())
    if path.is_dir():
        return _read_dir(path, str(path))
    if not path.exists():
        raise UnreadablePath(f"{path}: não existe.")
    raise UnreadablePath(
        f"{path}: informe uma pasta de modelo do SpiffArena (com process_model.json) ou um "
        "arquivo .bpmn, ou a pasta num .zip."
    )


def _read_dir(base: Path, source: str, only_bpmn: str | None = None) -> ModelFolder:
    paths = sorted(p for p in base.iterdir() if p.is_file())
    if len(paths) > MAX_FILES:
        raise UnreadablePath(f"{source}: a pasta tem mais de {MAX_FILES} arquivos.")
    files: dict[str, bytes] = {}
    for path in paths:
        suffix = path.suffix.lower()
        if suffix == ".bpmn" and only_bpmn is not None and path.name != only_bpmn:
            continue
        if suffix == ".json" and path.stat().st_size > MAX_FORM_BYTES:
            files[path.name] = _TOO_BIG  # reported without reading it
            continue
        if suffix in (".bpmn", ".json") and not (only_bpmn and path.name == METADATA):
            files[path.name] = path.read_bytes()
        elif suffix == ".dmn" and only_bpmn is None:
            too_big = path.stat().st_size > specs.MAX_BPMN_BYTES
            files[path.name] = _TOO_BIG if too_big else path.read_bytes()
    mail = base / "mail"
    if only_bpmn is None and mail.is_dir():
        for path in sorted(p for p in mail.iterdir() if p.is_file())[:MAX_FILES]:
            if path.suffix.lower() in _MAIL_SUFFIXES:
                too_big = path.stat().st_size > MAX_FORM_BYTES
                files[f"{specs.MAIL_DIR}{path.name}"] = _TOO_BIG if too_big else path.read_bytes()
    return from_files(source, base.name, files)


_MAIL_SUFFIXES = (".txt", ".html")
_TOO_BIG = b"(too big)"  # a marker, compared by identity
MAX_ZIP_BYTES = 20 * 1024 * 1024  # uncompressed, all files together


def read_zip(source: str, data: bytes) -> ModelFolder:
    """A folder sent as a zip (the REST API): its files, wherever the zip nests them.

    Bounded before anything is inflated: number of entries, declared sizes, and the
    bytes actually read (a zip may lie about sizes). Only file names are used, never
    the paths inside the zip.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise UnreadablePath(f"{source}: o arquivo não é um zip válido.") from exc
    if len(entries) > MAX_FILES:
        raise UnreadablePath(f"{source}: o zip tem mais de {MAX_FILES} arquivos.")
    if sum(i.file_size for i in entries) > MAX_ZIP_BYTES:
        raise UnreadablePath(f"{source}: o conteúdo do zip passa de {MAX_ZIP_BYTES // 2**20} MB.")
    files: dict[str, bytes] = {}
    budget = MAX_ZIP_BYTES
    for info in entries:
        inside = PurePosixPath(info.filename.replace("\\", "/"))
        name = inside.name
        if not name or name.startswith(".") or "__MACOSX" in info.filename:
            continue
        if inside.parent.name == "mail" and inside.suffix.lower() in _MAIL_SUFFIXES:
            name = f"{specs.MAIL_DIR}{name}"  # the model's e-mail templates keep their folder
        if name in files:
            raise UnreadablePath(f"{source}: o zip tem dois arquivos chamados {name}.")
        try:
            with archive.open(info) as stream:
                content = stream.read(budget + 1)
        except (zipfile.BadZipFile, RuntimeError, OSError, NotImplementedError) as exc:
            raise UnreadablePath(f"{source}: não foi possível ler {name} do zip.") from exc
        budget -= len(content)
        if budget < 0:
            raise UnreadablePath(
                f"{source}: o conteúdo do zip passa de {MAX_ZIP_BYTES // 2**20} MB."
            )
        files[name] = content
    return from_files(source, PurePosixPath(source).stem, files)


def from_files(source: str, name: str, files: dict[str, bytes]) -> ModelFolder:
    """A folder from its files by name (only .bpmn, .dmn, .json are looked at)."""
    folder = ModelFolder(
        source=source,
        name=name,
        description="",
        primary_file=None,
        primary_process_id=None,
    )
    if METADATA in files:
        _read_metadata(folder, files[METADATA])
    for filename in sorted(files):
        data = files[filename]
        suffix = PurePosixPath(filename).suffix.lower()
        # The forms' JSON and the model's e-mail templates: text, bounded, kept by name.
        if specs.is_mail_file(filename) or (suffix == ".json" and filename != METADATA):
            if data is _TOO_BIG or len(data) > MAX_FORM_BYTES:
                folder.problems.append(
                    Problem(filename, f"O arquivo passa do limite de {MAX_FORM_BYTES // 1024} KB.")
                )
                continue
            try:
                folder.form_files[filename] = data.decode("utf-8")
            except UnicodeDecodeError:
                folder.problems.append(Problem(filename, "O arquivo não está em UTF-8."))
        elif suffix == ".bpmn":
            folder.bpmn_files[filename] = data
        elif suffix == ".dmn":
            if data is _TOO_BIG:
                limit = f"{specs.MAX_BPMN_BYTES // 1024} KB"
                folder.problems.append(Problem(filename, f"O arquivo passa do limite de {limit}."))
            else:
                folder.dmn_files[filename] = data
    if not folder.bpmn_files:
        raise UnreadablePath(f"{source}: nenhum arquivo .bpmn encontrado.")
    if len(folder.form_files) > MAX_FORMS:
        folder.problems.append(
            Problem(None, f"A pasta tem mais de {MAX_FORMS} arquivos de formulário.")
        )
    return folder


def _read_metadata(folder: ModelFolder, raw: bytes) -> None:
    try:
        data = limits.loads(raw.decode("utf-8"))
    except (limits.JsonRejected, json.JSONDecodeError, UnicodeDecodeError):
        folder.problems.append(Problem(METADATA, "O arquivo não é um JSON válido."))
        return
    if not isinstance(data, dict):
        folder.problems.append(Problem(METADATA, "O arquivo deve ser um objeto JSON."))
        return
    text = {k: v for k, v in data.items() if isinstance(v, str)}
    folder.name = text.get("display_name", "").strip()[:200] or folder.name
    folder.description = text.get("description", "").strip()[:2000]
    folder.primary_file = text.get("primary_file_name") or None
    folder.primary_process_id = text.get("primary_process_id") or None


def executable_processes(tree: etree._Element) -> list[str]:
    return [
        node.get("id", "")
        for node in tree.iter(f"{{{BPMN_NS}}}process")
        if node.get("isExecutable") in ("true", None) and node.get("id")
    ]


@dataclass
class Chosen:
    """The model a folder deploys: its primary file and process, and what was assumed."""

    bpmn: bytes
    process_id: str
    forms: dict[str, str]
    notes: list[str]


def choose(folder: ModelFolder, *, drafting: bool = False) -> tuple[Chosen | None, list[Problem]]:
    """The primary file and process, and the forms it uses; or the problems.

    ``drafting``: the folder becomes a draft to finish in the modeler, not a version, so a
    process marked ``isExecutable="false"`` (bpmn.io's default) is chosen all the same:
    switching it on is the designer's first click in the panel.
    """
    problems = list(folder.problems)
    notes: list[str] = []
    primary = folder.primary_file
    if primary not in folder.bpmn_files:
        if len(folder.bpmn_files) == 1:
            only = next(iter(folder.bpmn_files))
            if primary:
                notes.append(f"{primary} (primary_file_name) não está na pasta: usado {only}.")
            primary = only
        else:
            names = ", ".join(sorted(folder.bpmn_files))
            what = f"{primary} não está na pasta" if primary else "não foi indicado"
            problems.append(Problem(METADATA, f"O arquivo principal {what}; a pasta tem {names}."))
            return None, problems
    assert primary is not None
    bpmn = folder.bpmn_files[primary]
    try:
        tree = specs.safe_parse_xml(bpmn)
        specs.require_bpmn_root(tree, primary)
    except ProcessDefinitionError as exc:
        return None, [*problems, Problem(primary, exc.message)]
    found = executable_processes(tree)
    if drafting and not found:
        found = [n.get("id", "") for n in tree.iter(f"{{{BPMN_NS}}}process") if n.get("id")]
    process_id = folder.primary_process_id
    if not found:
        # Nothing to pick: said on the file (a folder may have no process_model.json).
        # Modelers' drawings are often marked not executable: say so, it is one click.
        drawn = [n.get("id", "") for n in tree.iter(f"{{{BPMN_NS}}}process") if n.get("id")]
        message = (
            f"O arquivo {primary} não tem nenhum processo (bpmn:process), só declarações: "
            "não há o que executar."
        )
        if drawn:
            message = (
                f"O arquivo {primary} não tem nenhum processo executável: "
                f'{", ".join(drawn[:5])} está(ão) marcado(s) isExecutable="false". '
                "Importe-o em Processos e marque “Executável” no painel do processo, ou "
                'mude para isExecutable="true" no editor de origem.'
            )
        return None, [*problems, Problem(primary, message)]
    if process_id not in found:
        if len(found) == 1:
            if process_id:
                notes.append(
                    f"O processo {process_id} (primary_process_id) não está em {primary}: "
                    f"usado {found[0]}, o único executável do arquivo."
                )
            process_id = found[0]
        else:
            what = f"{process_id} não está em {primary}" if process_id else "não foi indicado"
            problems.append(
                Problem(
                    METADATA,
                    f"O processo principal {what}; o arquivo tem {', '.join(found)}.",
                )
            )
            return None, problems
    assert process_id is not None
    files = dict(folder.form_files)
    others = {n: d for n, d in folder.bpmn_files.items() if n != primary}
    for filename, data in {**others, **folder.dmn_files}.items():
        try:
            files[filename] = data.decode("utf-8")
            specs.safe_parse_xml(data)  # an unsafe or broken file is named, used or not
        except UnicodeDecodeError:
            problems.append(Problem(filename, "O arquivo não está em UTF-8."))
        except ProcessDefinitionError as exc:
            problems.append(Problem(filename, f"{filename}: {exc.message}"))
    # The forms, e-mail templates, called .bpmn files and decision tables the model uses.
    forms = specs.used_files(bpmn, files)
    if problems:
        return None, problems
    return Chosen(bpmn=bpmn, process_id=process_id, forms=forms, notes=notes), []


def write_zip(
    process_id: str, name: str, description: str, bpmn: bytes, files: dict[str, str]
) -> bytes:
    """The model as SpiffArena's folder, zipped: ``<id>/process_model.json``,
    ``<id>/<id>.bpmn``, the forms beside it and the e-mail templates in ``<id>/mail/`` —
    what ``read_zip`` (``chamados models deploy``, ``POST /api/v1/models``) reads back."""
    metadata: dict[str, Any] = {
        "id": process_id,
        "display_name": name,
        "description": description,
        "primary_file_name": f"{process_id}.bpmn",
        "primary_process_id": process_id,
        "exception_notification_addresses": [],
        "fault_or_suspend_on_exception": "fault",
        "metadata_extraction_paths": None,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            f"{process_id}/{METADATA}",
            json.dumps(metadata, ensure_ascii=False, indent=2) + "\n",
        )
        archive.writestr(f"{process_id}/{process_id}.bpmn", bpmn)
        for filename in sorted(files):
            archive.writestr(f"{process_id}/{filename}", files[filename])
    return buffer.getvalue()
