"""Demo seeding on first start: a few hundred synthetic studies through the ingest path, when empty."""

from __future__ import annotations

DEMO_MAX_INSTANCES = 24
