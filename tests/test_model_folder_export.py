"""A model exported as SpiffArena's process-model folder (zip) deploys back unchanged:
the model, its forms and its e-mail templates travel together (issue #10: "export the
same folder back")."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from flask import Flask

from engine.designer import Designer
from engine.designer.folder import choose, read_path, read_zip
from engine.service import ActorRef
from tests.test_designer import DORA, client_for
from tests.test_designer import app as app  # noqa: F401  (fixtures shared with the
from tests.test_designer import designer as designer  # noqa: F401  designer's tests)
from tests.test_designer import dora as dora  # noqa: F401


def test_the_folder_holds_the_model_its_forms_and_its_mail(
    designer: Designer, dora: ActorRef
) -> None:
    filename, data = designer.export_folder(dora, "chamado")
    assert filename == "chamado.zip"
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "chamado/process_model.json" in names and "chamado/chamado.bpmn" in names
    assert "chamado/registrar-chamado-schema.json" in names
    assert "chamado/mail/chamado_resolvido.txt" in names
    assert "chamado/mail/chamado_resolvido.html" in names
    metadata = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("chamado/process_model.json"))
    assert (metadata["primary_file_name"], metadata["primary_process_id"]) == (
        "chamado.bpmn",
        "chamado",
    )
    assert metadata["display_name"] == designer.draft(dora, "chamado").name


def test_an_exported_folder_reads_back_as_it_was_and_deploys_unchanged(
    designer: Designer, dora: ActorRef, tmp_path: Path
) -> None:
    _filename, data = designer.export_folder(dora, "chamado")
    draft = designer.draft(dora, "chamado")
    for folder in (read_zip("chamado.zip", data), _unzipped(data, tmp_path)):
        chosen, problems = choose(folder)
        assert problems == [] and chosen is not None
        assert chosen.process_id == "chamado"
        assert chosen.bpmn.decode("utf-8") == draft.bpmn_xml
        assert {k: v for k, v in draft.forms.items() if k in chosen.forms} == chosen.forms
        assert any(name.startswith("mail/") for name in chosen.forms)
        deployed = designer.deploy_folder(folder, actor=dora)
        assert deployed.ok and deployed.unchanged  # the same content as the published version


def test_an_edited_draft_exported_and_deployed_publishes_the_edit(
    designer: Designer, dora: ActorRef
) -> None:
    draft = designer.draft(dora, "chamado")
    renamed = draft.bpmn_xml.replace('name="Analisar chamado"', 'name="Analisar o chamado"')
    designer.save_model(dora, "chamado", renamed, draft.version)
    _filename, data = designer.export_folder(dora, "chamado")
    deployed = designer.deploy_folder(read_zip("chamado.zip", data), "exportado", actor=dora)
    assert deployed.ok and not deployed.unchanged and deployed.number == 2
    published = designer.model(dora, "chamado").versions[0]
    assert published.number == 2


def test_the_page_downloads_the_folder_for_designers_only(app: Flask) -> None:  # noqa: F811
    designer_web = client_for(app, DORA, "Dora Projetista", "designer")
    page = designer_web.get("/processos/chamado").get_data(as_text=True)
    assert "Exportar pasta do modelo (.zip, formato SpiffArena)" in page
    resp = designer_web.get("/processos/chamado/exportar-pasta")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert resp.headers["Content-Disposition"] == (
        "attachment; filename=\"chamado.zip\"; filename*=UTF-8''chamado.zip"
    )
    assert "chamado/chamado.bpmn" in zipfile.ZipFile(io.BytesIO(resp.data)).namelist()
    analyst = client_for(app, "11144477735", "Ana", "analyst")
    assert analyst.get("/processos/chamado/exportar-pasta").status_code == 403


def _unzipped(data: bytes, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The zip extracted, read as a folder on disk (``chamados models deploy DIR``)."""
    zipfile.ZipFile(io.BytesIO(data)).extractall(tmp_path)
    return read_path(tmp_path / "chamado")
