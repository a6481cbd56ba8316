"""Models, feature settings and the configuration version.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A single row; a fresh store is at version 1 so that 0 always means "nothing yet".
    version = op.create_table(
        "config_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="config_version_single_row"),
    )
    op.bulk_insert(version, [{"id": 1, "version": 1}])
    op.create_table(
        "models",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("family", sa.Text, nullable=False),
        sa.Column("platform", sa.Integer, nullable=False),
        sa.Column("endpoint", sa.Text, nullable=False),
        sa.Column("identifier", sa.Text, nullable=False),
        sa.Column("sealed_api_key", sa.LargeBinary, nullable=False),
        sa.Column("timeout_seconds", sa.BigInteger),
        sa.Column("timeout_nanos", sa.Integer),
        sa.Column("max_output_tokens", sa.Integer, nullable=False),
        sa.Column("max_concurrent_requests", sa.Integer, nullable=False),
    )
    op.create_table(
        "feature_settings",
        sa.Column("feature", sa.Text, primary_key=True),
        sa.Column("disabled", sa.Integer, nullable=False),
    )
    op.create_table(
        "feature_setting_models",
        sa.Column("feature", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("model", sa.Text, sa.ForeignKey("models.name"), nullable=False),
        sa.ForeignKeyConstraint(["feature"], ["feature_settings.feature"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("feature", "position"),
        sa.UniqueConstraint("feature", "model"),
    )
    op.create_index("feature_setting_models_by_model", "feature_setting_models", ["model"])


def downgrade() -> None:
    op.drop_table("feature_setting_models")
    op.drop_table("feature_settings")
    op.drop_table("models")
    op.drop_table("config_version")
