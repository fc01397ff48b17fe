from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from engine.catalogs import CatalogOption, all_catalogs, label, options, seed_catalogs
from engine.models import Base, CatalogItem

SEED_PATH = Path(__file__).resolve().parent.parent / "data" / "catalogs.json"


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        yield s
    engine.dispose()


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(CatalogItem)) or 0


def test_seed_real_file(session: Session) -> None:
    seed_catalogs(session, SEED_PATH)
    session.commit()
    data = json.loads(SEED_PATH.read_text(encoding="utf-8"))
    assert _count(session) == sum(len(items) for items in data.values())

    tipos = options(session, "tipo_problema")
    assert [o.code for o in tipos] == [i["code"] for i in data["tipo_problema"]]
    assert tipos[0] == CatalogOption(
        code="erro_integracao", label="Erro em alguma integração", help=None, active=True
    )
    devolucao = options(session, "motivo_devolucao")
    assert devolucao[0].code == "conta_govbr"
    assert devolucao[0].help and "e.gov.br/solicitaratendimentogovbr" in devolucao[0].help


def test_seed_is_idempotent_and_keeps_admin_edits(session: Session) -> None:
    seed_catalogs(session, SEED_PATH)
    session.commit()
    before = _count(session)

    item = session.scalars(
        select(CatalogItem).where(
            CatalogItem.catalog == "tipo_problema", CatalogItem.code == "lentidao"
        )
    ).one()
    item.label = "Lentidão (editado)"
    item.help = "Ajuda do admin"
    item.active = False
    item.position = 99
    session.commit()

    seed_catalogs(session, SEED_PATH)
    session.commit()
    assert _count(session) == before
    session.refresh(item)
    assert (item.label, item.help, item.active, item.position) == (
        "Lentidão (editado)",
        "Ajuda do admin",
        False,
        99,
    )


def test_seed_adds_new_items_after_existing(session: Session, tmp_path: Path) -> None:
    seed_catalogs(session, SEED_PATH)
    session.commit()
    data = json.loads(SEED_PATH.read_text(encoding="utf-8"))
    data["tipo_problema"].insert(0, {"code": "novo", "label": "Novo tipo"})
    data["catalogo_novo"] = [{"code": "a", "label": "A", "help": "Ajuda A"}]
    newer = tmp_path / "catalogs.json"
    newer.write_text(json.dumps(data), encoding="utf-8")

    seed_catalogs(session, newer)
    session.commit()
    codes = [o.code for o in options(session, "tipo_problema")]
    assert codes[-1] == "novo"  # appended, existing order untouched
    assert options(session, "catalogo_novo") == [CatalogOption("a", "A", "Ajuda A", True)]


def test_options_active_only_and_labels(session: Session) -> None:
    seed_catalogs(session, SEED_PATH)
    item = session.scalars(
        select(CatalogItem).where(
            CatalogItem.catalog == "motivo_devolucao", CatalogItem.code == "duplicado"
        )
    ).one()
    item.active = False
    session.commit()

    all_codes = [o.code for o in options(session, "motivo_devolucao")]
    active_codes = [o.code for o in options(session, "motivo_devolucao", active_only=True)]
    assert "duplicado" in all_codes and "duplicado" not in active_codes
    assert [o for o in options(session, "motivo_devolucao") if o.code == "duplicado"][
        0
    ].active is False

    # The label of a retired code is still known, for old chamados.
    assert label(session, "motivo_devolucao", "duplicado") == "Chamado duplicado"
    assert label(session, "objetivo", "erro") == "Erro"
    assert label(session, "objetivo", "nada") is None
    assert label(session, "nao_existe", "erro") is None
    assert options(session, "nao_existe") == []


def test_all_catalogs(session: Session) -> None:
    seed_catalogs(session, SEED_PATH)
    session.commit()
    catalogs = all_catalogs(session)
    assert set(catalogs) == {"objetivo", "tipo_problema", "motivo_devolucao"}
    assert catalogs["objetivo"] == [CatalogOption("erro", "Erro", None, True)]
    assert catalogs["tipo_problema"] == options(session, "tipo_problema")


def test_malformed_seed_is_rejected(session: Session, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"x": [{"code": "a"}]}), encoding="utf-8")
    with pytest.raises(ValueError):
        seed_catalogs(session, bad)
    bad.write_text(json.dumps({"x": {"code": "a"}}), encoding="utf-8")
    with pytest.raises(ValueError):
        seed_catalogs(session, bad)
    assert _count(session) == 0
