"""DIMSE: C-MOVE destinations managed through the API (beside PACS_DIMSE_DESTINATIONS).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE dimse_destinations (
            ae_title    text PRIMARY KEY,
            host        text NOT NULL,
            port        integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
            description text NOT NULL DEFAULT '',
            created_at  timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS dimse_destinations")
