"""gov.br claims → Identity: every quirk listed in GOVBR.md."""

from __future__ import annotations

import dataclasses

import pytest

from engine.identity import NO_CPF_MESSAGE, Identity, identity_from_claims, parse_flag

MARIA = "39053344705"


@pytest.mark.parametrize(
    "sub", ["39053344705", "390533447-05", "390.533.447-05", " 390.533.447-05 "]
)
def test_sub_spellings_normalised(sub: str) -> None:
    assert identity_from_claims({"sub": sub, "name": "Maria"}).cpf == MARIA


def test_preferred_username_is_the_fallback() -> None:
    ident = identity_from_claims({"sub": "opaque-id", "preferred_username": MARIA})
    assert ident.cpf == MARIA


def test_sub_wins_over_preferred_username() -> None:
    ident = identity_from_claims({"sub": MARIA, "preferred_username": "11144477735"})
    assert ident.cpf == MARIA


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"sub": ""},
        {"sub": "39053344704"},  # wrong check digit
        {"sub": "11111111111"},  # repeated digits pass the checksum but are invalid
        {"sub": "abc", "preferred_username": "123"},
        {"sub": None},
    ],
)
def test_no_valid_cpf_is_a_clear_error(claims: dict[str, object]) -> None:
    with pytest.raises(ValueError) as info:
        identity_from_claims(claims)
    assert str(info.value) == NO_CPF_MESSAGE
    assert "CPF válido" in str(info.value)


def test_id_token_string_flags() -> None:
    ident = identity_from_claims(
        {
            "sub": MARIA,
            "name": "Maria",
            "email": "maria@example.gov.br",
            "email_verified": "true",
            "phone_number": "61987650001",
            "phone_number_verified": "true",
        }
    )
    assert ident.email == "maria@example.gov.br" and ident.email_verified is True
    assert ident.phone == "61987650001" and ident.phone_verified is True


def test_userinfo_boolean_flags() -> None:
    ident = identity_from_claims(
        {
            "sub": MARIA,
            "email": "m@example.gov.br",
            "email_verified": True,
            "phone_number": "61987650001",
            "phone_number_verified": False,
        }
    )
    assert ident.email_verified is True
    assert ident.phone is None and ident.phone_verified is False


def test_explicitly_unverified_email_dropped_string_flag() -> None:
    ident = identity_from_claims({"sub": MARIA, "email": "m@x.br", "email_verified": "false"})
    assert ident.email is None and ident.email_verified is False


def test_email_without_flag_is_kept_but_not_marked_verified() -> None:
    ident = identity_from_claims({"sub": MARIA, "email": "m@x.br"})
    assert ident.email == "m@x.br" and ident.email_verified is False


def test_absent_email_and_phone() -> None:
    ident = identity_from_claims({"sub": MARIA, "name": "Maria"})
    assert ident.email is None and ident.phone is None
    assert ident.email_verified is False and ident.phone_verified is False


def test_social_name_is_the_display_name() -> None:
    ident = identity_from_claims({"sub": MARIA, "name": "João Pereira", "social_name": "Joana"})
    assert ident.name == "João Pereira"
    assert ident.social_name == "Joana"
    assert ident.display_name == "Joana"
    plain = identity_from_claims({"sub": MARIA, "name": "Maria  da   Silva"})
    assert plain.social_name is None and plain.display_name == "Maria da Silva"


def test_reliability_and_amr() -> None:
    ident = identity_from_claims(
        {
            "sub": MARIA,
            "amr": ["passwd", "mfa", "x509_cert_novo"],  # unknown values are kept
            "reliability_info": {"level": "GOLD", "reliabilities": [{"id": "1"}]},
        }
    )
    assert ident.reliability == "gold"
    assert ident.amr == ("passwd", "mfa", "x509_cert_novo")
    assert identity_from_claims({"sub": MARIA, "amr": "passwd"}).amr == ("passwd",)
    assert identity_from_claims({"sub": MARIA}).reliability is None


def test_phone_digits_only() -> None:
    ident = identity_from_claims({"sub": MARIA, "phone_number": "+55 (61) 98765-0001"})
    assert ident.phone == "61987650001"


def test_identity_is_frozen() -> None:
    ident = identity_from_claims({"sub": MARIA, "name": "Maria"})
    assert isinstance(ident, Identity)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ident.cpf = "1"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("false", False),
        (True, True),
        (False, False),
        (None, None),
        ("yes", None),
        (1, None),
    ],
)
def test_parse_flag(value: object, expected: bool | None) -> None:
    assert parse_flag(value) is expected
