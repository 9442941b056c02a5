"""Support desk tickets (snapshots by `updated_at`) and their tags."""

from expectations.rules import (
    TableSuite, WARNING, accepted, email_format, phone_format, present, timestamps,
)

SUITES = (
    TableSuite(
        source="support", table="tickets", key="cast(id as varchar)",
        columns={"id": "bigint", "status": "text", "created_at": "timestamp", "updated_at": "timestamp"},
        rules=(
            present("id"),
            email_format("requester__email"),
            phone_format("requester__phone"),
            *timestamps("created_at"),
            *timestamps("updated_at"),
            accepted("status", ("new", "open", "pending", "hold", "solved", "closed")),
            accepted("priority", ("low", "normal", "high", "urgent")),
            accepted("channel", ("email", "web", "chat", "phone", "api")),
        ),
    ),
    TableSuite(
        source="support", table="tickets__tags", parent="tickets", key="_dlt_id",
        columns={}, row_count_band=None,
        rules=(present("value", severity=WARNING, tolerate=0.05, reason="blank_tag"),),
    ),
)
