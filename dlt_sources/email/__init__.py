"""Email-platform engagement (subscribed, sent, delivered, opened, clicked, bounced, unsubscribed).

Read from the platform's newline-delimited JSON exports in a landing folder into one
append-only `email_events` table keyed by the platform's `event_id`.
"""

from __future__ import annotations

from typing import Any

import dlt

from dlt_sources.email.settings import EMAIL_GLOB
from dlt_sources.files import landing_files, read_jsonl_records


@dlt.source(name="email")
def email_source(bucket_url: str = dlt.config.value, file_glob: str = EMAIL_GLOB) -> Any:
    """The email-platform export folder."""
    files = landing_files(bucket_url, file_glob, name="email_files")

    @dlt.transformer(
        name="email_events",
        write_disposition="append",
        primary_key="event_id",
        columns={"event_id": {"nullable": True}},
    )
    def email_events(items: Any) -> Any:
        """Engagement events as exported, with `_source_file` and `_source_line`."""
        yield from read_jsonl_records(items)

    return files | email_events
