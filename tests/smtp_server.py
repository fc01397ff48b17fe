"""A real SMTP server for tests (aiosmtpd on 127.0.0.1) that keeps what it receives."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from engine.mail import MailSettings
from engine.outbox import SmtpTransport


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    peer: Any = None  # the client's (host, port): one per connection
    at: float = 0.0  # time.time() when accepted


class Collector:
    """aiosmtpd handler: keeps every accepted message; can refuse or defer on demand."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse: set[str] = set()
        self.defer_domains: set[str] = set()  # RCPT to these answered "450" (for now)
        self.defer_data = 0  # answer DATA with 451 this many times
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 Caixa postal inexistente"
        if address.rpartition("@")[2].lower() in self.defer_domains:
            return "450 4.4.1 Domínio indisponível no momento"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.defer_data > 0:
            self.defer_data -= 1
            return "451 4.3.0 Tente mais tarde"
        message = cast(EmailMessage, message_from_bytes(envelope.content, policy=policy.default))
        received = Received(
            envelope.mail_from, list(envelope.rcpt_tos), message, session.peer, time.time()
        )
        self.received.append(received)
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        self.logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"segredo", handled=False)

    def message_ids(self) -> list[str]:
        return [str(r.message["Message-ID"]) for r in self.received]

    def connections(self) -> int:
        """How many client connections delivered at least one message."""
        return len({r.peer for r in self.received})


class SmtpServer:
    """A stoppable, restartable server on one fixed port (so 'down, then back' is real)."""

    def __init__(self, **smtp_options: Any) -> None:
        self.handler = Collector()
        self.port = _free_port()
        self.options = smtp_options
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, **self.options
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def transport(self, **overrides: Any) -> SmtpTransport:
        settings = MailSettings(smtp_host="127.0.0.1", smtp_port=self.port, **overrides)
        return SmtpTransport(settings)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
