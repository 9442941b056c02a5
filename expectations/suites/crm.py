"""CRM contacts, companies, deals and their contacts, owners and deleted contacts (HubSpot CRM
objects; every object property is a string)."""

from expectations.rules import (
    TableSuite, accepted, email_format, non_negative_text, not_before_floor, number_text, phone_format, present,
    timestamps, unique_in_load,
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
    # Deal stages are not checked here: pipelines other than `default` have stages of their own
    # (stg_crm__deals warns on unknown ones). An open deal's close date is expected, so may be future.
    TableSuite(
        source="crm", table="deals", key="id",
        columns={"id": "text", "updated_at": "timestamp"},
        rules=(
            present("id"),
            *timestamps("updated_at"),
            *timestamps("created_at"),
            not_before_floor("properties__closedate"),
            number_text("properties__amount"),
            non_negative_text("properties__amount"),
            unique_in_load("id", tolerate=0.0),
        ),
    ),
    TableSuite(
        source="crm", table="deal_contacts", key="id",
        columns={"id": "text", "deal_id": "text", "contact_id": "text"},
        rules=(present("deal_id"), present("contact_id"), unique_in_load("id", tolerate=0.0)),
    ),
    TableSuite(
        source="crm", table="owners", key="id",
        columns={"id": "text"},
        rules=(present("id"), email_format("email"), *timestamps("updated_at"), unique_in_load("id", tolerate=0.0)),
    ),
    # Deletions come in bursts: no band on the size of a load.
    TableSuite(
        source="crm", table="archived_contacts", key="id",
        columns={"id": "text", "archived_at": "timestamp"},
        rules=(present("id"), *timestamps("archived_at"), unique_in_load("id", tolerate=0.0)),
        row_count_band=None,
    ),
)
