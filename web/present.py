"""Adapters between the service and the form views (órgão lookups)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web.context import service
from web.formview import ReviewSection, build_review


@dataclass(frozen=True)
class OrgaoLookup:
    """The órgão search, as the forms' lookup protocol."""

    def label_for(self, value: Any) -> str | None:
        return service().analysis.orgao_label(value)

    def search(self, q: str) -> list[tuple[int, str]]:
        return service().analysis.search_orgaos(q) if q.strip() else []


def lookups(schema: dict[str, Any]) -> dict[str, OrgaoLookup]:
    return {
        name: OrgaoLookup()
        for name, prop in schema.get("properties", {}).items()
        if prop.get("x-lookup") == "orgaos"
    }


def sections(
    schema: dict[str, Any], ui: dict[str, Any], data: dict[str, Any]
) -> list[ReviewSection]:
    """Submitted data by wizard step, read-only (tracking and analysis pages)."""
    return build_review(schema, ui, data, lookups(schema)) if ui else []


def sent_forms(shown: list[Any]) -> list[tuple[Any, list[ReviewSection]]]:
    """Each form a ticket's tasks sent with its sections; a one-step form's section takes
    the form's title (a task's, when two groups sent the same form)."""
    return [(f, sections({**f.schema, "title": f.title}, f.ui, f.data)) for f in shown]
