"""Reading and validating customer-list uploads and their YAML column mappings."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import yaml

from dlt_sources.lists.settings import (
    CONSENT_CHANNELS,
    FIELD_TYPES,
    KEYED_TYPES,
    MAPPING_KEYS,
    MAPPING_SUFFIXES,
)

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class ListUploadError(ValueError):
    """A customer-list file or its mapping is unusable. The message names the file and column."""


@dataclass(frozen=True)
class ListMapping:
    """A validated mapping of a list file's columns to identifier and trait types."""

    name: str
    key: str | None
    fields: dict[str, str] = field(default_factory=dict)  # column -> field type
    external_ids: dict[str, str] = field(default_factory=dict)  # column -> system
    traits: dict[str, str] = field(default_factory=dict)  # column -> trait name
    consents: dict[str, str] = field(default_factory=dict)  # column -> channel

    @property
    def columns(self) -> set[str]:
        return set(self.fields) | set(self.external_ids) | set(self.traits) | set(self.consents)


def mapping_path_candidates(data_path: str) -> list[str]:
    stem = str(PurePosixPath(data_path).with_suffix(""))
    return [stem + suffix for suffix in MAPPING_SUFFIXES]


def parse_mapping(text: str, *, mapping_file: str, data_file: str) -> ListMapping:
    """Validates a mapping document. Errors name the mapping file and the offending entry."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ListUploadError(f"{mapping_file}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ListUploadError(f"{mapping_file}: expected a mapping with `columns`, got {type(doc).__name__}")
    unknown = sorted(set(doc) - set(MAPPING_KEYS))
    if unknown:
        raise ListUploadError(
            f"{mapping_file}: unknown key(s) {unknown}; allowed: {list(MAPPING_KEYS)}"
        )
    default_name = re.sub(r"[^a-z0-9_]+", "_", PurePosixPath(data_file).stem.lower()).strip("_")
    name = doc.get("name") or default_name
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ListUploadError(
            f"{mapping_file}: list name {name!r} must be lower-case letters, digits and underscores"
        )
    columns = doc.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise ListUploadError(f"{mapping_file}: `columns` must map the file's column names to types")
    fields: dict[str, str] = {}
    keyed: dict[str, dict[str, str]] = {kind: {} for kind in KEYED_TYPES}
    for column, spec in columns.items():
        column = str(column)
        if isinstance(spec, str):
            if spec not in FIELD_TYPES:
                raise ListUploadError(
                    f"{mapping_file}: column {column!r} has unknown type {spec!r}; "
                    f"allowed: {list(FIELD_TYPES)} or one of {[f'{{{k}: ...}}' for k in KEYED_TYPES]}"
                )
            taken = [other for other, other_spec in fields.items() if other_spec == spec]
            if taken:
                raise ListUploadError(
                    f"{mapping_file}: columns {taken[0]!r} and {column!r} are both mapped to {spec!r}"
                )
            fields[column] = spec
        elif isinstance(spec, dict) and len(spec) == 1:
            ((kind, value),) = spec.items()
            if kind not in KEYED_TYPES:
                raise ListUploadError(
                    f"{mapping_file}: column {column!r} has unknown type {kind!r}; allowed keyed types: {list(KEYED_TYPES)}"
                )
            if not isinstance(value, str) or not NAME_PATTERN.match(value):
                raise ListUploadError(
                    f"{mapping_file}: column {column!r}: {kind} name {value!r} must be lower-case letters, digits and underscores"
                )
            if kind == "consent" and value not in CONSENT_CHANNELS:
                raise ListUploadError(
                    f"{mapping_file}: column {column!r}: consent channel {value!r} is not one of {list(CONSENT_CHANNELS)}"
                )
            keyed[kind][column] = value
        else:
            raise ListUploadError(
                f"{mapping_file}: column {column!r} must map to a type name or a one-key mapping like {{trait: name}}, got {spec!r}"
            )
    mapping = ListMapping(
        name=name,
        key=None,
        fields=fields,
        external_ids=keyed["external_id"],
        traits=keyed["trait"],
        consents=keyed["consent"],
    )
    key = doc.get("key")
    if key is None:
        return mapping
    if str(key) not in mapping.columns:
        raise ListUploadError(f"{mapping_file}: key column {key!r} is not one of the mapped columns")
    return dataclasses.replace(mapping, key=str(key))


def check_columns(mapping: ListMapping, header: list[str], *, data_file: str, mapping_file: str) -> None:
    missing = [column for column in mapping.columns if column not in header]
    if missing:
        raise ListUploadError(
            f"{data_file}: column(s) {missing} named in {mapping_file} are not in the file (it has {header})"
        )


def _blank_to_none(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    return str(value)


def member_rows(
    mapping: ListMapping, rows: Iterator[tuple[int, dict[str, Any]]], *, data_file: str
) -> Iterator[dict[str, Any]]:
    """Turns raw rows into `list_members` rows: identifiers in named columns, the rest kept."""
    seen_keys: dict[str, int] = {}
    mapped = mapping.columns
    for row_number, row in rows:
        if mapping.key:
            key_value = _blank_to_none(row.get(mapping.key))
            if key_value is None:
                raise ListUploadError(
                    f"{data_file}: row {row_number} has no value in key column {mapping.key!r}"
                )
            if key_value in seen_keys:
                raise ListUploadError(
                    f"{data_file}: key column {mapping.key!r} value {key_value!r} repeats "
                    f"(rows {seen_keys[key_value]} and {row_number}); a key must identify one row"
                )
            seen_keys[key_value] = row_number
            member_key = f"{mapping.name}:{key_value}"
        else:
            member_key = f"{mapping.name}:row{row_number}"
        member: dict[str, Any] = {
            "member_key": member_key,
            "list_name": mapping.name,
            "source_row": row_number,
            "_source_file": data_file,
        }
        for column, field_type in mapping.fields.items():
            member[field_type] = _blank_to_none(row.get(column))
        member["external_ids"] = [
            {"system": system, "external_id": value}
            for column, system in mapping.external_ids.items()
            if (value := _blank_to_none(row.get(column))) is not None
        ]
        member["traits"] = {name: _blank_to_none(row.get(column)) for column, name in mapping.traits.items()}
        member["consent"] = {channel: _blank_to_none(row.get(column)) for column, channel in mapping.consents.items()}
        member["unmapped"] = {
            column: _blank_to_none(value) for column, value in row.items() if column not in mapped
        } or None
        yield member


def read_csv_rows(raw: bytes, *, data_file: str) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ListUploadError(f"{data_file}: not UTF-8 text ({exc})") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ListUploadError(f"{data_file}: the file is empty (no header row)") from None
    except csv.Error as exc:
        raise ListUploadError(f"{data_file}: unreadable CSV header: {exc}") from exc
    header = [column.strip() for column in header]
    duplicates = sorted({column for column in header if header.count(column) > 1})
    if duplicates:
        raise ListUploadError(f"{data_file}: column(s) {duplicates} appear more than once in the header")

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        line = 1
        try:
            for line, values in enumerate(reader, start=2):
                if not any(value.strip() for value in values):
                    continue
                if len(values) != len(header):
                    raise ListUploadError(
                        f"{data_file}: row {line} has {len(values)} fields, the header has {len(header)}"
                    )
                yield line, dict(zip(header, values))
        except csv.Error as exc:
            raise ListUploadError(f"{data_file}: unreadable CSV near row {line}: {exc}") from exc

    return header, rows()


def read_parquet_rows(raw: bytes, *, data_file: str) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowInvalid, OSError) as exc:
        raise ListUploadError(f"{data_file}: not a readable Parquet file ({exc})") from exc
    header = list(table.column_names)

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for index, record in enumerate(table.to_pylist(), start=1):
            yield index, record

    return header, rows()
