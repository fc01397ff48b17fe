"""Editable catalogs: lists of choices the forms of any process may use (``x-catalog``).

Which catalogs exist and the title admins see are data (``data/catalog_titles.json``);
``data/catalogs.json`` only seeds their items: once a row exists, administrators own it,
so seeding again adds new codes and never touches labels, help, order or status.

Administrators edit the catalogs in :data:`EDITABLE` with :func:`add_item`,
:func:`update_item`, :func:`set_active` and :func:`move`. A code never changes once
created (saved tickets refer to it), and items are retired rather than deleted, so an
old ticket always finds its label. Each change writes a private audit row.

An edit of an item's label and help carries the item's ``version`` as the admin's page
showed it: when someone else edited the item meanwhile, nothing is written and
:class:`~engine.errors.Conflict` says so. Retiring, restoring and moving do not move it
(they write none of the edited fields, and each states its own end: retire, up...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import audit, limits, revisions
from engine.db import rows_changed
from engine.errors import Conflict, NotFound, ValidationFailed
from engine.models import CatalogItem
from engine.orgaos import fold
from engine.settings import PROJECT_ROOT
from engine.users import get_user_by_cpf, parse_cpf

# Catalogs administrators edit in the browser, with the name shown to them: data that
# ships with the product, read once (a few lines), like the seeds beside it.
EDITABLE: dict[str, str] = json.loads(
    (PROJECT_ROOT / "data" / "catalog_titles.json").read_text(encoding="utf-8")
)

LABEL_MAX = 200
HELP_MAX = 2000
_CODE_MAX = 80  # CatalogItem.code
_SUMMARY_MAX = 300  # AuditEvent.summary


@dataclass(frozen=True)
class CatalogOption:
    """One choice of a catalog as forms and pages see it (no ORM object leaks out)."""

    code: str
    label: str
    help: str | None
    active: bool


@dataclass(frozen=True)
class EditableItem:
    """One item as the administration page sees it: an option and the version its
    editor carries back (``update_item``)."""

    code: str
    label: str
    help: str | None
    active: bool
    version: int


def _to_option(item: CatalogItem) -> CatalogOption:
    return CatalogOption(code=item.code, label=item.label, help=item.help, active=item.active)


def _read_seed(path: str | Path) -> dict[str, list[dict[str, Any]]]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected an object of catalogs")
    for catalog, items in data.items():
        if not isinstance(items, list):
            raise ValueError(f"{path}: catalog {catalog!r} must be a list")
        for item in items:
            if not isinstance(item, Mapping) or not item.get("code") or not item.get("label"):
                raise ValueError(f"{path}: every item of {catalog!r} needs code and label")
    return dict(data)


def seed_catalogs(session: Session, path: str | Path) -> None:
    """Insert the seed items whose (catalog, code) is not in the database yet.

    Existing rows — including ones an admin edited or deactivated — are left alone.
    New items go after the catalog's current last position. Flushes; the caller commits.
    """
    seed = _read_seed(path)
    added = False
    existing: dict[str, dict[str, CatalogItem]] = {}
    for item in session.scalars(select(CatalogItem)):
        existing.setdefault(item.catalog, {})[item.code] = item

    for catalog, items in seed.items():
        known = existing.setdefault(catalog, {})
        next_position = max((i.position for i in known.values()), default=-1) + 1
        for entry in items:
            code = str(entry["code"])
            if code in known:
                continue
            item = CatalogItem(
                catalog=catalog,
                code=code,
                label=str(entry["label"]),
                help=entry.get("help") or None,
                position=next_position,
                active=bool(entry.get("active", True)),
            )
            session.add(item)
            known[code] = item
            next_position += 1
            added = True
    session.flush()
    if added:
        bump_revision(session)


def options(session: Session, catalog: str, *, active_only: bool = False) -> list[CatalogOption]:
    """The catalog's items in display order.

    Inactive items are included by default (flagged ``active=False``) so a saved
    answer that uses a retired code still shows its label; pass ``active_only=True``
    for the choices offered in a new form.
    """
    query = select(CatalogItem).where(CatalogItem.catalog == catalog)
    if active_only:
        query = query.where(CatalogItem.active.is_(True))
    query = query.order_by(CatalogItem.position, CatalogItem.id)
    return [_to_option(i) for i in session.scalars(query)]


def editable_items(session: Session, catalog: str) -> list[EditableItem]:
    """The catalog's items in display order, retired ones included, with their versions."""
    query = (
        select(CatalogItem)
        .where(CatalogItem.catalog == catalog)
        .order_by(CatalogItem.position, CatalogItem.id)
    )
    return [
        EditableItem(i.code, i.label, i.help, i.active, i.version) for i in session.scalars(query)
    ]


