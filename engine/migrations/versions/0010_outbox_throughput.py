"""outbox throughput: recipient domain, per-domain holds, a wake-up on insert

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 07:00:00.000000

Delivery (engine.outbox) backs off per recipient domain: ``outbox_messages.to_domain``
(filled for the rows already there) and ``mail_domain_holds``, the domains the relay
refused for now. On PostgreSQL a statement trigger sends ``NOTIFY chamados_outbox`` when
rows are inserted: delivered at commit, it wakes the schedulers' senders (engine.mailer)
without a round trip from the transaction that enqueued the mail.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CHANNEL = "chamados_outbox"


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("to_domain", sa.String(length=254), nullable=True))
    op.execute(
        "UPDATE outbox_messages SET to_domain = lower(substr(to_addr, instr(to_addr, '@') + 1))"
        if op.get_bind().dialect.name == "sqlite"
        else "UPDATE outbox_messages SET to_domain = lower(split_part(to_addr, '@', 2))"
    )
    op.create_table(
        "mail_domain_holds",
        sa.Column("domain", sa.String(length=254), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("domain"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION chamados_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('{CHANNEL}', '');
                RETURN NULL;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER outbox_messages_notify AFTER INSERT ON outbox_messages "
            "FOR EACH STATEMENT EXECUTE FUNCTION chamados_outbox_notify()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER outbox_messages_notify ON outbox_messages")
        op.execute("DROP FUNCTION chamados_outbox_notify()")
    op.drop_table("mail_domain_holds")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_column("to_domain")
