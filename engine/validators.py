"""Validation and normalisation of Brazilian identifiers: CPF, NUP, protocol ids, phones.

Every ``normalize_*`` function returns the canonical form or ``None`` when the
input is not valid, so callers can store exactly one spelling of each value and
compare with ``==``. Pure functions: no I/O, no database, no web.
"""

from __future__ import annotations

import re

_CPF_RE = re.compile(r"\d{11}|\d{3}\.\d{3}\.\d{3}-\d{2}|\d{9}-\d{2}")
# Punctuation of the NUP is optional piece by piece, so "23037001462/2021-65" also passes.
_NUP_RE = re.compile(r"(\d{5})\.?(\d{6})/?(\d{4})-?(\d{2})")
_PLATFORM_ID_RE = re.compile(r"\d{1,20}")
_PHONE_ALLOWED_RE = re.compile(r"\+?[\d\s().\-]+")
_WHITESPACE_RE = re.compile(r"\s+")

NUP_DIGITS = 17
PLATFORM_ID_MAX_DIGITS = 20


# --- CPF -------------------------------------------------------------------------------------


def _cpf_check_digit(digits: str) -> int:
    """One CPF check digit: weights ``len+1 .. 2`` from the left; r = sum mod 11;
    the digit is 0 when r < 2, else 11 − r."""
    total = sum(int(d) * w for d, w in zip(digits, range(len(digits) + 1, 1, -1), strict=True))
    r = total % 11
    return 0 if r < 2 else 11 - r


def is_valid_cpf_digits(digits: str) -> bool:
    """True for 11 digits with both check digits right and not all the same digit.

    Repeated-digit CPFs (``111.111.111-11``) satisfy the checksum but are never issued.
    """
    if len(digits) != 11 or not digits.isascii() or not digits.isdigit():
        return False
    if digits == digits[0] * 11:
        return False
    d1 = _cpf_check_digit(digits[:9])
    d2 = _cpf_check_digit(digits[:9] + str(d1))
    return digits[9:] == f"{d1}{d2}"


def normalize_cpf(s: str | None) -> str | None:
    """Return the CPF as 11 digits, or None.

    Accepted spellings (surrounding whitespace ignored): ``39053344705``,
    ``390.533.447-05`` and ``390533447-05`` (the last one appears in gov.br's ``sub``
    claim examples). Anything else — letters, partial punctuation, wrong check
    digits, repeated digits — is rejected.
    """
    if not isinstance(s, str):
        return None
    s = s.strip()
    if not s.isascii() or not _CPF_RE.fullmatch(s):
        return None
    digits = re.sub(r"\D", "", s)
    return digits if is_valid_cpf_digits(digits) else None


def format_cpf(digits: str) -> str:
    """``39053344705`` → ``390.533.447-05``. Raises ValueError unless given 11 digits."""
    if len(digits) != 11 or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"CPF must be 11 digits, got {digits!r}")
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"


# --- NUP and protocol numbers ----------------------------------------------------------------


def _nup_check_digit(digits: str) -> int:
    """One NUP check digit: weights 2, 3, … from the rightmost digit;
    r = 11 − (sum mod 11); 10 → 0 and 11 → 1."""
    weights = range(2, len(digits) + 2)
    total = sum(int(d) * w for d, w in zip(reversed(digits), weights, strict=True))
    r = 11 - total % 11
    return {10: 0, 11: 1}.get(r, r)


def _nup_digits(s: str) -> str | None:
    """The 17 digits of a NUP written with or without its punctuation, if the check
    digits are right (DV1 over the first 15 digits, DV2 over those plus DV1)."""
    s = _WHITESPACE_RE.sub("", s)
    if not s.isascii():
        return None
    m = _NUP_RE.fullmatch(s)
    if not m:
        return None
    digits = "".join(m.groups())
    base = digits[:15]
    d1 = _nup_check_digit(base)
    d2 = _nup_check_digit(base + str(d1))
    return digits if digits[15:] == f"{d1}{d2}" else None


def format_nup(digits: str) -> str:
    """``23037001462202165`` → ``23037.001462/2021-65`` (no check; see :func:`is_valid_nup`)."""
    if len(digits) != NUP_DIGITS or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"NUP must be 17 digits, got {digits!r}")
    return f"{digits[:5]}.{digits[5:11]}/{digits[11:15]}-{digits[15:]}"


def is_valid_nup(s: str | None) -> bool:
    """True for a NUP (``00000.000000/0000-00``, punctuation optional, spaces ignored)
    whose two check digits are right."""
    return isinstance(s, str) and _nup_digits(s) is not None


def normalize_protocolo(s: str | None) -> str | None:
    """Canonical protocol number, or None.

    Rules (whitespace anywhere is ignored):

    * Anything with NUP punctuation (``.``, ``/``, ``-``) must be a valid NUP and is
      returned as ``00000.000000/0000-00``.
    * Exactly 17 plain digits is read as a NUP without punctuation: it must pass the
      NUP check digits, and is returned formatted. A 17-digit string that fails is
      rejected rather than accepted as a platform id, so a mistyped NUP is caught.
    * Any other run of 1–20 plain digits is a Plataforma de Automação process id and
      is returned as typed (leading zeros kept), except all zeros.
    """
    if not isinstance(s, str):
        return None
    compact = _WHITESPACE_RE.sub("", s)
    if not compact.isascii() or not compact:
        return None
    if compact.isdigit() and len(compact) != NUP_DIGITS:
        if _PLATFORM_ID_RE.fullmatch(compact) and compact.strip("0"):
            return compact
        return None
    digits = _nup_digits(compact)
    return format_nup(digits) if digits else None


# --- Phones ----------------------------------------------------------------------------------


def _is_valid_ddd(ddd: str) -> bool:
    """Brazilian area codes are two digits 1–9 each (11–99 with no zero)."""
    return len(ddd) == 2 and "0" not in ddd


def phone_digits(s: str | None) -> str | None:
    """National digits of a Brazilian phone (DDD + number, 10 or 11 digits), or None.

    Accepts an optional country code ``+55``/``55`` and the usual punctuation
    (spaces, parentheses, dots, hyphens). The number is either a mobile — 9 digits
    starting with 9 — or a landline — 8 digits starting with 2–5. The country code
    is recognised by length (12 or 13 digits), which keeps DDD 55 unambiguous.
    gov.br's ``phone_number`` claim (digits only) is accepted too.
    """
    if not isinstance(s, str):
        return None
    s = s.strip()
    if not s.isascii() or not _PHONE_ALLOWED_RE.fullmatch(s):
        return None
    plus = s.startswith("+")
    digits = re.sub(r"\D", "", s)
    if plus or len(digits) in (12, 13):
        if not digits.startswith("55"):
            return None
        digits = digits[2:]
    if len(digits) not in (10, 11):
        return None
    ddd, number = digits[:2], digits[2:]
    if not _is_valid_ddd(ddd):
        return None
    if len(number) == 9 and number[0] == "9":
        return digits
    if len(number) == 8 and number[0] in "2345":
        return digits
    return None


def normalize_phone(s: str | None) -> str | None:
    """Display form of a Brazilian phone: ``(61) 99999-9999`` or ``(61) 3333-4444``;
    None when :func:`phone_digits` rejects it."""
    digits = phone_digits(s)
    if digits is None:
        return None
    ddd, number = digits[:2], digits[2:]
    return f"({ddd}) {number[:-4]}-{number[-4:]}"
