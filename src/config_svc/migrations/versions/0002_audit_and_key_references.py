"""The audit trail, and where each model's API key was referenced from.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per change, keyed by the configuration version the change produced.
    op.create_table(
        "audit_events",
        sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at_unix_ms", sa.BigInteger, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
    )
    op.create_table(
        "model_api_key_env",
        sa.Column(
            "model",
            sa.Text,
            sa.ForeignKey("models.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("env_var", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_api_key_env")
    op.drop_table("audit_events")
