"""`chamados models deploy PATH…`: publish SpiffArena process-model folders from the shell.

PATH is a folder (``process_model.json``, its ``.bpmn``, ``.dmn`` and form files), the
same folder as a ``.zip``, or one ``.bpmn`` file. Each refused model prints one line per
problem, ``element_id: mensagem``, on standard error. Exit status: 0 every model deployed
and published (or unchanged), 1 a model refused, 2 a usage error (a path that is no
model). Never a traceback: an unexpected failure is logged and reported as one line, exit 1.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from engine.errors import DomainError
from engine.service import UnreadablePath, read_model_path
from web.cli_roles import _service

log = logging.getLogger(__name__)


@click.group("models", help="Modelos de processo (pastas do SpiffArena, arquivos .bpmn).")
def models() -> None:
    pass


@models.command("deploy")
@click.argument("paths", nargs=-1, required=True, metavar="CAMINHO...")
@click.option("--nota", default="", help="Nota registrada nas versões publicadas.")
def deploy_command(paths: tuple[str, ...], nota: str) -> None:
    """Valida e publica cada pasta de modelo do SpiffArena (ou seu .zip) ou arquivo .bpmn."""
    folders = []
    usage = False
    for raw in paths:
        try:
            folders.append(read_model_path(Path(raw)))
        except UnreadablePath as exc:
            click.echo(str(exc), err=True)
            usage = True
        except OSError as exc:
            click.echo(
                f"{raw}: não foi possível ler ({exc.strerror or 'erro de leitura'}).", err=True
            )
            usage = True
    if usage:
        raise SystemExit(2)
    refused = False
    try:
        designer = _service().designer
    except Exception:  # the database unreachable or behind the code: said, not dumped
        log.exception("models deploy: could not start the service")
        click.echo(
            "Não foi possível abrir o banco de dados (confira DATABASE_URL e rode "
            "'chamados db upgrade').",
            err=True,
        )
        raise SystemExit(1) from None
    for folder in folders:
        try:
            result = designer.deploy_folder(folder, nota)
        except DomainError as exc:
            details = "; ".join(getattr(exc, "errors", {}).values()) or exc.message
            click.echo(f"{folder.source}: {details}", err=True)
            refused = True
            continue
        except Exception:
            log.exception("models deploy: unexpected failure on %s", folder.source)
            click.echo(
                f"{folder.source}: erro inesperado ao implantar; nada foi publicado.", err=True
            )
            refused = True
            continue
        for note in result.notes:
            click.echo(f"{folder.source}: aviso: {note}")
        if not result.ok:
            refused = True
            click.echo(f"{folder.source}: recusado ({len(result.problems)} problema(s))", err=True)
            for problem in result.problems:
                click.echo(f"{problem.element_id or folder.source}: {problem.message}", err=True)
            continue
        if result.unchanged:
            click.echo(f"{folder.source}: {result.process_id} já publicado sem alterações.")
        else:
            click.echo(f"{folder.source}: {result.process_id} publicado (versão {result.number}).")
        for group in result.created_groups:
            click.echo(
                f"{folder.source}: grupo {group!r} criado, vazio: um admin inclui os membros."
            )
    raise SystemExit(1 if refused else 0)
