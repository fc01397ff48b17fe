"""`chamados models deploy PATH…`: SpiffArena folders and .bpmn files from the shell.

Exit 0 deployed and published, 1 refused (one line per problem, ``element_id: mensagem``),
2 usage error; never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask

from engine.models import HumanTask
from engine.service import Chamados
from tests.conftest import MARIA, add_person
from tests.model_files import SERVICE_TASK, chain, model, script_task
from tests.test_spiffarena_tasks import MANUAL, SCHEMA, UI, USER_FORM
from web.cli import main


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    from tests.test_api import build_app

    app = build_app(tmp_path)
    yield app
    app.extensions["chamados"].unit.db.dispose()


def spiffarena_folder(base: Path, name: str = "pedido-de-ferias") -> Path:
    """A process-model folder as SpiffArena writes it."""
    folder = base / "grupo" / name
    folder.mkdir(parents=True)
    (folder / "process_model.json").write_text(
        json.dumps(
            {
                "display_name": "Pedido de férias",
                "description": "Modelo trazido do SpiffArena",
                "primary_file_name": "pedido_ferias.bpmn",
                "primary_process_id": "PedidoFerias",
                "display_order": 0,
                "files": [],
                "metadata_extraction_paths": None,
                "fault_or_suspend_on_exception": "fault",
                "exception_notification_addresses": [],
            }
        )
    )
    # Two processes in the file: the primary one is not the first.
    helper = '<bpmn:process id="Ajudante" isExecutable="true">' + chain() + "</bpmn:process>"
    xml = model(chain(MANUAL, USER_FORM), process_id="PedidoFerias", extra=helper)
    (folder / "pedido_ferias.bpmn").write_text(xml)
    (folder / "dados-schema.json").write_text(json.dumps(SCHEMA))
    (folder / "dados-uischema.json").write_text(json.dumps(UI))
    (folder / "decisao.dmn").write_text("<definitions/>")  # not called: not read
    (folder / "exemplo-dados.json").write_text('{"nao": "é formulário"}')
    return folder


def deploy(app: Flask, *paths: Path | str) -> Result:
    with app.app_context():
        return CliRunner().invoke(main, ["models", "deploy", *map(str, paths)])


def test_a_spiffarena_folder_deploys_publishes_and_runs(app: Flask, tmp_path: Path) -> None:
    folder = spiffarena_folder(tmp_path)
    result = deploy(app, folder)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{folder}: PedidoFerias publicado (versão 1)."
    again = deploy(app, folder)
    assert again.exit_code == 0 and "já publicado sem alterações" in again.output
    # It runs: the manual task (no form), then the camelCase form, to the end.
    svc: Chamados = app.extensions["chamados"]
    maria = add_person(svc, MARIA, "Maria da Silva")
    chamado, task = svc.requests.start_instance(maria, "PedidoFerias")
    assert task is not None and task.task_name == "Activity_ler"
    chamado = svc.requests.complete_task(maria, task.id, {}, chamado.version)
    with svc.unit.session_factory() as s:
        nxt = s.query(HumanTask).filter_by(chamado_id=chamado.id, state="ready").one()
    chamado = svc.requests.complete_task(maria, nxt.id, {"firstName": "Maria"}, chamado.version)
    assert chamado.closed_at is not None


def test_a_refused_model_prints_one_line_per_problem_and_exits_1(
    app: Flask, tmp_path: Path
) -> None:
    bpmn = tmp_path / "ruim.bpmn"
    bpmn.write_text(model(chain(SERVICE_TASK, script_task("Script_mau", "import os"))))
    result = deploy(app, bpmn)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == f"{bpmn}: recusado (2 problema(s))"
    assert lines[1].startswith("Activity_http: Tarefa de serviço: o conector 'slack/PostMessage'")
    assert lines[2].startswith("Script_mau: Script: Linha 1: importações não são permitidas")
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_usage_errors_exit_2(app: Flask, tmp_path: Path) -> None:
    assert deploy(app).exit_code == 2  # no path
    missing = deploy(app, tmp_path / "nao-existe")
    assert missing.exit_code == 2 and "não existe" in missing.output
    (tmp_path / "vazia").mkdir()
    empty = deploy(app, tmp_path / "vazia")
    assert empty.exit_code == 2 and "nenhum arquivo .bpmn" in empty.output
    (tmp_path / "x.txt").write_text("x")
    assert deploy(app, tmp_path / "x.txt").exit_code == 2


def test_the_real_command_never_prints_a_traceback(tmp_path: Path) -> None:
    from tests.conftest import database_url

    env = {
        **os.environ,
        "DATABASE_URL": database_url(tmp_path),
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "OIDC_ISSUER": "http://127.0.0.1:9",
    }
    cli = [sys.executable, "-m", "web.cli"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    assert run("db", "upgrade").returncode == 0
    good = spiffarena_folder(tmp_path)
    bad = tmp_path / "mau.bpmn"
    bad.write_text(model(chain(SERVICE_TASK)))
    garbage = tmp_path / "lixo.bpmn"
    garbage.write_bytes(b"\x00\xff<not xml")
    results = {
        "good": run("models", "deploy", str(good)),
        "bad": run("models", "deploy", str(bad)),
        "garbage": run("models", "deploy", str(garbage)),
        "missing": run("models", "deploy", str(tmp_path / "nada")),
    }
    codes = {name: r.returncode for name, r in results.items()}
    assert codes == {"good": 0, "bad": 1, "garbage": 1, "missing": 2}, results
    for r in results.values():
        assert "Traceback" not in r.stdout + r.stderr
    assert "Activity_http: " in results["bad"].stderr
    assert "lixo.bpmn: XML malformado" in results["garbage"].stderr


# ------------------------------------------------------------------ the REST API


def zipped(folder: Path, prefix: str = "pedido-de-ferias/") -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, prefix + path.name)
    return buffer.getvalue()


def post_zip(app: Flask, token: str, data: bytes) -> Any:
    from tests.test_api import check_against_openapi

    resp = app.test_client().post(
        "/api/v1/models",
        data=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/zip"},
    )
    check_against_openapi(resp)
    return resp


def test_a_designer_deploys_a_zipped_folder_through_the_api(app: Flask, tmp_path: Path) -> None:
    from tests.test_api import person

    dora = person(app, "12345678909", "Dora Projetista", "designer")
    maria = person(app, MARIA, "Maria da Silva")
    data = zipped(spiffarena_folder(tmp_path))
    assert post_zip(app, maria, data).status_code == 403
    resp = post_zip(app, dora, data)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["process_id"] == "PedidoFerias" and resp.get_json()["version"] == 1
    again = post_zip(app, dora, data)
    assert again.status_code == 200 and again.get_json()["unchanged"] is True
    # Refused: every problem, on its element.
    bad = tmp_path / "mau"
    bad.mkdir()
    (bad / "mau.bpmn").write_text(model(chain(SERVICE_TASK), process_id="Mau"))
    refused = post_zip(app, dora, zipped(bad, ""))
    assert refused.status_code == 422
    assert refused.get_json()["problems"][0]["element_id"] == "Activity_http"
    # Not a zip; a zip bomb: refused before inflating it all.
    assert post_zip(app, dora, b"PK\x03\x04 not really").status_code == 400
    import io
    import zipfile

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("enorme.bpmn", b"\0" * (30 * 1024 * 1024))
    assert len(bomb.getvalue()) < 100_000
    resp = post_zip(app, dora, bomb.getvalue())
    assert resp.status_code == 400 and "passa de 20 MB" in resp.get_json()["detail"]


def test_the_command_takes_the_folder_as_a_zip_too(app: Flask, tmp_path: Path) -> None:
    archive = tmp_path / "pedido.zip"
    archive.write_bytes(zipped(spiffarena_folder(tmp_path)))
    result = deploy(app, archive)
    assert result.exit_code == 0, result.output
    assert "PedidoFerias publicado (versão 1)" in result.output
    (tmp_path / "falso.zip").write_bytes(b"isto nao e zip")
    bad = deploy(app, tmp_path / "falso.zip")
    assert bad.exit_code == 2 and "não é um zip válido" in bad.output


def test_a_lane_naming_a_new_group_creates_it_empty_and_says_so(app: Flask, tmp_path: Path) -> None:
    lane = (
        '<bpmn:laneSet id="LaneSet_1"><bpmn:lane id="Lane_rh" name="Equipe de RH">'
        "<bpmn:flowNodeRef>Activity_ler</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>"
    )
    bpmn = tmp_path / "com_raia.bpmn"
    bpmn.write_text(model(lane + chain(MANUAL), process_id="ComRaia"))
    result = deploy(app, bpmn)
    assert result.exit_code == 0, result.output
    assert "ComRaia publicado (versão 1)" in result.output
    assert "Equipe de RH" in result.output and "criado, vazio" in result.output


def test_a_note_with_a_control_character_is_refused(app: Flask, tmp_path: Path) -> None:
    from tests.test_api import person

    folder = spiffarena_folder(tmp_path)
    with app.app_context():
        result = CliRunner().invoke(main, ["models", "deploy", "--nota", "a\x00b", str(folder)])
    assert result.exit_code == 1 and "caractere de controle" in result.output
    dora = person(app, "12345678909", "Dora Projetista", "designer")
    resp = app.test_client().post(
        "/api/v1/models?nota=a%00b",
        data=zipped(folder),
        headers={"Authorization": f"Bearer {dora}", "Content-Type": "application/zip"},
    )
    assert resp.status_code == 400 and "caractere de controle" in resp.get_json()["detail"]


def test_a_file_without_any_process_is_refused_on_the_file(app: Flask, tmp_path: Path) -> None:
    # bpmn-moddle's escalation-error.bpmn (corpus/): definitions with no process at all.
    bpmn = tmp_path / "so-erros.bpmn"
    bpmn.write_text(
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" '
        'targetNamespace="x"><escalation id="e"/><error id="r"/></definitions>'
    )
    result = deploy(app, bpmn)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[1] == (
        "so-erros.bpmn: O arquivo so-erros.bpmn não tem nenhum processo (bpmn:process), só "
        "declarações: não há o que executar."
    )


def test_a_file_whose_processes_are_not_executable_says_so(app: Flask, tmp_path: Path) -> None:
    # bpmn-js's fixtures (corpus/): drawings marked isExecutable="false".
    bpmn = tmp_path / "desenho.bpmn"
    bpmn.write_text(
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" '
        'targetNamespace="x"><process id="Process_1" isExecutable="false">'
        '<startEvent id="s"/></process></definitions>'
    )
    result = deploy(app, bpmn)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[1] == (
        "desenho.bpmn: O arquivo desenho.bpmn não tem nenhum processo executável: "
        'Process_1 está(ão) marcado(s) isExecutable="false". Importe-o em Processos e marque '
        '“Executável” no painel do processo, ou mude para isExecutable="true" no editor de '
        "origem."
    )


def test_a_file_of_another_language_is_named_as_such(app: Flask, tmp_path: Path) -> None:
    # bpmn-moddle's not-bpmn.bpmn (corpus/), and a DMN table given where a model goes.
    other = tmp_path / "outro.bpmn"
    other.write_text('<definitions xmlns="http://not-bpmn"><process id="p"/></definitions>')
    result = deploy(app, other)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[1] == (
        "outro.bpmn: O arquivo outro.bpmn não é um modelo BPMN 2.0: começa por <definitions> "
        "do espaço de nomes http://not-bpmn, e um modelo começa por <definitions> de "
        "http://www.omg.org/spec/BPMN/20100524/MODEL."
    )
    dmn = tmp_path / "tabela.bpmn"
    dmn.write_text(
        '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="x" '
        'namespace="x"><decision id="d1"/></definitions>'
    )
    result = deploy(app, dmn)
    assert result.exit_code == 1
    assert "É uma tabela de decisão (DMN)" in result.output
