"""Analytics: an index on the pending counter deltas, so exact totals never scan the deltas table.

``counter_sum`` adds the pending deltas of one dimension (and key range) to the folded counters on every study
list page. Without an index that is a sequential scan of ``analytics_deltas``: cheap while it holds a few rows,
but after a bulk load has been folded the table keeps its size (dead rows, or empty pages until a VACUUM can
truncate them; autovacuum may be off or behind) and every page paid for scanning it (26 ms at 77 MB, seen at a
million studies). With the index the cost follows the pending rows, not the table's history.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX analytics_deltas_dimension_key ON analytics_deltas (dimension, key) INCLUDE (studies)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX analytics_deltas_dimension_key")