_ITEMS = CatalogItem.__table__
# Read on every form a ticket step validates: plain rows, one statement built once.
_ALL_ITEMS = select(
    _ITEMS.c.catalog, _ITEMS.c.code, _ITEMS.c.label, _ITEMS.c.help, _ITEMS.c.active
).order_by(_ITEMS.c.catalog, _ITEMS.c.position, _ITEMS.c.id)


REVISION = revisions.CATALOGS  # the revision row every catalog change bumps
# For a caller's query to read along with its own row (see CatalogCache).
REVISION_VALUE = revisions.value_of(REVISION)


def bump_revision(session: Session) -> None:
    """Tell every process its copy of the catalogs is out of date (at commit)."""
    revisions.bump(session, REVISION)


class CatalogCache:
    """Every catalog, kept per process and re-read only when the catalogs' revision moved.

    Each catalog change bumps the revision in its own transaction, so a reader that
    compares the committed revision with the one its copy was read at never keeps a
    stale copy; the revision comes along with a query the caller runs anyway. The
    copy is shared: read-only.
    """

    def __init__(self) -> None:
        self._entry: tuple[int | None, dict[str, list[CatalogOption]]] | None = None

    def get(self, session: Session, revision: int | None) -> dict[str, list[CatalogOption]]:
        """The catalogs as of ``revision``; None (a caller that did not read it): read
        afresh, leaving the shared copy to the callers that did."""
        if revision is None:
            return all_catalogs(session)
        entry = self._entry
        if entry is None or entry[0] != revision:
            # Read after the revision: at worst newer than it, and then re-read next time.
            entry = (revision, all_catalogs(session))
            self._entry = entry
        return entry[1]


def all_catalogs(session: Session) -> dict[str, list[CatalogOption]]:
    """Every catalog (inactive items included), keyed by name, items in display order."""
    result: dict[str, list[CatalogOption]] = {}
    for row in session.connection().execute(_ALL_ITEMS):
        result.setdefault(row.catalog, []).append(
            CatalogOption(code=row.code, label=row.label, help=row.help, active=row.active)
        )
    return result


Labels = dict[str, dict[str, tuple[str, str | None]]]


def labels_of(options: Mapping[str, Sequence[CatalogOption]]) -> Labels:
    """Catalogs as ``{name: {code: (label, help)}}``, for a model's text templates."""
    return {name: {o.code: (o.label, o.help) for o in items} for name, items in options.items()}


def label(session: Session, catalog: str, code: str) -> str | None:
    """Label of a code (active or not), or None when the code is unknown."""
    return session.scalar(
        select(CatalogItem.label).where(CatalogItem.catalog == catalog, CatalogItem.code == code)
    )


# --------------------------------------------------------------- administration


def slugify(text: str) -> str:
    """Lower-case, accent-free ``a_b_c`` code for a label; ``"item"`` when nothing is left.

    ``"Lentidão no acesso"`` → ``"lentidao_no_acesso"``.
    """
    slug = fold(text).replace(" ", "_")[: _CODE_MAX - 6].strip("_")
    return slug or "item"


def add_item(
    session: Session, catalog: str, label: str, help: str | None, by_cpf: str | None
) -> CatalogOption:
    """Append a new active item; its code is derived from the label, unique in the catalog.

    Flushes; the caller commits. Raises ValidationFailed (``label``, ``help``) in pt-BR.
    """
    _require_editable(catalog)
    clean_label, clean_help = _validate(session, catalog, label, help, exclude_code=None)
    base = slugify(clean_label)
    for _attempt in range(5):
        taken = set(session.scalars(select(CatalogItem.code).where(CatalogItem.catalog == catalog)))
        code = _unique_code(base, taken)
        position = session.scalar(
            select(func.max(CatalogItem.position)).where(CatalogItem.catalog == catalog)
        )
        item = CatalogItem(
            catalog=catalog,
            code=code,
            label=clean_label,
            help=clean_help,
            position=(position if position is not None else -1) + 1,
            active=True,
        )
        try:
            # Savepoint: another admin may take the same code between the read and the insert.
            with session.begin_nested():
                session.add(item)
        except IntegrityError:
            continue
        _audit(
            session,
            "catalogo.adicionar",
            f'Item "{clean_label}" adicionado ao catálogo {EDITABLE[catalog]}',
            catalog,
            code,
            by_cpf,
            {"label": clean_label, "help": clean_help},
        )
        session.flush()
        return _to_option(item)
    raise Conflict("Outro item foi criado ao mesmo tempo com o mesmo código. Tente novamente.")


