"""Defaults of admission's tunable knobs, in one place for `Settings` and the decision core.

Plain numbers (no pydantic): the core reads them without importing the settings model, and the
settings fields use them as their defaults, so the two cannot disagree.
"""

HEARTBEAT_STALE_S = 15.0
COLD_START_S = 20.0
#: Service time assumed before any `done` event was observed; 0 = unknown (no wait check).
DEFAULT_SERVICE_S = 0.0
SERVICE_WINDOW = 20
RETRY_AFTER_S = 30
DEDUP_RETENTION_H = 168.0
