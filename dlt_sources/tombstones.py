"""Tombstones: later loads of a deleted person's records are dropped before they reach raw.

A deletion request leaves hashes behind, never values (the table `governance.tombstones`,
activations/governance/tombstones.py):

- an identifier hash, `identifier_hash(type, value)`: SHA-256 of `<type>:<normalized value>`,
  the identity graph's identifier key (`email:ana@example.com`, `phone:+14155550134`);
- a record hash, `record_hash(source, table, record_key)`: SHA-256 of
  `record:<source>/<table>/<record_key>`, the graph's name for a record (`customer_records`).

`REGISTRY` says, per source and raw table, where a record as the source yields it (nested
dicts, camelCase as received, or an Arrow table's flat columns) carries which identifier type,
its own record key and the parent records it hangs off (an order line off its order, a deal
association off its contact). Identifiers are normalized exactly as the staging models do
(`dlt_sources.identifiers`). dlt's nested tables (`events__properties__products`,
`tickets__tags`, `list_members__external_ids`) come from a record's nested lists and are
dropped with it.

`drop_tombstoned(source, hashes, counter)` adds a step to every resource of a dlt source that
drops each record matching a tombstoned identifier or record key, or referencing a tombstoned
parent, and counts the drops per table (counts only, never values). Dict records are checked
one by one; Arrow tables (the commerce source) and pandas frames are filtered vectorised, each
distinct value normalized and hashed once.

`scrub_landing_file(path, source, hashes)` removes a person's lines from a landing file;
see its docstring for why a removed line becomes an empty line and the modification time is
kept.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlt.extract.items_transform import ItemTransform

from dlt_sources.identifiers import normalize_email, normalize_id, normalize_phone

# An identifier type is named as the identity graph names it (dbt var identity.identifier_types,
# the authority; activations.governance.tombstones checks a tombstone's type against it).
IDENTIFIER_TYPE = re.compile(r"^[a-z][a-z0-9_]*$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class TombstoneError(ValueError):
    """A tombstone, a source or a landing file the tombstones cannot handle; the message says which."""


def identifier_hash(identifier_type: str, normalized_value: str) -> str:
    """SHA-256 hex of `<type>:<value>`; the value as the identity graph holds it (normalized)."""
    if not IDENTIFIER_TYPE.match(identifier_type or ""):
        raise TombstoneError(f"an identifier type is a lower-case name like 'email', got {identifier_type!r}")
    if not normalized_value:
        raise TombstoneError(f"an empty {identifier_type} cannot be tombstoned")
    return hashlib.sha256(f"{identifier_type}:{normalized_value}".encode()).hexdigest()


def record_hash(source: str, table: str, record_key: str) -> str:
    """SHA-256 hex of `record:<source>/<table>/<record_key>` (the record key as `customer_records` has it)."""
    if (source, table) not in REGISTRY:
        raise TombstoneError(f"no raw table {source}/{table}; known: {', '.join(f'{s}/{t}' for s, t in REGISTRY)}")
    if record_key is None or str(record_key) == "":
        raise TombstoneError(f"an empty record key of {source}/{table} cannot be tombstoned")
    return hashlib.sha256(f"record:{source}/{table}/{record_key}".encode()).hexdigest()


def is_hash(value: str) -> bool:
    return isinstance(value, str) and bool(_HEX64.match(value))


# --- the registry ------------------------------------------------------------------------------

Path_ = tuple[str, ...]


@dataclass(frozen=True)
class IdentifierField:
    """Where a record carries one identifier type. `country`: the field a phone is read in."""

    identifier_type: str
    path: Path_
    country: Path_ | None = None


@dataclass(frozen=True)
class RecordRef:
    """A record key the record carries: its own, or a parent's (`source`/`table` name that record)."""

    source: str
    table: str
    path: Path_


