"""Audit: every framegate event into ClickHouse, dashboards over it, and a static report."""
