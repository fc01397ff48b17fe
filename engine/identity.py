"""Who logged in, as told by gov.br's Login Único, normalised once at the boundary.

gov.br's claims have quirks (see GOVBR.md): ``sub`` is the CPF but appears both as
``12345678900`` and ``123456789-00``; ``preferred_username`` is digits only; the
``*_verified`` flags are the strings "true"/"false" in the ID token and booleans in
userinfo; e-mail and phone are left out when not verified. Everything after this
module sees one spelling of each value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.validators import normalize_cpf, phone_digits

NO_CPF_MESSAGE = (
    "Não foi possível identificar um CPF válido na sua conta gov.br. "
    "Tente entrar novamente; se o problema continuar, procure o atendimento gov.br."
)


@dataclass(frozen=True)
class Identity:
    cpf: str  # 11 digits, check digits verified
    name: str
    social_name: str | None = None
    email: str | None = None
    email_verified: bool = False
    phone: str | None = None  # national digits (DDD + number)
    phone_verified: bool = False
    reliability: str | None = None  # "gold" | "silver" | "bronze" (gov.br's words)
    # A tuple, not a list, so the dataclass stays truly immutable and hashable.
    amr: tuple[str, ...] = ()

    @property
    def display_name(self) -> str:
        """gov.br asks services to show the social name whenever there is one."""
        return self.social_name or self.name


def parse_flag(value: Any) -> bool | None:
    """gov.br flag → bool; None when absent or unreadable (neither true nor false)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
    return None


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def _cpf_from_claims(claims: Mapping[str, Any]) -> str | None:
    # ``sub`` is what the provider vouches for; preferred_username is a fallback only.
    for key in ("sub", "preferred_username"):
        value = claims.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:011d}"  # a JSON number would have lost leading zeros
        cpf = normalize_cpf(value) if isinstance(value, str) else None
        if cpf:
            return cpf
    return None


def _reliability(claims: Mapping[str, Any]) -> str | None:
    info = claims.get("reliability_info")
    if isinstance(info, Mapping):
        level = info.get("level")
        if isinstance(level, str) and level.strip():
            return level.strip().lower()
    return None


def _amr(value: Any) -> tuple[str, ...]:
    # New values appear over time: keep every string, never filter by a known list.
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list | tuple):
        return tuple(v for v in value if isinstance(v, str) and v)
    return ()


def identity_from_claims(claims: Mapping[str, Any]) -> Identity:
    """Build an :class:`Identity` from ID-token and/or userinfo claims.

    Raises ValueError (pt-BR message) when no valid CPF is present.
    """
    cpf = _cpf_from_claims(claims)
    if cpf is None:
        raise ValueError(NO_CPF_MESSAGE)

    email_flag = parse_flag(claims.get("email_verified"))
    email = _text(claims.get("email"))
    # gov.br omits unverified addresses; if one is sent anyway and flagged false, drop it.
    if email_flag is False:
        email = None

    phone_flag = parse_flag(claims.get("phone_number_verified"))
    phone_raw = claims.get("phone_number")
    phone: str | None = None
    if isinstance(phone_raw, str) and phone_flag is not False:
        # Prefer the validated national form; fall back to bare digits for numbers
        # the validator does not know (gov.br is the authority on the claim).
        phone = phone_digits(phone_raw) or ("".join(c for c in phone_raw if c.isdigit()) or None)

    return Identity(
        cpf=cpf,
        name=_text(claims.get("name")) or "",
        social_name=_text(claims.get("social_name")),
        email=email,
        email_verified=email is not None and email_flag is True,
        phone=phone,
        phone_verified=phone is not None and phone_flag is True,
        reliability=_reliability(claims),
        amr=_amr(claims.get("amr")),
    )
