"""Web and app events (Segment spec): `raw/events/events` and its products child table."""

from expectations.rules import (
    CRITICAL, TableSuite, accepted, any_present, email_format, non_negative, phone_format, present,
    timestamps, unique_in_load,
)

SUITES = (
    TableSuite(
        source="events", table="events", key="coalesce(message_id, _dlt_id)",
        description="Segment calls as delivered; re-deliveries of a messageId are normal and deduplicated downstream.",
        columns={"message_id": "text", "type": "text", "timestamp": "timestamp", "received_at": "timestamp"},
        rules=(
            present("message_id", tolerate=0.01),
            any_present("user_id", "anonymous_id", name="user_or_anonymous_id_present", tolerate=0.02),
            # identify calls are a small share of events: the sample world plants a few percent here
            email_format("traits__email", tolerate=0.15),
            phone_format("traits__phone"),
            *timestamps("timestamp"),
            *timestamps("received_at"),
            non_negative("properties__revenue", tolerate=0.15),  # Order Completed only: sparse
            non_negative("properties__total"),
            non_negative("properties__price"),
            non_negative("properties__quantity"),
            accepted("type", ("page", "track", "identify", "screen", "group", "alias"), severity=CRITICAL),
            unique_in_load("message_id", tolerate=0.05),
        ),
    ),
    TableSuite(
        source="events", table="events__properties__products", parent="events", key="_dlt_id",
        description="`properties.products` of Order Completed calls.",
        columns={}, row_count_band=None,
        rules=(non_negative("price"), non_negative("quantity")),
    ),
)
