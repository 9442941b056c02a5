"""Uploaded customer lists: any CSV or Parquet file with a YAML column mapping beside it.

Drop `attendees.csv` and `attendees.yaml` in the lists landing folder. The mapping names
which columns hold which identifiers (email, phone, names, date of birth, address, external
ids of named systems) and which are free traits or consent. Every row becomes one
`list_members` row keyed by `member_key` (`<list>:<key column value>`); uploading a list
again replaces that list's members. A file whose mapping is missing, names an unknown type
or a column the file lacks, or that cannot be read, fails the load with an error naming the
file and the column; nothing loaded before is touched.
"""

from __future__ import annotations

from typing import Any

import dlt
from dlt.sources.filesystem import FileItemDict

from dlt_sources.files import landing_files
from dlt_sources.lists.helpers import (
    ListUploadError,
    check_columns,
    mapping_path_candidates,
    member_rows,
    parse_mapping,
    read_csv_rows,
    read_parquet_rows,
)
from dlt_sources.lists.settings import DATA_SUFFIXES, LIST_GLOB

__all__ = ["ListUploadError", "lists_source", "read_list_file"]

CHUNK_SIZE = 5_000


def read_list_file(file_item: FileItemDict) -> Any:
    """Validates one list file against its mapping and yields its member rows."""
    data_file = file_item["relative_path"]
    fs = file_item.fsspec
    base = file_item["file_url"][: -len(data_file)]
    mapping_file = None
    for candidate in mapping_path_candidates(data_file):
        if fs.exists(base + candidate):
            mapping_file = candidate
            break
    if mapping_file is None:
        raise ListUploadError(
            f"{data_file}: no column mapping beside it (expected {mapping_path_candidates(data_file)[0]})"
        )
    with fs.open(base + mapping_file, "rb") as handle:
        mapping = parse_mapping(
            handle.read().decode("utf-8"), mapping_file=mapping_file, data_file=data_file
        )
    try:
        raw = file_item.read_bytes()
    except OSError as exc:
        raise ListUploadError(f"{data_file}: cannot be read ({exc})") from exc
    reader = read_parquet_rows if data_file.lower().endswith(".parquet") else read_csv_rows
    header, rows = reader(raw, data_file=data_file)
    check_columns(mapping, header, data_file=data_file, mapping_file=mapping_file)
    yield from member_rows(mapping, rows, data_file=data_file)


@dlt.source(name="lists")
def lists_source(bucket_url: str = dlt.config.value, file_glob: str = LIST_GLOB) -> Any:
    """The customer-list landing folder."""
    files = landing_files(bucket_url, file_glob, name="list_files")

    @dlt.transformer(
        name="list_members",
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        primary_key="member_key",
        merge_key="list_name",
        columns={
            "traits": {"data_type": "json"},
            "consent": {"data_type": "json"},
            "unmapped": {"data_type": "json", "nullable": True},
        },
    )
    def list_members(items: Any) -> Any:
        """One row per list member; `external_ids` goes to the child table `list_members__external_ids`."""
        for file_item in items:
            if not file_item["relative_path"].lower().endswith(DATA_SUFFIXES):
                continue
            chunk = []
            for member in read_list_file(file_item):
                chunk.append(member)
                if len(chunk) >= CHUNK_SIZE:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk

    return files | list_members
