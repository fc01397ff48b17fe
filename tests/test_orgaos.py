from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from engine.models import Base, Orgao
from engine.orgaos import fold, get_orgao, load_orgaos, search_orgaos

CSV_PATH = Path(__file__).resolve().parent.parent / "data" / "orgaos_federais_siorg.csv"


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        yield s
    engine.dispose()


@pytest.fixture
def loaded(session: Session) -> Session:
    assert load_orgaos(session, CSV_PATH) == 265
    session.commit()
    return session


def test_load_all_rows(loaded: Session) -> None:
    assert loaded.scalar(select(func.count()).select_from(Orgao)) == 265


@pytest.mark.parametrize(
    "sigla, siorg",
    [
        ("MEC", 244),
        ("MS", 304),
        ("INSS", 1934),
        ("IBAMA", 1812),
        ("ANATEL", 25064),
        ("AGU", 46),
        ("CGU", 214460),
        ("MGI", 308803),
        ("MF", 308800),
        ("MAPA", 308793),
    ],
)
def test_spot_checks(loaded: Session, sigla: str, siorg: int) -> None:
    orgao = get_orgao(loaded, siorg)
    assert orgao is not None
    assert orgao.sigla == sigla


def test_fields(loaded: Session) -> None:
    inss = get_orgao(loaded, 1934)
    assert inss is not None
    assert inss.name == "Instituto Nacional do Seguro Social"
    assert inss.classification == "Vinculado (Autarquia)"
    assert inss.search_text == "inss instituto nacional do seguro social"
    ms = get_orgao(loaded, 304)
    assert ms is not None and ms.search_text == "ms ministerio da saude"
    assert get_orgao(loaded, 999_999_999) is None


def test_reload_is_idempotent_and_updates(loaded: Session) -> None:
    inss = get_orgao(loaded, 1934)
    assert inss is not None
    inss.name = "Nome antigo"
    loaded.commit()
    assert load_orgaos(loaded, CSV_PATH) == 265
    loaded.commit()
    assert loaded.scalar(select(func.count()).select_from(Orgao)) == 265
    assert get_orgao(loaded, 1934).name == "Instituto Nacional do Seguro Social"  # type: ignore[union-attr]


def test_multiline_fields_do_not_break_rows() -> None:
    with open(CSV_PATH, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 265
    assert any("\n" in r["address"] for r in rows)


@pytest.mark.parametrize(
    "q, first",
    [
        ("inss", "INSS"),
        ("INSS", "INSS"),
        ("saude", "MS"),
        ("Saúde", "MS"),
        ("Ministério da Saúde", "MS"),
        ("minist saude", "MS"),
        ("MINISTERIO DA SAUDE", "MS"),
        ("anatel", "ANATEL"),
        ("ms", "MS"),
        ("mec", "MEC"),
        ("agu", "AGU"),
        ("telebras", "TELEBRÁS"),  # accent in the sigla itself
        ("gsi/pr", "GSI/PR"),
        ("seguro social", "INSS"),
        ("ibama", "IBAMA"),
    ],
)
def test_search_first_hit(loaded: Session, q: str, first: str) -> None:
    results = search_orgaos(loaded, q)
    assert results, q
    assert results[0].sigla == first


def test_search_every_word_must_match(loaded: Session) -> None:
    results = search_orgaos(loaded, "ministerio saude")
    assert [o.sigla for o in results] == ["MS"]
    assert search_orgaos(loaded, "ministerio anatel") == []


def test_search_matches_word_starts_only(loaded: Session) -> None:
    # "aude" is inside "saude" but starts no word.
    assert search_orgaos(loaded, "aude") == []


def test_sigla_prefix_before_name_match(loaded: Session) -> None:
    siglas = [o.sigla for o in search_orgaos(loaded, "mme", limit=50)]
    assert siglas[0] == "MME"
    results = search_orgaos(loaded, "ma", limit=300)
    tiers = [fold(o.sigla).startswith("ma") for o in results]
    # Every sigla-prefix hit comes before the first name-only hit.
    assert tiers == sorted(tiers, reverse=True)


def test_search_limit_and_empty(loaded: Session) -> None:
    assert len(search_orgaos(loaded, "universidade", limit=5)) == 5
    assert len(search_orgaos(loaded, "universidade federal", limit=300)) > 50
    assert search_orgaos(loaded, "") == []
    assert search_orgaos(loaded, "  - / ") == []
    assert search_orgaos(loaded, "inss", limit=0) == []


def test_search_wildcards_are_not_special(loaded: Session) -> None:
    assert search_orgaos(loaded, "%") == []
    assert search_orgaos(loaded, "_") == []
    assert search_orgaos(loaded, "in%ss") == []


def test_fold() -> None:
    assert fold("Advocacia-Geral da União") == "advocacia geral da uniao"
    assert fold("  TELEBRÁS ") == "telebras"
    assert fold("Ciência, Tecnologia e Inovação") == "ciencia tecnologia e inovacao"