@dataclass(frozen=True)
class RawTable:
    """What ties one raw table's records to a person."""

    source: str
    table: str
    identifiers: tuple[IdentifierField, ...] = ()
    keys: tuple[RecordRef, ...] = ()
    external_ids: Path_ | None = None  # a list of {system, external_id}: identifiers `external_id`

    @property
    def name(self) -> str:
        return f"{self.source}/{self.table}"

    @property
    def personal(self) -> bool:
        """False for a table that holds nobody's identifiers (companies, stores): nothing to filter."""
        return bool(self.identifiers or self.keys or self.external_ids)


def _id(identifier_type: str, *path: str, country: Path_ | None = None) -> IdentifierField:
    return IdentifierField(identifier_type, tuple(path), country)


def _key(source: str, table: str, *path: str) -> RecordRef:
    return RecordRef(source, table, tuple(path))


# The same fields and types as transform/macros/identity.sql identity_record_sources and the
# staging models (stg_<source>__<table>): paths are the records as received, before dlt
# flattens `traits.email` into `traits__email`.
REGISTRY: dict[tuple[str, str], RawTable] = {
    (t.source, t.table): t
    for t in (
        RawTable(
            "events", "events",
            identifiers=(
                _id("anonymous_id", "anonymousId"),
                _id("user_id", "userId"),
                _id("email", "traits", "email"),
                _id("phone", "traits", "phone"),
                _id("device_id", "context", "device", "id"),
            ),
            keys=(_key("events", "events", "messageId"),),
        ),
        RawTable(
            "crm", "contacts",
            identifiers=(
                _id("crm_contact_id", "id"),
                _id("email", "properties", "email"),
                _id("phone", "properties", "phone", country=("properties", "country")),
            ),
            keys=(_key("crm", "contacts", "id"),),
        ),
        RawTable(
            "crm", "archived_contacts",
            identifiers=(_id("crm_contact_id", "id"), _id("email", "properties", "email")),
            keys=(_key("crm", "contacts", "id"),),  # the same contact, deleted in the CRM
        ),
        RawTable("crm", "deal_contacts", keys=(_key("crm", "contacts", "contact_id"),)),
        RawTable("crm", "companies"),
        RawTable("crm", "deals"),
        RawTable("crm", "owners"),  # the CRM's users, not customers
        RawTable(
            "commerce", "customers",
            identifiers=(
                _id("loyalty_id", "loyalty_id"),
                _id("email", "email"),
                _id("phone", "phone", country=("country",)),
            ),
            keys=(_key("commerce", "customers", "loyalty_id"),),
        ),
        RawTable(
            "commerce", "orders",
            identifiers=(_id("loyalty_id", "loyalty_id"), _id("email", "email")),
            keys=(_key("commerce", "orders", "order_id"),),
        ),
        RawTable("commerce", "order_lines", keys=(_key("commerce", "orders", "order_id"),)),
        RawTable("commerce", "stores"),
        RawTable(
            "email", "email_events",
            identifiers=(_id("email", "email"), _id("email_subscriber_id", "subscriber_id")),
            keys=(_key("email", "email_events", "event_id"),),
        ),
        RawTable(
            "support", "tickets",
            identifiers=(_id("email", "requester", "email"), _id("phone", "requester", "phone")),
            keys=(_key("support", "tickets", "id"),),
        ),
        RawTable(
            "lists", "list_members",
            identifiers=(_id("email", "email"), _id("phone", "phone", country=("country",))),
            keys=(_key("lists", "list_members", "member_key"),),
            external_ids=("external_ids",),
        ),
    )
}


def raw_table(source: str, table: str) -> RawTable:
    try:
        return REGISTRY[(source, table)]
    except KeyError:
        known = ", ".join(f"{s}/{t}" for s, t in REGISTRY)
        raise TombstoneError(
            f"no tombstone registry entry for {source}/{table}: say in dlt_sources/tombstones.py REGISTRY where its "
            f"records carry identifiers (or that they carry none); known: {known}"
        ) from None


# --- reading records -----------------------------------------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake(name: str) -> str:
    """A key as dlt names its column (`anonymousId` -> `anonymous_id`)."""
    return _CAMEL.sub("_", name).lower()


def column_name(path: Path_) -> str:
    """The column dlt flattens a nested path into (`traits.email` -> `traits__email`)."""
    return "__".join(snake(part) for part in path)


