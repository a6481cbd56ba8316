"""What a model's server accepts: a serialized ModelTarget holding only
limits.max_stop_sequences, limits.context_tokens and completion_api (NULL: none set).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("models", sa.Column("server_options", sa.LargeBinary))


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("server_options")
