"""Editable catalogs (tipo de problema, motivo de devolução, ...).

``data/catalogs.json`` only seeds them: once a row exists, administrators own it,
so seeding again adds new codes and never touches labels, help, order or status.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import CatalogItem


@dataclass(frozen=True)
class CatalogOption:
    """One choice of a catalog as forms and pages see it (no ORM object leaks out)."""

    code: str
    label: str
    help: str | None
    active: bool


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
    session.flush()


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


def all_catalogs(session: Session) -> dict[str, list[CatalogOption]]:
    """Every catalog (inactive items included), keyed by name, items in display order."""
    query = select(CatalogItem).order_by(CatalogItem.catalog, CatalogItem.position, CatalogItem.id)
    result: dict[str, list[CatalogOption]] = {}
    for item in session.scalars(query):
        result.setdefault(item.catalog, []).append(_to_option(item))
    return result


def label(session: Session, catalog: str, code: str) -> str | None:
    """Label of a code (active or not), or None when the code is unknown."""
    return session.scalar(
        select(CatalogItem.label).where(CatalogItem.catalog == catalog, CatalogItem.code == code)
    )
