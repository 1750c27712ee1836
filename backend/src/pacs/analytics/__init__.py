"""Aggregates behind the portal's dashboard, read from counters the database maintains (migration 0003)."""

from pacs.analytics.service import AnalyticsService

__all__ = ["AnalyticsService"]