def _lookup(record: Mapping[str, Any], path: Path_) -> Any:
    """The value at `path` in a record as received, or as dlt names it (snake_case, flattened)."""
    value: Any = record
    for part in path:
        if not isinstance(value, Mapping):
            value = None
            break
        value = value[part] if part in value else value.get(snake(part))
    if value is None and len(path) > 1:
        value = record.get(column_name(path))
    return value


def normalized(fld: IdentifierField, value: Any, country: Any = None, *, default_region: str = "US") -> str | None:
    """One field's value as the identity graph keeps it, or None when it is no identifier."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if fld.identifier_type == "email":
        return normalize_email(value)
    if fld.identifier_type == "phone":
        return normalize_phone(value, country, default_region=default_region)
    return normalize_id(value, lower=fld.identifier_type == "device_id")


def record_identifiers(
    source: str, table: str, record: Mapping[str, Any], *, default_region: str = "US"
) -> set[tuple[str, str]]:
    """The (type, normalized value) identifiers of one raw record as the source yields it."""
    spec = raw_table(source, table)
    found: set[tuple[str, str]] = set()
    for fld in spec.identifiers:
        country = _lookup(record, fld.country) if fld.country else None
        value = normalized(fld, _lookup(record, fld.path), country, default_region=default_region)
        if value:
            found.add((fld.identifier_type, value))
    if spec.external_ids:
        for entry in _lookup(record, spec.external_ids) or ():
            if not isinstance(entry, Mapping) or entry.get("system") is None:
                continue
            external = normalize_id(entry.get("external_id"))
            if external:
                found.add(("external_id", f"{str(entry['system']).lower()}:{external}"))
    return found


def record_keys(source: str, table: str, record: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    """The (source, table, record key) of the record itself and of the parents it references."""
    keys = set()
    for ref in raw_table(source, table).keys:
        value = _lookup(record, ref.path)
        if value is not None and not isinstance(value, (dict, list)) and str(value) != "":
            keys.add((ref.source, ref.table, str(value)))
    return keys


def record_hashes(source: str, table: str, record: Mapping[str, Any], *, default_region: str = "US") -> set[str]:
    """Every tombstone hash that would drop the record."""
    identifiers = record_identifiers(source, table, record, default_region=default_region)
    keys = record_keys(source, table, record)
    return {identifier_hash(t, v) for t, v in identifiers} | {record_hash(s, t, k) for s, t, k in keys}


def is_tombstoned(
    source: str, table: str, record: Mapping[str, Any], hashes: set[str] | frozenset[str], *, default_region: str = "US"
) -> bool:
    return bool(hashes) and not hashes.isdisjoint(record_hashes(source, table, record, default_region=default_region))


# --- the extract filter ---------------------------------------------------------------------------


@dataclass
class DropCounter:
    """Records dropped by tombstones, per raw table (`source/table`); counts only."""

    dropped: Counter = field(default_factory=Counter)
    # record hashes of the records dropped in this run, so their children loaded later in the
    # same run (an order line of a new order of a deleted person) go too; never persisted
    dropped_records: set[str] = field(default_factory=set)

    def add(self, spec: RawTable, count: int) -> None:
        if count:
            self.dropped[spec.name] += count

    def of(self, source: str, table: str) -> int:
        return self.dropped.get(f"{source}/{table}", 0)

    @property
    def total(self) -> int:
        return sum(self.dropped.values())


@dataclass(frozen=True)
class _Both:
    """Membership in either of two sets, without building their union."""

    first: frozenset[str] | set[str]
    second: set[str]

    def __contains__(self, value: object) -> bool:
        return value in self.first or value in self.second

    def __bool__(self) -> bool:
        return bool(self.first) or bool(self.second)

    def isdisjoint(self, values: Any) -> bool:
        values = set(values)
        return self.first.isdisjoint(values) and self.second.isdisjoint(values)


class TombstoneFilter(ItemTransform[Any]):
    """A dlt pipe step dropping tombstoned records of one raw table; it sits after the incremental
    step, so cursors still move past what it drops (a dropped record is not read again)."""

    placement_affinity = 1.05  # after dlt's incremental (1), before the add_limit step (1.1)

    def __init__(self, spec: RawTable, hashes: frozenset[str], counter: DropCounter, default_region: str) -> None:
        super().__init__(lambda item: item)
        self.spec = spec
        self.hashes = hashes
        self.counter = counter
        self.default_region = default_region

    def __call__(self, item: Any, meta: Any = None) -> Any:
        if isinstance(item, list):
            kept = [one for one in item if not self._drop(one)]
            self.counter.add(self.spec, len(item) - len(kept))
            return kept or None
        if isinstance(item, Mapping):
            if self._drop(item):
                self.counter.add(self.spec, 1)
                return None
            return item
        return self._filter_frame(item)

    def _hashes(self) -> Any:
        """The tombstones plus the keys of records dropped in this run (their children go too),
        looked up in both sets rather than in a union copied for every record."""
        return _Both(self.hashes, self.counter.dropped_records) if self.counter.dropped_records else self.hashes

    def _drop(self, record: Any) -> bool:
        if not isinstance(record, Mapping):
            return False
        spec = self.spec
        if not is_tombstoned(spec.source, spec.table, record, self._hashes(), default_region=self.default_region):
            return False
        for source, table, key in record_keys(spec.source, spec.table, record):
            if (source, table) == (spec.source, spec.table):
                self.counter.dropped_records.add(record_hash(source, table, key))
        return True

    def _filter_frame(self, item: Any) -> Any:
        import pyarrow as pa

        if isinstance(item, (pa.Table, pa.RecordBatch)):
            drop = tombstoned_rows(self.spec, item, self._hashes(), default_region=self.default_region)
            count = drop.true_count if drop is not None else 0
            self.counter.add(self.spec, count)
            if not count:
                return item
            import pyarrow.compute as pc

            self._remember(item.filter(drop))

            kept = item.filter(pc.invert(drop))
            return kept if kept.num_rows else None
        if type(item).__module__.startswith("pandas") and hasattr(item, "columns"):
            table = pa.Table.from_pandas(item, preserve_index=False)
            drop = tombstoned_rows(self.spec, table, self._hashes(), default_region=self.default_region)
            count = drop.true_count if drop is not None else 0
            self.counter.add(self.spec, count)
            if not count:
                return item
            self._remember(table.filter(drop))
            kept = item.loc[~drop.to_numpy(zero_copy_only=False)]
            return kept if len(kept) else None
        raise TombstoneError(
            f"{self.spec.name}: cannot check a {type(item).__name__} for tombstoned records "
            "(dicts, lists of dicts, Arrow tables and pandas frames are understood)"
        )


    def _remember(self, dropped: Any) -> None:
        """Keeps the record hashes of the dropped rows' own keys (for their children in this run)."""
        for ref in self.spec.keys:
            name = column_name(ref.path)
            if (ref.source, ref.table) == (self.spec.source, self.spec.table) and name in dropped.schema.names:
                for key in dropped.column(name).to_pylist():
                    if key is not None and str(key) != "":
                        self.counter.dropped_records.add(record_hash(ref.source, ref.table, str(key)))


