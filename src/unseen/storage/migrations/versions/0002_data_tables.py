"""Data tables: the schema and size of each table a party stores.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_tables",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("columns_json", sa.Text, nullable=False),
        sa.Column("id_column", sa.String(128), nullable=True),
        sa.Column("label_column", sa.String(128), nullable=True),
        sa.Column("label_type", sa.String(16), nullable=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("data_tables")
