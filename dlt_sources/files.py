"""Readers for landing folders, shared by the file-shaped sources.

Every row keeps where it came from (`_source_file`, `_source_line`), so a row can be traced
back to, and deleted from, the landing file it arrived in. A line that is not a JSON object
is not dropped and does not stop the load: it goes, with the reason, to the source's
`unparsed_lines` table, which the quality gates count (a warning, or a failed gate when more
than 1 % of a load's lines are unparseable).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import dlt
from dlt.common import json
from dlt.sources.filesystem import FileItemDict, filesystem

UNPARSED_TABLE = "unparsed_lines"
CHUNK_SIZE = 5_000


def landing_files(bucket_url: str, file_glob: str, *, name: str) -> Any:
    """Lists the landing folder's files, newest modification time as the incremental cursor.

    A re-run lists only files modified after the last loaded one, so dropping a new file
    in the folder loads just that file.
    """
    files = filesystem(
        bucket_url=bucket_url,
        file_glob=file_glob,
        incremental=dlt.sources.incremental("modification_date", row_order="asc"),
    )
    return files.with_name(name)


UNPARSED_HINTS = dlt.mark.make_hints(
    table_name=UNPARSED_TABLE,
    write_disposition="append",
    primary_key=["source_file", "source_line"],
    columns=[
        {"name": "source_file", "data_type": "text", "nullable": False},
        {"name": "source_line", "data_type": "bigint", "nullable": False},
        {"name": "line", "data_type": "text", "nullable": True},
        {"name": "error", "data_type": "text", "nullable": False},
    ],
)


def unparsed_line(file_name: str, line_number: int, line: bytes, error: str) -> Any:
    return dlt.mark.with_hints(
        {
            "source_file": file_name,
            "source_line": line_number,
            "line": line.decode("utf-8", errors="replace").rstrip("\n"),
            "error": error,
        },
        UNPARSED_HINTS,
        create_table_variant=True,
    )


def read_jsonl_records(items: Iterable[FileItemDict]) -> Iterator[Any]:
    """Yields the JSON objects of newline-delimited JSON files in chunks, with lineage columns."""
    for file_item in items:
        file_name = file_item["relative_path"]
        chunk: list[dict[str, Any]] = []
        with file_item.open(mode="rb") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loadb(line)
                except ValueError as exc:
                    yield unparsed_line(file_name, line_number, line, f"invalid JSON: {exc}")
                    continue
                if not isinstance(record, dict):
                    yield unparsed_line(
                        file_name, line_number, line, f"a JSON {type(record).__name__}, not an object"
                    )
                    continue
                record["_source_file"] = file_name
                record["_source_line"] = line_number
                chunk.append(record)
                if len(chunk) >= CHUNK_SIZE:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk
