"""Help-desk tickets (Zendesk-like exports) from a landing folder.

Tickets are mutable: a later export carries a newer snapshot of the same ticket, so the
`tickets` table is merged on `id`, keeping the snapshot with the newest `updated_at`.
"""

from __future__ import annotations

from typing import Any

import dlt

from dlt_sources.files import landing_files, read_jsonl_records
from dlt_sources.support.settings import TICKETS_GLOB


@dlt.source(name="support")
def support_source(bucket_url: str = dlt.config.value, file_glob: str = TICKETS_GLOB) -> Any:
    """The help-desk export folder."""
    files = landing_files(bucket_url, file_glob, name="ticket_files")

    @dlt.transformer(
        name="tickets",
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        primary_key="id",
        columns={"updated_at": {"dedup_sort": "desc"}},
    )
    def tickets(items: Any) -> Any:
        """Ticket snapshots; the newest per `id` wins within a load and replaces older rows."""
        yield from read_jsonl_records(items)

    return files | tickets
