"""Email platform events: subscribes, sends, deliveries, opens, clicks, bounces, unsubscribes."""

from expectations.rules import (
    CRITICAL, TableSuite, accepted, any_present, email_format, present, timestamps, unique_in_load,
)

SUITES = (
    TableSuite(
        source="email", table="email_events", key="event_id",
        columns={"event_id": "text", "event_type": "text", "occurred_at": "timestamp"},
        rules=(
            present("event_id"),
            any_present("email", "subscriber_id", name="email_or_subscriber_id_present", tolerate=0.02),
            email_format("email"),
            *timestamps("occurred_at"),
            accepted("event_type", ("subscribed", "sent", "delivered", "opened", "clicked", "bounced", "unsubscribed",
                                    "complained"), severity=CRITICAL),
            accepted("bounce_type", ("soft", "hard")),
            unique_in_load("event_id", tolerate=0.01),
        ),
    ),
)
