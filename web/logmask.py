"""CPF numbers and e-mail addresses never reach the application's logs (LGPD art. 46).

``PersonalDataFilter`` is installed on the app's log handler (web.observability's
``install_json_logging``): every record, from our code or a library's (an SMTP error
naming the recipient, the bootstrap admin's CPF), is masked before it is written —
message, arguments, request path and exception text.
"""

from __future__ import annotations

import logging
import re

# 11 digits, with or without the usual dots and dash, not inside a longer number or a
# word (a request id's hex digits are not a CPF).
CPF_RE = re.compile(r"(?<![0-9A-Za-z])\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?![0-9A-Za-z])")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
CPF_MASK = "***.***.***-**"
EMAIL_MASK = "***@***"


def mask(text: str) -> str:
    """``text`` with every e-mail address and CPF replaced."""
    return CPF_RE.sub(CPF_MASK, EMAIL_RE.sub(EMAIL_MASK, text))


class PersonalDataFilter(logging.Filter):
    """Masks a record in place (the message is rendered once, here, with its arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the formatter's report
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        path = getattr(record, "path", None)
        if isinstance(path, str):
            record.path = mask(path)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        return True
