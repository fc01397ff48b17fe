"""Login sessions and API tokens as every request meets them: log in, who is this, log out.

The rows and their statements are engine.sessions and engine.tokens; an administrator
ending someone's sessions, and revoking a role, are engine.usecases.admin.
"""

from __future__ import annotations

from engine import audit, tokens, users
from engine.identity import Identity
from engine.models import User, UserSession
from engine.sessions import (
    LOGOUT,
    LOGOUT_ALL,
    RELOGIN,
    Live,
    Policy,
    end,
    end_all,
    end_by_id,
    live_sessions,
    lookup,
    start,
    touch,
)
from engine.usecases.base import UseCaseBase


class Sessions(UseCaseBase):
    """Logins, the per-request check and the ways a person ends their own sessions."""

    @property
    def session_policy(self) -> Policy:
        return Policy.of(self.settings)

    def log_in(
        self, identity: Identity, user_agent: str | None, replaces: str | None = None
    ) -> tuple[User, str]:
        """Record the person gov.br vouched for and open a new session; returns the user
        and the session's token. ``replaces`` (the token the browser carried, if any) is
        ended: a login never reuses a session."""
        now = self.clock()
        with self.transaction() as db:
            user = users.upsert_user(db, identity)
            if replaces:
                end(db, replaces, RELOGIN, now)
            token = start(db, user.id, user_agent, now)
        return user, token

    def session_user(self, token: str) -> Live | None:
        """The live session of ``token`` (with its person and roles), or None.

        One read outside any transaction; when the session has lapsed its row is ended,
        and a request's last_seen_at is recorded at most once a minute, both in a
        transaction of their own that is skipped while SQLite's write lock is busy
        (a lapsed session is refused all the same; a later request records the rest).
        """
        found = self.unit.read_prepared(lambda db: lookup(db, token))
        if found is None:
            return None
        now = self.clock()
        lapsed = self.session_policy.lapse(found.created_at, found.last_seen_at, now)
        if lapsed is not None:
            self.unit.write_if_free(lambda conn: end_by_id(conn, found.session_id, lapsed, now))
            return None
        if found.needs_touch(now):
            self.unit.write_if_free(lambda conn: touch(conn, found.session_id, now))
        return found

    def token_user(self, plaintext: str) -> users.Principal | None:
        """The owner of an API token, with their roles; None if unknown or revoked.

        Checked against the database on every request, so a revocation takes effect at
        once; but as one statement outside any transaction (no write lock, no commit).
        The token's last_used_at is written, in a transaction of its own, only when older
        than tokens.LAST_USED_RESOLUTION, and skipped when SQLite's write lock is busy.
        """
        found = self.unit.read_prepared(lambda db: tokens.authenticate(db, plaintext))
        if found is None:
            return None
        now = self.clock()
        if found.needs_touch(now):
            # Bookkeeping: skipped (done by a later request) rather than wait for a writer.
            self.unit.write_if_free(lambda conn: tokens.touch(conn, found.token_id, now))
        return found.principal

    def log_out(self, token: str) -> bool:
        """End the session of ``token`` ("Sair"); False when it was not live."""
        now = self.clock()
        with self.transaction() as db:
            return end(db, token, LOGOUT, now)

    def log_out_everywhere(self, user_id: int) -> int:
        """End every live session of the person, this one included."""
        now = self.clock()
        with self.transaction() as db:
            count = end_all(db, user_id, LOGOUT_ALL, now, self.session_policy)
            audit.record(
                db,
                "sessao.sair_de_todas",
                f"Saiu de todos os dispositivos ({count} sessão(ões) encerrada(s))",
                actor_id=user_id,
                at=now,
                details={"user_id": user_id, "sessions": count},
            )
        return count

    def live_sessions(self, user_id: int | None = None) -> list[UserSession]:
        """Live sessions of one person (or of everyone), most recently active first."""
        with self.reading() as db:
            return live_sessions(db, self.clock(), self.session_policy, user_id)
