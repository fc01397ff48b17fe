"""`chamados role grant|revoke|list`: manage roles from the shell (e.g. the first admin)."""

from __future__ import annotations

from typing import cast

import click
from flask import Flask, current_app, has_app_context

from engine.errors import DomainError
from engine.service import ROLES, Chamados


def _service() -> Chamados:
    # Inside `flask`/test app contexts reuse that app; standalone, build one from the env.
    app: Flask
    if has_app_context():
        app = cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
    else:
        from web import create_app

        app = create_app()
    return cast(Chamados, app.extensions["chamados"])


def _change(action: str, cpf: str, role: str) -> None:
    svc = _service()
    try:
        if action == "grant":
            change = svc.admin.grant_role(cpf, role, None)
        else:
            # Revoking also ends the person's sessions.
            change = svc.admin.revoke_role(cpf, role, None)
    except DomainError as exc:
        details = "; ".join(getattr(exc, "errors", {}).values()) or exc.message
        raise click.ClickException(details) from exc
    shown, label = change.principal, change.role_label
    if action == "grant":
        click.echo(
            f"Papel {label} concedido ao CPF {shown}."
            if change.changed
            else f"O CPF {shown} já tinha o papel {label}."
        )
    else:
        click.echo(
            f"Papel {label} revogado do CPF {shown}."
            if change.changed
            else f"O CPF {shown} não tinha o papel {label}."
        )


@click.group("role", help="Papéis de acesso concedidos por CPF.")
def role() -> None:
    pass


@role.command("grant", help=f"Concede um papel a um CPF. Papéis: {', '.join(ROLES)}.")
@click.argument("cpf")
@click.argument("role_name", metavar="PAPEL")
def grant_command(cpf: str, role_name: str) -> None:
    _change("grant", cpf, role_name)


@role.command("revoke", help="Revoga um papel de um CPF.")
@click.argument("cpf")
@click.argument("role_name", metavar="PAPEL")
def revoke_command(cpf: str, role_name: str) -> None:
    _change("revoke", cpf, role_name)


@role.command("list", help="Lista os papéis concedidos.")
def list_command() -> None:
    grants = _service().admin.role_grants()
    if not grants:
        click.echo("Nenhum papel concedido.")
        return
    for g in grants:
        click.echo(f"{g.cpf_formatted}  {g.role:<10}  {g.role_label:<22}  {g.name or '-'}")
