"""CRM contacts and companies (HubSpot CRM v3 objects; every property is a string)."""

from expectations.rules import (
    TableSuite, accepted, email_format, phone_format, present, timestamps, unique_in_load,
)

LIFECYCLE_STAGES = (
    "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
    "evangelist", "other",
)

SUITES = (
    TableSuite(
        source="crm", table="contacts", key="id",
        columns={"id": "text", "updated_at": "timestamp", "archived": "bool"},
        rules=(
            present("id"),
            email_format("properties__email"),
            phone_format("properties__phone", country="properties__country"),
            *timestamps("updated_at"),
            *timestamps("created_at"),
            accepted("properties__lifecyclestage", LIFECYCLE_STAGES),
            accepted("properties__hs_email_optout", ("true", "false")),
            unique_in_load("id", tolerate=0.0),
        ),
    ),
    TableSuite(
        source="crm", table="companies", key="id",
        columns={"id": "text", "updated_at": "timestamp"},
        rules=(present("id"), *timestamps("updated_at"), unique_in_load("id", tolerate=0.0)),
    ),
)
