"""auth_svc's signing keys, shared by every replica (AIGW_DATABASE__URL set).

The private key is stored sealed with the credentials key; the single `signing_keyset` row is the
lock every change takes and counts the changes (the NOTIFY payload).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    keyset = op.create_table(
        "signing_keyset",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="signing_keyset_single_row"),
    )
    op.bulk_insert(keyset, [{"id": 1, "generation": 0}])
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.Text, primary_key=True),
        sa.Column("algorithm", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("sealed_private_key", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("activated_at", sa.Text),
        sa.Column("deactivated_at", sa.Text),
        sa.Column("retire_at", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("signing_keys")
    op.drop_table("signing_keyset")