def tombstoned_rows(spec: RawTable, table: Any, hashes: frozenset[str], *, default_region: str = "US") -> Any:
    """A boolean Arrow array, True where the row of an Arrow table is tombstoned (None: no column to check).

    Each distinct value (or phone and country pair) is normalized and hashed once; the rows are
    then picked with vectorised comparisons.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    names = set(table.schema.names)
    drop = None

    def either(mask: Any) -> None:
        nonlocal drop
        mask = pc.fill_null(mask, False)
        drop = mask if drop is None else pc.or_(drop, mask)

    def column(path: Path_) -> Any:
        name = column_name(path)
        return table.column(name) if name in names else None

    def matching(values: Any, to_hash: Callable[[Any], str | None]) -> list[Any]:
        return [v for v in pc.unique(values).to_pylist() if v is not None and to_hash(v) in hashes]

    for fld in spec.identifiers:
        values = column(fld.path)
        if values is None:
            continue
        countries = column(fld.country) if fld.country else None
        if countries is None:
            def id_hash(value: Any, fld: IdentifierField = fld) -> str | None:
                norm = normalized(fld, value, default_region=default_region)
                return identifier_hash(fld.identifier_type, norm) if norm else None

            bad = matching(values, id_hash)
            if bad:
                either(pc.is_in(values, value_set=pa.array(bad, type=values.type)))
            continue
        pairs = pa.table({"v": values, "c": countries}).group_by(["v", "c"]).aggregate([])
        for value, country in zip(pairs.column("v").to_pylist(), pairs.column("c").to_pylist()):
            norm = normalized(fld, value, country, default_region=default_region)
            if norm and identifier_hash(fld.identifier_type, norm) in hashes:
                same_country = pc.is_null(countries) if country is None else pc.equal(countries, country)
                either(pc.and_(pc.equal(values, value), same_country))
    for ref in spec.keys:
        values = column(ref.path)
        if values is None:
            continue
        text = pc.cast(values, pa.string())
        bad = matching(text, lambda v, ref=ref: record_hash(ref.source, ref.table, v) if v != "" else None)
        if bad:
            either(pc.is_in(text, value_set=pa.array(bad, type=pa.string())))
    if isinstance(drop, pa.ChunkedArray):
        drop = drop.combine_chunks() if drop.num_chunks else pa.array([], pa.bool_())
    return drop


def drop_tombstoned(source: Any, hashes: Iterable[str], counter: DropCounter, *, default_region: str = "US") -> Any:
    """Adds the tombstone filter to every resource of a dlt source; returns the source.

    Every resource must be in `REGISTRY` (a new table has to say where it carries identifiers,
    or that it carries none). With no hashes, nothing is added and loads cost nothing extra.
    """
    frozen = frozenset(hashes)
    bad = sorted(h for h in frozen if not is_hash(h))
    if bad:
        raise TombstoneError(f"{len(bad)} tombstone hash(es) are not SHA-256 hex digests (64 lower-case hex digits)")
    specs = {}
    for name, resource in source.resources.items():
        table = resource.table_name if isinstance(resource.table_name, str) else name
        specs[name] = raw_table(source.name, table)
    if not frozen:
        return source
    for name, resource in source.resources.items():
        if specs[name].personal:
            resource.add_step(TombstoneFilter(specs[name], frozen, counter, default_region))
    return source


# --- landing files --------------------------------------------------------------------------------

LANDING_TABLES = {"events": "events", "email": "email_events", "support": "tickets", "lists": "list_members"}


def scrub_landing_file(path: str | Path, source: str, hashes: Iterable[str], *, default_region: str = "US") -> int:
    """Removes the tombstoned records' lines from one landing file; returns how many went.

    JSONL (events, email, support) and a customer list's CSV (its YAML mapping beside it names
    the columns). Each removed record becomes an empty line, so every other line keeps its bytes
    and its line number: `_source_line` of rows already loaded still points at the right line, a
    list without a key column keeps its `row<n>` member keys, and the readers skip empty lines
    as they always did. Lines that are not JSON objects are kept (they cannot be attributed).

    The file is rewritten atomically (a temporary file in the same folder, renamed over it) and
    keeps its modification time. The landing sources load incrementally on that time, with the
    file's URL as key: an unchanged time means a file already loaded is not listed again (a new
    time would reload every other line of it, duplicating append-only events), and a file not
    loaded yet still is, without the person. A file with nothing to remove is not touched.
    """
    path = Path(path)
    frozen = frozenset(hashes)
    if source not in LANDING_TABLES:
        raise TombstoneError(f"the {source} source is not read from landing files; landing sources: "
                             + ", ".join(LANDING_TABLES))
    spec = raw_table(source, LANDING_TABLES[source])
    if not path.is_file():
        raise TombstoneError(f"{path}: no such landing file")
    raw = path.read_bytes()
    suffix = path.suffix.lower()
    if source == "lists":
        if suffix != ".csv":
            raise TombstoneError(
                f"{path}: only CSV customer lists can be scrubbed line by line (not {suffix or 'no suffix'})"
            )
        chunks = list(_scrubbed_csv(path, raw, spec, frozen, default_region))
    elif suffix == ".jsonl":
        chunks = list(_scrubbed_jsonl(raw, spec, frozen, default_region))
    else:
        raise TombstoneError(f"{path}: a {source} landing file must be .jsonl")
    removed = sum(1 for _, dropped in chunks if dropped)
    if removed:
        _replace_keeping_times(path, b"".join(chunk for chunk, _ in chunks))
    return removed


def _line_end(chunk: bytes) -> bytes:
    return b"\r\n" if chunk.endswith(b"\r\n") else b"\n" if chunk.endswith(b"\n") else b""


def _scrubbed_jsonl(raw: bytes, spec: RawTable, hashes: frozenset[str], region: str) -> Iterator[tuple[bytes, bool]]:
    from dlt.common import json

    for line in io.BytesIO(raw):
        record = None
        if line.strip():
            try:
                record = json.loadb(line)
            except ValueError:
                record = None
        if isinstance(record, dict) and is_tombstoned(spec.source, spec.table, record, hashes, default_region=region):
            yield _line_end(line), True
        else:
            yield line, False


def _csv_records(text: str) -> Iterator[str]:
    """The file's CSV records as written (a quoted field may span lines), line ends included."""
    pending = ""
    for line in re.findall(r"[^\n]*\n|[^\n]+$", text):
        pending += line
        if pending.count('"') % 2 == 0:
            yield pending
            pending = ""
    if pending:
        yield pending