def update_item(
    session: Session,
    catalog: str,
    code: str,
    label: str,
    help: str | None,
    by_cpf: str | None,
    expected_version: int,
) -> CatalogOption:
    """Change an item's label and help. The code stays, so saved tickets keep pointing at it.

    ``expected_version`` is the item's version as the admin's page showed it: Conflict
    (nothing written) when someone else edited it since. Nothing is written (no audit
    row) when nothing changed. Flushes; the caller commits.
    """
    _require_editable(catalog)
    item = _get_item(session, catalog, code)
    if item.version != expected_version:
        raise Conflict(_stale(item.label))
    clean_label, clean_help = _validate(session, catalog, label, help, exclude_code=code)
    if (item.label, item.help) == (clean_label, clean_help):
        return _to_option(item)
    before = {"label": item.label, "help": item.help}
    # Conditional on the version read above: another admin's edit committed between the
    # read and this write (PostgreSQL) makes it change nothing.
    changed = session.execute(
        update(_ITEMS)
        .where(_ITEMS.c.id == item.id, _ITEMS.c.version == expected_version)
        .values(label=clean_label, help=clean_help, version=_ITEMS.c.version + 1)
    )
    if rows_changed(changed) != 1:
        raise Conflict(_stale(item.label))
    session.refresh(item)
    _audit(
        session,
        "catalogo.editar",
        f'Item "{clean_label}" do catálogo {EDITABLE[catalog]} editado',
        catalog,
        code,
        by_cpf,
        {"antes": before, "depois": {"label": clean_label, "help": clean_help}},
    )
    session.flush()
    return _to_option(item)


def set_active(
    session: Session, catalog: str, code: str, active: bool, by_cpf: str | None
) -> CatalogOption:
    """Retire (``active=False``) or restore an item. A retired item leaves new forms but
    keeps its label for the tickets that used it.

    Refuses to retire the catalog's last active item: its forms would offer no choice.
    A no-op (no audit row) when the item already is in that state.
    """
    _require_editable(catalog)
    # Lock the catalog's active rows: two admins retiring the last two items at once
    # must not both succeed (PostgreSQL re-checks ``active`` after the lock wait).
    active_items = list(
        session.scalars(
            select(CatalogItem)
            .where(CatalogItem.catalog == catalog, CatalogItem.active.is_(True))
            .with_for_update()
        )
    )
    item = _get_item(session, catalog, code)
    if item.active == active:
        return _to_option(item)
    if not active and [i.code for i in active_items] == [item.code]:
        message = (
            f'"{item.label}" é o último item ativo do catálogo {EDITABLE[catalog]} e não pode '
            "ser aposentado: os formulários ficariam sem opções. Adicione ou reative outro "
            "item antes."
        )
        raise ValidationFailed({"active": message}, message)
    item.active = active
    if active:
        action, summary = "catalogo.reativar", "reativado"
    else:
        action, summary = "catalogo.aposentar", "aposentado"
    _audit(
        session,
        action,
        f'Item "{item.label}" do catálogo {EDITABLE[catalog]} {summary}',
        catalog,
        code,
        by_cpf,
        {"label": item.label, "active": active},
    )
    session.flush()
    return _to_option(item)


_DIRECTIONS = {"up": -1, "down": 1}


