"""Commerce and point-of-sale database: stores, loyalty customers, orders and their lines."""

from expectations.rules import (
    CRITICAL, TableSuite, accepted, email_format, non_negative, phone_format, present, timestamps,
    unique_in_load,
)

SUITES = (
    TableSuite(
        source="commerce", table="stores", key="store_id",
        columns={"store_id": "text", "updated_at": "timestamp"},
        rules=(present("store_id"), unique_in_load("store_id", tolerate=0.0)),
    ),
    TableSuite(
        source="commerce", table="customers", key="loyalty_id",
        columns={"loyalty_id": "text", "updated_at": "timestamp"},
        rules=(
            present("loyalty_id"),
            email_format("email"),
            phone_format("phone", country="country"),
            *timestamps("enrolled_at"),
            unique_in_load("loyalty_id", tolerate=0.0),
        ),
    ),
    TableSuite(
        source="commerce", table="orders", key="order_id",
        columns={"order_id": "text", "channel": "text", "total_amount": "decimal", "updated_at": "timestamp"},
        rules=(
            present("order_id"),
            email_format("email"),
            non_negative("total_amount"),
            non_negative("subtotal_amount"),
            non_negative("tax_amount"),
            *timestamps("ordered_at"),
            accepted("channel", ("web", "pos"), severity=CRITICAL),
            accepted("status", ("completed", "refunded", "cancelled")),
            accepted("currency", ("USD", "GBP", "CAD", "EUR")),
            unique_in_load("order_id", tolerate=0.0),
        ),
    ),
    TableSuite(
        source="commerce", table="order_lines", key="line_id",
        columns={"line_id": "text", "order_id": "text", "quantity": "bigint", "updated_at": "timestamp"},
        rules=(
            present("line_id"),
            present("order_id"),
            non_negative("quantity"),
            non_negative("unit_price"),
            non_negative("line_amount"),
            unique_in_load("line_id", tolerate=0.0),
        ),
    ),
)
