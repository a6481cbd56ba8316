"""Per-model connect / first-token / idle timeouts, retry count and platform options.

Timeouts are nanoseconds (NULL: the proxy's default), retries NULL: the default; the options are
a serialized ModelTarget holding only its `platform_options` oneof (NULL: none).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_DURATIONS = ("connect_timeout_nanos", "first_token_timeout_nanos", "idle_timeout_nanos")


def upgrade() -> None:
    for name in _DURATIONS:
        op.add_column("models", sa.Column(name, sa.BigInteger))
    op.add_column("models", sa.Column("max_retries", sa.Integer))
    op.add_column("models", sa.Column("platform_options", sa.LargeBinary))


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        for name in (*_DURATIONS, "max_retries", "platform_options"):
            batch.drop_column(name)