def _scrubbed_csv(
    path: Path, raw: bytes, spec: RawTable, hashes: frozenset[str], region: str
) -> Iterator[tuple[bytes, bool]]:
    from dlt_sources.lists.helpers import (
        ListUploadError,
        check_columns,
        mapping_path_candidates,
        member_rows,
        parse_mapping,
    )

    mapping_file = next(
        (candidate for candidate in mapping_path_candidates(path.name) if (path.parent / candidate).is_file()), None
    )
    if mapping_file is None:
        raise TombstoneError(f"{path}: no column mapping beside it, so its identifier columns are unknown")
    bom = b"\xef\xbb\xbf" if raw.startswith(b"\xef\xbb\xbf") else b""
    try:
        text = raw[len(bom):].decode("utf-8")
        mapping = parse_mapping((path.parent / mapping_file).read_text("utf-8"), mapping_file=mapping_file,
                                data_file=path.name)
    except (UnicodeDecodeError, ListUploadError) as exc:
        raise TombstoneError(f"{path}: cannot be read as a customer list ({exc})") from exc
    records = _csv_records(text)
    header_text = next(records, None)
    if header_text is None:
        return
    yield bom + header_text.encode("utf-8"), False
    header = [column.strip() for column in next(csv.reader(io.StringIO(header_text, newline="")), [])]
    try:
        check_columns(mapping, header, data_file=path.name, mapping_file=mapping_file)
    except ListUploadError as exc:
        raise TombstoneError(str(exc)) from exc
    # `row_number` counts CSV records as the list reader does (blank ones too), from 2 after the header
    for row_number, chunk in enumerate(records, start=2):
        values = next(csv.reader(io.StringIO(chunk, newline="")), [])
        drop = False
        if any(value.strip() for value in values) and len(values) == len(header):
            member = next(member_rows(mapping, iter([(row_number, dict(zip(header, values)))]), data_file=path.name))
            drop = is_tombstoned(spec.source, spec.table, member, hashes, default_region=region)
        encoded = chunk.encode("utf-8")
        yield (_line_end(encoded), True) if drop else (encoded, False)


def _replace_keeping_times(path: Path, content: bytes) -> None:
    stat = path.stat()
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".scrub-tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(content)
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, stat.st_mode & 0o7777)
        os.utime(temp_name, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        os.replace(temp_name, path)
    except BaseException:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
        raise
