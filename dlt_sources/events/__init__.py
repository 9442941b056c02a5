"""Web and app events in the Segment spec, read from newline-delimited JSON in a landing folder.

`page`, `track`, `identify` and `screen` calls land as received in one append-only `events`
table (nested `context`, `properties` and `traits` flattened by dlt, `properties.products`
in a child table). Nothing is deduplicated here: Segment delivers at least once, and the
clean zone deduplicates on `messageId`.
"""

from __future__ import annotations

from typing import Any

import dlt

from dlt_sources.events.settings import EVENTS_GLOB
from dlt_sources.files import landing_files, read_jsonl_records


@dlt.source(name="events")
def events_source(bucket_url: str = dlt.config.value, file_glob: str = EVENTS_GLOB) -> Any:
    """The events landing folder (`bucket_url`: a local path or any fsspec URL)."""
    files = landing_files(bucket_url, file_glob, name="event_files")

    @dlt.transformer(
        name="events",
        write_disposition="append",
        # messageId is Segment's event key. It is declared nullable: an event without one is
        # still loaded to raw (and quarantined by the gates) rather than failing the load.
        primary_key="message_id",
        columns={"message_id": {"nullable": True}},
    )
    def events(items: Any) -> Any:
        """Every event line of every new file, with `_source_file` and `_source_line`."""
        yield from read_jsonl_records(items)

    return files | events
