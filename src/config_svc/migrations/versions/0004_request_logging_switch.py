"""Expanded logging switched on at runtime (`aigw logging request-logging on`).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "config_version",
        sa.Column("request_logging", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("config_version") as batch:
        batch.drop_column("request_logging")
