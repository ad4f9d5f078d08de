"""Alerts the OSS Dagster daemon does not send: freshness SLOs, failed gates, failed runs,
volume anomalies and rejected drop files.

Detection sensors (``sensors.py``) decide *what* is wrong and record it in a durable store of
their own (``store.py``: one row per open alert, one outbox row per notification and sink), so
a breach is announced once across ticks and daemon restarts and its recovery is announced when
it clears. One dispatch sensor delivers the outbox to the configured sinks (``sinks.py``); a
sink that is down keeps its notifications pending until a later tick delivers them.
"""
