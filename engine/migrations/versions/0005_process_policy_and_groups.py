"""platform: groups as data, statuses labelled by their model, one submission per task

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 05:00:00.000000

* ``groups`` / ``group_members``: the people who work a lane's tasks, edited by admins
  (before, two groups were fixed in the settings).
* ``chamados.status_label`` / ``status_tone``: the status as its model labels it, copied
  on the row so lists need no parsed model; ``tipo_problema`` becomes ``categoria`` (the
  form says which of its fields fills it).
* ``submissions``: one row per completed task, with the task and its form. A model with
  two requester tasks in a row wrote two rows for the same round, which the old
  ``UNIQUE (chamado_id, round)`` refused.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The labels the statuses had when they were fixed in code (engine/status.py), for the
# rows written before this revision.
_OLD_LABELS = {
    "rascunho": ("Rascunho", "bg-gray-60"),
    "em_analise": ("Em análise", "bg-info"),
    "aguardando_ajuste": ("Aguardando ajuste", "bg-warning"),
    "resolvido": ("Resolvido", "bg-success"),
    "devolvido": ("Devolvido", "bg-danger"),
    "encerrado_sem_resposta": ("Encerrado por falta de resposta", "bg-gray-60"),
    "em_andamento": ("Em andamento", "bg-gray-60"),
    "concluido": ("Concluído", "bg-gray-60"),
}


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("key", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("member_roles", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "group_members",
        sa.Column("group_key", sa.String(length=50), nullable=False),
        sa.Column("cpf", sa.String(length=11), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["group_key"], ["groups.key"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_key", "cpf"),
    )
    op.create_index("ix_group_members_cpf", "group_members", ["cpf"])

    with op.batch_alter_table("chamados") as batch:
        batch.add_column(sa.Column("status_label", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("status_tone", sa.String(length=20), nullable=True))
        batch.drop_index("ix_chamados_tipo_problema")
        batch.alter_column("tipo_problema", new_column_name="categoria")
    op.create_index("ix_chamados_categoria", "chamados", ["categoria"])
    chamados = sa.table(
        "chamados",
        sa.column("status", sa.String),
        sa.column("status_label", sa.String),
        sa.column("status_tone", sa.String),
    )
    for code, (label, tone) in _OLD_LABELS.items():
        op.execute(
            chamados.update()
            .where(chamados.c.status == code)
            .values(status_label=label, status_tone=tone)
        )

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_constraint("submissions_chamado_id_round_key", "submissions", type_="unique")
        op.add_column("submissions", sa.Column("task_name", sa.String(100), nullable=True))
        op.add_column("submissions", sa.Column("form_schema", sa.String(200), nullable=True))
        op.add_column("submissions", sa.Column("group", sa.String(50), nullable=True))
    else:
        # SQLite cannot drop an unnamed constraint: the table is rebuilt without it.
        op.create_table(
            "submissions_new",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("chamado_id", sa.Integer(), nullable=False),
            sa.Column("round", sa.Integer(), nullable=False),
            sa.Column("data", sa.JSON(), nullable=False),
            sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("task_name", sa.String(100), nullable=True),
            sa.Column("form_schema", sa.String(200), nullable=True),
            sa.Column("group", sa.String(50), nullable=True),
            sa.ForeignKeyConstraint(["chamado_id"], ["chamados.id"]),
            sa.PrimaryKeyConstraint("id"),
        )
        op.execute(
            "INSERT INTO submissions_new (id, chamado_id, round, data, submitted_at) "
            "SELECT id, chamado_id, round, data, submitted_at FROM submissions"
        )
        op.drop_index("ix_submissions_chamado_id", "submissions")
        op.drop_table("submissions")
        op.rename_table("submissions_new", "submissions")
        op.create_index("ix_submissions_chamado_id", "submissions", ["chamado_id"])
    # Rows from before: every one was the requester's registration form.
    op.execute(
        "UPDATE submissions SET \"group\" = 'requester', form_schema = "
        "'registrar-chamado-schema.json' WHERE \"group\" IS NULL"
    )


def downgrade() -> None:
    raise NotImplementedError("0005 is not reversible: restore a backup instead.")
