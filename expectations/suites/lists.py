"""Uploaded customer lists (CSV or Parquet with a YAML mapping), one row per member."""

from expectations.rules import (
    TableSuite, any_present, email_format, iso_date, phone_format, present, unique_in_load,
)

SUITES = (
    TableSuite(
        source="lists", table="list_members", key="member_key",
        # Uploads are small and irregular: no row-count band, and a tolerance that lets one bad
        # row in a list of ten through to quarantine without stopping the upload.
        description="Uploads are small and irregular: no row-count band.",
        columns={"member_key": "text", "list_name": "text"},
        row_count_band=None,
        rules=(
            present("member_key"),
            any_present("email", "phone", name="email_or_phone_present", tolerate=0.15),
            email_format("email", tolerate=0.15),
            phone_format("phone", country="country", tolerate=0.15),
            iso_date("date_of_birth", tolerate=0.15),
            unique_in_load("member_key", tolerate=0.0),
        ),
    ),
    TableSuite(
        source="lists", table="list_members__external_ids", parent="list_members", key="_dlt_id",
        columns={}, row_count_band=None,
        rules=(present("external_id"), present("system")),
    ),
)
