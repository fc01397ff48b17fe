from __future__ import annotations

import random

import pytest

from engine.validators import (
    format_cpf,
    format_nup,
    is_valid_cpf_digits,
    is_valid_nup,
    normalize_cpf,
    normalize_phone,
    normalize_protocolo,
    phone_digits,
)

# --- CPF -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("390.533.447-05", "39053344705"),
        ("111.444.777-35", "11144477735"),
        ("39053344705", "39053344705"),
        ("390533447-05", "39053344705"),  # the sub claim spelling in gov.br examples
        ("  390.533.447-05 ", "39053344705"),
    ],
)
def test_cpf_valid(raw: str, expected: str) -> None:
    assert normalize_cpf(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "390.533.447-06",  # wrong second digit
        "390.533.447-15",  # wrong first digit
        "11144477736",
        "111.111.111-11",  # passes the checksum, still invalid
        "00000000000",
        "99999999999",
        "3905334470",  # 10 digits
        "390533447055",  # 12 digits
        "390.533.44705",  # partial punctuation
        "390 533 447 05",
        "abc.def.ghi-jk",
        "",
        "３９０５３３４４７０５",  # full-width digits
    ],
)
def test_cpf_invalid(raw: str) -> None:
    assert normalize_cpf(raw) is None


def test_cpf_none_and_non_string() -> None:
    assert normalize_cpf(None) is None
    assert normalize_cpf(39053344705) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("d", "0123456789")
def test_every_repeated_digit_cpf_is_invalid(d: str) -> None:
    assert not is_valid_cpf_digits(d * 11)


def test_format_cpf() -> None:
    assert format_cpf("39053344705") == "390.533.447-05"
    with pytest.raises(ValueError):
        format_cpf("3905334470")


def _make_cpf(base: str) -> str:
    def dv(digits: str) -> int:
        total = sum(int(c) * w for c, w in zip(digits, range(len(digits) + 1, 1, -1), strict=True))
        r = total % 11
        return 0 if r < 2 else 11 - r

    d1 = dv(base)
    return base + str(d1) + str(dv(base + str(d1)))


def test_cpf_random_round_trip() -> None:
    rng = random.Random(1234)
    for _ in range(500):
        digits = _make_cpf(f"{rng.randrange(10**9):09d}")
        if digits == digits[0] * 11:
            continue
        assert normalize_cpf(digits) == digits
        assert normalize_cpf(format_cpf(digits)) == digits
        # Any change of a check digit must be caught.
        wrong = digits[:10] + str((int(digits[10]) + 1) % 10)
        assert normalize_cpf(wrong) is None


# --- NUP / protocolo ---------------------------------------------------------------------------


@pytest.mark.parametrize("nup", ["23037.001462/2021-65", "19974.100540/2019-21"])
def test_nup_examples_are_valid(nup: str) -> None:
    assert is_valid_nup(nup)
    assert is_valid_nup(nup.replace(".", "").replace("/", "").replace("-", ""))
    assert normalize_protocolo(nup) == nup


@pytest.mark.parametrize(
    "raw",
    [
        "23037.001462/2021-66",  # DV2 wrong
        "23037.001462/2021-75",  # DV1 wrong
        "19974.100540/2019-12",  # digits swapped
        "23037.001462/2022-65",  # year changed
        "23037.001462/2021",
        "2303.7001462/2021-65",  # misplaced dot
        "",
    ],
)
def test_nup_invalid(raw: str) -> None:
    assert not is_valid_nup(raw)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("23037.001462/2021-65", "23037.001462/2021-65"),
        ("23037001462202165", "23037.001462/2021-65"),  # 17 digits
        (" 19974 100540 2019 21 ", "19974.100540/2019-21"),  # spaces stripped
        ("23037001462/2021-65", "23037.001462/2021-65"),
        ("123456", "123456"),  # platform process id
        ("0001234", "0001234"),  # leading zeros kept as typed
        ("1", "1"),
        ("1" * 16, "1" * 16),
        ("1" * 18, "1" * 18),
        ("9" * 20, "9" * 20),
    ],
)
def test_normalize_protocolo(raw: str, expected: str) -> None:
    assert normalize_protocolo(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "23037001462202166",  # 17 digits: must be a valid NUP, not a platform id
        "23037.001462/2021-66",
        "9" * 21,
        "0",
        "000",
        "12a34",
        "12-34",
        "",
        "   ",
        None,
    ],
)
def test_normalize_protocolo_rejects(raw: str | None) -> None:
    assert normalize_protocolo(raw) is None


def test_format_nup() -> None:
    assert format_nup("19974100540201921") == "19974.100540/2019-21"
    with pytest.raises(ValueError):
        format_nup("1997410054020192")


# --- Phones ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("(61) 99999-9999", "(61) 99999-9999"),
        ("61999999999", "(61) 99999-9999"),
        ("+55 61 99999-9999", "(61) 99999-9999"),
        ("+5561999999999", "(61) 99999-9999"),
        ("5561999999999", "(61) 99999-9999"),  # gov.br phone_number claim style
        ("(61) 3333-4444", "(61) 3333-4444"),
        ("6133334444", "(61) 3333-4444"),
        ("+55 (61) 3333-4444", "(61) 3333-4444"),
        ("556133334444", "(61) 3333-4444"),
        ("11 2345.6789", "(11) 2345-6789"),
        ("(55) 99123-4567", "(55) 99123-4567"),  # DDD 55 is a real area code
        ("(55) 3222-1111", "(55) 3222-1111"),
        ("55 55 99123-4567", "(55) 99123-4567"),
    ],
)
def test_phone_valid(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "(61) 89999-9999",  # 9 digits must start with 9
        "(61) 6333-4444",  # landline starts with 2–5
        "(61) 1333-4444",
        "(61) 9333-4444",  # 8-digit mobile (old format) is no longer valid
        "(01) 99999-9999",  # DDD with zero
        "(10) 99999-9999",
        "(60) 3333-4444",
        "+1 61 99999-9999",  # not Brazil
        "+61 99999-9999",
        "999999999",
        "619999999999",  # 12 digits without 55
        "61 99999-999a",
        "",
        None,
    ],
)
def test_phone_invalid(raw: str | None) -> None:
    assert normalize_phone(raw) is None


def test_phone_digits() -> None:
    assert phone_digits("+55 (61) 99999-9999") == "61999999999"
    assert phone_digits("(61) 3333-4444") == "6133334444"
    assert phone_digits("(61) 8999-9999") is None