def move(
    session: Session, catalog: str, code: str, direction: str, by_cpf: str | None = None
) -> bool:
    """Swap an item with its neighbour (``direction`` "up" or "down") in display order,
    retired items included. Returns False when it already is first/last."""
    _require_editable(catalog)
    step = _DIRECTIONS.get(direction)
    if step is None:
        raise ValidationFailed(
            {"direction": "Direção inválida: use para cima ou para baixo."}, "Direção inválida."
        )
    items = list(
        session.scalars(
            select(CatalogItem)
            .where(CatalogItem.catalog == catalog)
            .order_by(CatalogItem.position, CatalogItem.id)
            .with_for_update()
        )
    )
    index = next((n for n, i in enumerate(items) if i.code == code), None)
    if index is None:
        raise NotFound("Item de catálogo não encontrado.")
    target = index + step
    if not 0 <= target < len(items):
        return False
    items[index], items[target] = items[target], items[index]
    # Renumber the whole catalog: positions become 0..n-1 whatever they were before.
    for position, entry in enumerate(items):
        entry.position = position
    moved = items[target]
    _audit(
        session,
        "catalogo.mover",
        f'Item "{moved.label}" do catálogo {EDITABLE[catalog]} movido para '
        f"{'cima' if step < 0 else 'baixo'}",
        catalog,
        code,
        by_cpf,
        {"direction": direction, "de": index + 1, "para": target + 1},
    )
    session.flush()
    return True


def _stale(label: str) -> str:
    return (
        f"O item “{label}” foi alterado por outra pessoa enquanto você o editava; "
        "nada foi gravado. Recarregue a página para ver a versão atual."
    )


def _require_editable(catalog: str) -> None:
    if catalog not in EDITABLE:
        raise NotFound("Catálogo não encontrado.")


def _get_item(session: Session, catalog: str, code: str) -> CatalogItem:
    item = session.scalar(
        select(CatalogItem).where(CatalogItem.catalog == catalog, CatalogItem.code == code)
    )
    if item is None:
        raise NotFound("Item de catálogo não encontrado.")
    return item


def _validate(
    session: Session,
    catalog: str,
    label: str | None,
    help: str | None,
    *,
    exclude_code: str | None,
) -> tuple[str, str | None]:
    """Trimmed label (inner blanks collapsed) and help (None when empty), or ValidationFailed."""
    errors: dict[str, str] = {}
    clean_label = " ".join((label or "").split())
    clean_help = (help or "").strip() or None
    if not clean_label:
        errors["label"] = "Informe o nome do item."
    elif len(clean_label) > LABEL_MAX:
        errors["label"] = f"O nome pode ter no máximo {LABEL_MAX} caracteres."
    elif wrong := limits.forbidden_character(clean_label):
        errors["label"] = wrong
    else:
        twin = _same_label(session, catalog, clean_label, exclude_code)
        if twin is not None:
            if twin.active:
                errors["label"] = "Já existe um item com este nome neste catálogo."
            else:
                errors["label"] = (
                    "Já existe um item aposentado com este nome neste catálogo: "
                    "reative-o em vez de criar outro."
                )
    if clean_help is not None and len(clean_help) > HELP_MAX:
        errors["help"] = f"A ajuda pode ter no máximo {HELP_MAX} caracteres."
    # PostgreSQL refuses a NUL in text (even in the query for a twin): a field message.
    if clean_help is not None and (wrong := limits.forbidden_character(clean_help, True)):
        errors.setdefault("help", wrong)
    if errors:
        raise ValidationFailed(errors)
    return clean_label, clean_help


def _same_label(
    session: Session, catalog: str, label: str, exclude_code: str | None
) -> CatalogItem | None:
    """The item whose label reads the same (case and accents aside), if any."""
    wanted = fold(label)
    for item in session.scalars(select(CatalogItem).where(CatalogItem.catalog == catalog)):
        if item.code != exclude_code and fold(item.label) == wanted:
            return item
    return None


def _unique_code(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"


def _audit(
    session: Session,
    action: str,
    summary: str,
    catalog: str,
    code: str,
    by_cpf: str | None,
    extra: dict[str, Any],
) -> None:
    by = parse_cpf(by_cpf) if by_cpf else None
    actor = get_user_by_cpf(session, by) if by else None
    details: dict[str, Any] = {"catalogo": catalog, "codigo": code, **extra}
    if by:
        details["by_cpf"] = by
    if len(summary) > _SUMMARY_MAX:
        summary = summary[: _SUMMARY_MAX - 1] + "…"
    bump_revision(session)  # every change is audited: one place tells the caches
    audit.record(session, action, summary, actor_id=actor.id if actor else None, details=details)
