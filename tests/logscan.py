"""Finding personal data in log text: what the whole test run's logs must not contain.

Written independently of web.logmask (a mask that stopped working must be caught, not
mirrored): any 11-digit CPF, with or without punctuation, and any e-mail address.
"""

from __future__ import annotations

import re

# Not inside a word: the hex digits of a request id are not a CPF.
_CPF = re.compile(r"(?<![0-9A-Za-z])(?:\d{11}|\d{3}\.\d{3}\.\d{3}-\d{2})(?![0-9A-Za-z])")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")


def personal_data_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if _CPF.search(line) or _EMAIL.search(line)]
