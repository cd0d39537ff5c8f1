"""Columns wide enough for what they hold, the same on SQLite and PostgreSQL.

SQLite stores any integer in an INTEGER column and any text in a VARCHAR(n); PostgreSQL does not. So:
- ``data_tables.rows`` and ``metrics.step`` become 64-bit (a table of 2**31 rows, a step counter past it);
- ``data_tables.name`` becomes VARCHAR(257), the longest name the table grammar allows (128 + "." + 128);
- ``data_tables.id_column`` and ``label_column`` become TEXT: they are a CSV header's column names;
- ``metrics.name`` becomes TEXT: a component names its metrics, prefixed by its namespaces.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("data_tables") as batch:
        batch.alter_column("name", existing_type=sa.String(256), type_=sa.String(257), existing_nullable=False)
        batch.alter_column("rows", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)
        batch.alter_column("id_column", existing_type=sa.String(128), type_=sa.Text(), existing_nullable=True)
        batch.alter_column("label_column", existing_type=sa.String(128), type_=sa.Text(), existing_nullable=True)
    with op.batch_alter_table("metrics") as batch:
        batch.alter_column("name", existing_type=sa.String(128), type_=sa.Text(), existing_nullable=False)
        batch.alter_column("step", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=True)


def downgrade() -> None:
    """Back to 0003's types; a value that no longer fits (a table name of 257 characters, 2**31 rows or more,
    a column or metric name over 128 characters) makes PostgreSQL refuse the downgrade rather than cut it."""
    with op.batch_alter_table("metrics") as batch:
        batch.alter_column("step", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=True)
        batch.alter_column("name", existing_type=sa.Text(), type_=sa.String(128), existing_nullable=False)
    with op.batch_alter_table("data_tables") as batch:
        batch.alter_column("label_column", existing_type=sa.Text(), type_=sa.String(128), existing_nullable=True)
        batch.alter_column("id_column", existing_type=sa.Text(), type_=sa.String(128), existing_nullable=True)
        batch.alter_column("rows", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
        batch.alter_column("name", existing_type=sa.String(257), type_=sa.String(256), existing_nullable=False)
