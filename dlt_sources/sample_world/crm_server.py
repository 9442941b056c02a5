"""A local CRM that speaks the subset of the HubSpot CRM v3 API the platform uses.

The sample world's CRM: the demo and tests read it with dlt's `rest_api` source and (later)
write back to it, with the same client code that talks to HubSpot. Objects are stored in
SQLite as HubSpot holds them: string properties, `createdAt`/`updatedAt`, an `archived`
flag. Implemented for `contacts` and `companies`:

- `GET  /crm/v3/objects/{type}` list with `after` paging and `properties`
- `GET  /crm/v3/objects/{type}/{id}` (`idProperty=email` too)
- `POST /crm/v3/objects/{type}/search` filter groups, sorts, `after` paging (10,000 results at most)
- `POST /crm/v3/objects/{type}/batch/read|create|update|upsert` (100 inputs at most)
- `GET  /crm/v3/properties/{type}`

Bearer-token auth on every call (401 otherwise), an optional rate limit answered with 429 and
`Retry-After`, and HubSpot's error body (`status`, `message`, `correlationId`, `category`).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

OBJECT_TYPES = ("contacts", "companies")
LIST_LIMIT_MAX = 100
SEARCH_LIMIT_MAX = 200
SEARCH_RESULT_CEILING = 10_000
BATCH_MAX = 100
# Properties the store maintains itself, per object type, as HubSpot does.
MODIFIED_PROPERTIES = {"contacts": ("lastmodifieddate",), "companies": ("hs_lastmodifieddate", "lastmodifieddate")}
SYSTEM_PROPERTIES = ("createdate", "lastmodifieddate", "hs_lastmodifieddate", "hs_object_id")
DEFAULT_PROPERTIES = {
    "contacts": ("email", "firstname", "lastname", "createdate", "lastmodifieddate", "hs_object_id"),
    "companies": ("name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"),
}
PROPERTY_DEFINITIONS = {
    "contacts": {
        "email": ("Email", "string", "text"),
        "firstname": ("First Name", "string", "text"),
        "lastname": ("Last Name", "string", "text"),
        "phone": ("Phone Number", "string", "phonenumber"),
        "company": ("Company Name", "string", "text"),
        "jobtitle": ("Job Title", "string", "text"),
        "city": ("City", "string", "text"),
        "state": ("State/Region", "string", "text"),
        "zip": ("Postal Code", "string", "text"),
        "country": ("Country/Region", "string", "text"),
        "lifecyclestage": ("Lifecycle Stage", "enumeration", "radio"),
        "hubspot_owner_id": ("Contact owner", "enumeration", "select"),
        "hs_email_optout": ("Unsubscribed from all email", "bool", "booleancheckbox"),
        "associatedcompanyid": ("Primary Associated Company ID", "number", "number"),
        "createdate": ("Create Date", "datetime", "date"),
        "lastmodifieddate": ("Last Modified Date", "datetime", "date"),
        "hs_object_id": ("Record ID", "number", "number"),
    },
    "companies": {
        "name": ("Company name", "string", "text"),
        "domain": ("Company Domain Name", "string", "text"),
        "industry": ("Industry", "enumeration", "select"),
        "city": ("City", "string", "text"),
        "country": ("Country/Region", "string", "text"),
        "createdate": ("Create Date", "datetime", "date"),
        "lastmodifieddate": ("Last Modified Date", "datetime", "date"),
        "hs_lastmodifieddate": ("Last Modified Date", "datetime", "date"),
        "hs_object_id": ("Record ID", "number", "number"),
    },
}
DATETIME_PROPERTIES = {"createdate", "lastmodifieddate", "hs_lastmodifieddate"}
OPERATORS = ("EQ", "NEQ", "GT", "GTE", "LT", "LTE", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "IN", "NOT_IN")


class CrmApiError(Exception):
    """An error answered to the client in HubSpot's shape."""

    def __init__(self, status: int, message: str, category: str = "VALIDATION_ERROR", **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {
            "status": "error",
            "message": self.message,
            "correlationId": str(uuid.uuid4()),
            "category": self.category,
            **self.extra,
        }


def to_millis(value: Any) -> int:
    """Epoch milliseconds from epoch-millisecond strings/numbers or ISO-8601 text."""
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CrmApiError(400, f"{value!r} is not a valid datetime (epoch milliseconds or ISO-8601)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp() * 1000)


def iso_from_millis(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


class CrmStore:
    """The CRM's records in SQLite. Usable directly by tests to simulate edits in the CRM's UI."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        with self._connect() as con:
            con.execute("pragma journal_mode=wal")
            con.executescript(
                """
                create table if not exists objects (
                    object_type text not null,
                    id integer not null,
                    properties text not null,
                    created_at integer not null,
                    updated_at integer not null,
                    archived integer not null default 0,
                    email text,
                    primary key (object_type, id)
                );
                create index if not exists objects_by_modified on objects (object_type, updated_at, id);
                create index if not exists objects_by_email on objects (object_type, email);
                """
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            con = sqlite3.connect(self.path, timeout=30)
            try:
                with con:
                    yield con
            finally:
                con.close()

    # -- writing ---------------------------------------------------------------------------

    def seed_from_jsonl(self, seed_dir: Path | str) -> int:
        """Loads `contacts.jsonl` and `companies.jsonl` (HubSpot-shaped lines), keeping ids and times."""
        total = 0
        for object_type in OBJECT_TYPES:
            path = Path(seed_dir) / f"{object_type}.jsonl"
            if not path.exists():
                continue
            rows = []
            with path.open() as handle:
                for line in handle:
                    if line.strip():
                        record = json.loads(line)
                        properties = {k: v for k, v in record["properties"].items() if v is not None}
                        rows.append(
                            (
                                object_type,
                                int(record["id"]),
                                json.dumps(properties, separators=(",", ":")),
                                to_millis(record["createdAt"]),
                                to_millis(record["updatedAt"]),
                                int(bool(record.get("archived"))),
                                _email_key(properties.get("email")),
                            )
                        )
            with self._connect() as con:
                con.executemany("insert or replace into objects values (?, ?, ?, ?, ?, ?, ?)", rows)
            total += len(rows)
        return total

    def create(self, object_type: str, properties: dict[str, Any], *, now: int | None = None) -> dict[str, Any]:
        _check_type(object_type)
        _check_writable(object_type, properties)
        now = now or _now_millis()
        with self._connect() as con:
            next_id = (con.execute("select coalesce(max(id), 0) + 1 from objects").fetchone()[0])
            stored = _stamp(object_type, {k: _string(v) for k, v in properties.items()}, next_id, now, now)
            con.execute(
                "insert into objects values (?, ?, ?, ?, ?, 0, ?)",
                (object_type, next_id, json.dumps(stored), now, now, _email_key(stored.get("email"))),
            )
        return self.get(object_type, str(next_id))

    def update(self, object_type: str, object_id: str | int, properties: dict[str, Any], *, now: int | None = None) -> dict[str, Any]:
        """Sets properties (an empty string clears one) and bumps the modification date."""
        _check_type(object_type)
        _check_writable(object_type, properties)
        row = self._row(object_type, str(object_id))
        if row is None:
            raise CrmApiError(404, f"resource not found: {object_type} {object_id}", "OBJECT_NOT_FOUND")
        current = json.loads(row[1])
        for key, value in properties.items():
            if value in (None, ""):
                current.pop(key, None)
            else:
                current[key] = _string(value)
        now = max(now or _now_millis(), row[3] + 1)
        stored = _stamp(object_type, current, int(row[0]), row[2], now)
        with self._connect() as con:
            con.execute(
                "update objects set properties = ?, updated_at = ?, email = ? where object_type = ? and id = ?",
                (json.dumps(stored), now, _email_key(stored.get("email")), object_type, int(row[0])),
            )
        return self.get(object_type, str(object_id))

    def archive(self, object_type: str, object_id: str | int) -> None:
        """Archives (HubSpot's delete): the object leaves lists, searches and reads."""
        with self._connect() as con:
            con.execute(
                "update objects set archived = 1, updated_at = ? where object_type = ? and id = ?",
                (_now_millis(), object_type, int(object_id)),
            )

    # -- reading ---------------------------------------------------------------------------

    def _row(self, object_type: str, object_id: str, id_property: str | None = None) -> tuple | None:
        with self._connect() as con:
            if id_property in (None, "hs_object_id"):
                if not str(object_id).isdigit():
                    return None
                return con.execute(
                    "select id, properties, created_at, updated_at from objects "
                    "where object_type = ? and id = ? and archived = 0",
                    (object_type, int(object_id)),
                ).fetchone()
            if id_property != "email":
                raise CrmApiError(400, f"idProperty {id_property!r} is not a unique property of {object_type}")
            return con.execute(
                "select id, properties, created_at, updated_at from objects "
                "where object_type = ? and email = ? and archived = 0 order by id limit 1",
                (object_type, _email_key(object_id)),
            ).fetchone()

    def get(self, object_type: str, object_id: str, properties: Iterable[str] | None = None, id_property: str | None = None) -> dict[str, Any]:
        row = self._row(object_type, object_id, id_property)
        if row is None:
            raise CrmApiError(404, f"resource not found: {object_type} {object_id}", "OBJECT_NOT_FOUND")
        return _render(object_type, row, properties)

    def get_by_email(self, object_type: str, email: str) -> dict[str, Any] | None:
        row = self._row(object_type, email, "email")
        return None if row is None else _render(object_type, row, None, all_properties=True)

    def all_rows(self, object_type: str) -> list[tuple]:
        with self._connect() as con:
            return con.execute(
                "select id, properties, created_at, updated_at from objects where object_type = ? and archived = 0 order by id",
                (object_type,),
            ).fetchall()

    def list_page(self, object_type: str, after: int, limit: int) -> list[tuple]:
        with self._connect() as con:
            return con.execute(
                "select id, properties, created_at, updated_at from objects "
                "where object_type = ? and archived = 0 and id > ? order by id limit ?",
                (object_type, after, limit),
            ).fetchall()

    def bulk_insert(
        self, object_type: str, records: Iterable[dict[str, Any]], modified_at: int | None = None
    ) -> None:
        """Fast inserts for tests: each record is a property dict; ids and times are assigned.

        Records get one millisecond apart each, or all the same `modified_at` (epoch millis) when
        given, as after a bulk import.
        """
        now = _now_millis()
        with self._connect() as con:
            next_id = con.execute("select coalesce(max(id), 0) + 1 from objects").fetchone()[0]
            rows = []
            for offset, properties in enumerate(records):
                object_id = next_id + offset
                modified = now + offset if modified_at is None else modified_at
                stored = _stamp(object_type, {k: _string(v) for k, v in properties.items()}, object_id, now, modified)
                rows.append((object_type, object_id, json.dumps(stored), now, modified, 0, _email_key(stored.get("email"))))
            con.executemany("insert into objects values (?, ?, ?, ?, ?, ?, ?)", rows)


def _now_millis() -> int:
    return int(time.time() * 1000)


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _email_key(email: Any) -> str | None:
    return str(email).strip().lower() if email else None


def _check_type(object_type: str) -> None:
    if object_type not in OBJECT_TYPES:
        raise CrmApiError(400, f"Unable to infer object type from: {object_type}", "VALIDATION_ERROR")


def _check_writable(object_type: str, properties: Any) -> None:
    if not isinstance(properties, dict):
        raise CrmApiError(400, "`properties` must be an object of property names to values")
    known = PROPERTY_DEFINITIONS[object_type]
    for name in properties:
        if name not in known:
            raise CrmApiError(400, f'Property "{name}" does not exist', "VALIDATION_ERROR")
        if name in SYSTEM_PROPERTIES:
            raise CrmApiError(400, f'Property "{name}" is read-only', "VALIDATION_ERROR")


def _stamp(object_type: str, properties: dict[str, Any], object_id: int, created: int, updated: int) -> dict[str, Any]:
    properties = dict(properties)
    properties["hs_object_id"] = str(object_id)
    properties["createdate"] = properties.get("createdate") or iso_from_millis(created)
    for name in MODIFIED_PROPERTIES[object_type]:
        properties[name] = iso_from_millis(updated)
    return properties


def _render(object_type: str, row: tuple, properties: Iterable[str] | None, *, all_properties: bool = False) -> dict[str, Any]:
    object_id, stored, created, updated = row
    stored = json.loads(stored)
    wanted = set(stored) if all_properties else set(properties or DEFAULT_PROPERTIES[object_type]) | {
        "createdate",
        "hs_object_id",
        MODIFIED_PROPERTIES[object_type][0],
    }
    return {
        "id": str(object_id),
        "properties": {name: stored.get(name) for name in sorted(wanted)},
        "createdAt": iso_from_millis(created),
        "updatedAt": iso_from_millis(updated),
        "archived": False,
    }


# -- search ------------------------------------------------------------------------------------


def _property_value(object_type: str, row: tuple, name: str) -> Any:
    if name in ("lastmodifieddate", "hs_lastmodifieddate"):
        return row[3]
    if name == "createdate":
        return row[2]
    if name == "hs_object_id":
        return row[0]
    return json.loads(row[1]).get(name)


def _comparable(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in DATETIME_PROPERTIES:
        return to_millis(value)
    if name == "hs_object_id":
        return int(value)
    return str(value).lower()


def _matches(object_type: str, row: tuple, flt: dict[str, Any]) -> bool:
    name = flt.get("propertyName")
    operator = flt.get("operator")
    if not name:
        raise CrmApiError(400, "each filter needs a propertyName")
    if operator not in OPERATORS:
        raise CrmApiError(400, f"operator {operator!r} is not one of {list(OPERATORS)}")
    actual = _comparable(name, _property_value(object_type, row, name))
    if operator == "HAS_PROPERTY":
        return actual not in (None, "")
    if operator == "NOT_HAS_PROPERTY":
        return actual in (None, "")
    if operator in ("IN", "NOT_IN"):
        values = flt.get("values")
        if not isinstance(values, list):
            raise CrmApiError(400, f"operator {operator} needs `values`, a list")
        found = actual in {_comparable(name, value) for value in values}
        return found if operator == "IN" else not found
    if "value" not in flt:
        raise CrmApiError(400, f"operator {operator} needs a `value`")
    expected = _comparable(name, flt["value"])
    if operator == "EQ":
        return actual == expected
    if operator == "NEQ":
        return actual != expected
    if actual is None:
        return False
    return {"GT": actual > expected, "GTE": actual >= expected, "LT": actual < expected, "LTE": actual <= expected}[operator]


def search(store: CrmStore, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
    limit = _int_field(body, "limit", 10)
    if not 1 <= limit <= SEARCH_LIMIT_MAX:
        raise CrmApiError(400, f"limit must be between 1 and {SEARCH_LIMIT_MAX}, got {limit}")
    after = _int_field(body, "after", 0)
    if after >= SEARCH_RESULT_CEILING:
        raise CrmApiError(
            400,
            f"after must be less than {SEARCH_RESULT_CEILING}: a search pages at most {SEARCH_RESULT_CEILING} results",
        )
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list):
        raise CrmApiError(400, "filterGroups must be a list")
    sorts = body.get("sorts") or []
    name, reverse = "hs_object_id", False
    if sorts:
        sort = sorts[0]
        if isinstance(sort, dict):
            name, reverse = sort.get("propertyName", name), sort.get("direction", "ASCENDING") == "DESCENDING"
        else:  # HubSpot also takes "propertyName" / "-propertyName"
            name, reverse = str(sort).lstrip("-"), str(sort).startswith("-")
    indexed = _indexed_search(store, object_type, groups, name, reverse, after, limit)
    if indexed is not None:
        total, page = indexed
    else:
        rows = [
            row
            for row in store.all_rows(object_type)
            if not groups or any(all(_matches(object_type, row, f) for f in group.get("filters", [])) for group in groups)
        ]

        def sort_key(row: tuple) -> tuple:
            value = _comparable(name, _property_value(object_type, row, name))
            return (value is None, value if value is not None else 0, row[0])

        rows.sort(key=sort_key, reverse=reverse)
        total, page = len(rows), rows[after : after + limit]
    result: dict[str, Any] = {
        "total": total,
        "results": [_render(object_type, row, body.get("properties")) for row in page],
    }
    if after + limit < total:
        result["paging"] = {"next": {"after": str(after + limit)}}
    return result


# Properties held in indexed columns, so the incremental searches the platform makes run in SQL.
INDEXED_COLUMNS = {
    "lastmodifieddate": "updated_at",
    "hs_lastmodifieddate": "updated_at",
    "createdate": "created_at",
    "hs_object_id": "id",
}
SQL_OPERATORS = {"EQ": "=", "NEQ": "!=", "GT": ">", "GTE": ">=", "LT": "<", "LTE": "<="}


def _indexed_search(
    store: CrmStore, object_type: str, groups: list, sort: str, reverse: bool, after: int, limit: int
) -> tuple[int, list[tuple]] | None:
    """Runs a one-group search over indexed properties in SQL; None when it needs the general path."""
    if len(groups) > 1 or sort not in INDEXED_COLUMNS:
        return None
    filters = groups[0].get("filters", []) if groups else []
    clauses, params = ["object_type = ?", "archived = 0"], [object_type]
    for flt in filters:
        column, operator = INDEXED_COLUMNS.get(flt.get("propertyName")), SQL_OPERATORS.get(flt.get("operator"))
        if column is None or operator is None or "value" not in flt:
            return None
        clauses.append(f"{column} {operator} ?")
        params.append(_comparable(flt["propertyName"], flt["value"]))
    where = " and ".join(clauses)
    direction = "desc" if reverse else "asc"
    with store._connect() as con:
        total = con.execute(f"select count(*) from objects where {where}", params).fetchone()[0]
        page = con.execute(
            f"select id, properties, created_at, updated_at from objects where {where} "
            f"order by {INDEXED_COLUMNS[sort]} {direction}, id {direction} limit ? offset ?",
            [*params, limit, after],
        ).fetchall()
    return total, page


def _int_field(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CrmApiError(400, f"{name} must be an integer, got {value!r}") from None


# -- batch ------------------------------------------------------------------------------------


def _inputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise CrmApiError(400, "`inputs` must be a list")
    if len(inputs) > BATCH_MAX:
        raise CrmApiError(400, f"at most {BATCH_MAX} inputs per batch, got {len(inputs)}")
    for index, item in enumerate(inputs):
        if not isinstance(item, dict):
            raise CrmApiError(400, f"inputs[{index}] must be an object")
    return inputs


def batch(store: CrmStore, object_type: str, action: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    inputs = _inputs(body)
    started = iso_from_millis(_now_millis())
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    if action == "read":
        id_property = body.get("idProperty")
        for item in inputs:
            try:
                results.append(store.get(object_type, str(item.get("id")), body.get("properties"), id_property))
            except CrmApiError as exc:
                if exc.status != 404:
                    raise
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND", "message": exc.message, "context": {"ids": [str(item.get("id"))]}})
    elif action == "create":
        for item in inputs:
            results.append(store.create(object_type, item.get("properties") or {}))
    elif action == "update":
        for item in inputs:
            row_id = item.get("id")
            if item.get("idProperty") == "email":
                found = store.get_by_email(object_type, str(row_id))
                if found is None:
                    errors.append({"status": "error", "category": "OBJECT_NOT_FOUND", "message": f"no {object_type} with email {row_id}"})
                    continue
                row_id = found["id"]
            try:
                results.append(store.update(object_type, str(row_id), item.get("properties") or {}))
            except CrmApiError as exc:
                if exc.status != 404:
                    raise
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND", "message": exc.message, "context": {"ids": [str(row_id)]}})
    elif action == "upsert":
        for index, item in enumerate(inputs):
            if item.get("idProperty") != "email" or not item.get("id"):
                raise CrmApiError(400, f"inputs[{index}]: upsert needs idProperty 'email' and an id (the email)")
            properties = dict(item.get("properties") or {})
            existing = store.get_by_email(object_type, str(item["id"]))
            if existing is None:
                properties.setdefault("email", item["id"])
                record = store.create(object_type, properties)
                results.append({**record, "new": True})
            else:
                record = store.update(object_type, existing["id"], properties)
                results.append({**record, "new": False})
    else:
        raise CrmApiError(404, f"unknown batch action {action!r}", "OBJECT_NOT_FOUND")
    body_out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": iso_from_millis(_now_millis())}
    if errors:
        body_out["numErrors"] = len(errors)
        body_out["errors"] = errors
        return 207, body_out
    return (201 if action in ("create", "upsert") else 200), body_out


# -- HTTP ---------------------------------------------------------------------------------------


class RateLimiter:
    """A rolling window of `max_requests` per `per_seconds`."""

    def __init__(self, max_requests: int, per_seconds: float) -> None:
        if max_requests < 1 or per_seconds <= 0:
            raise ValueError(f"a rate limit needs max_requests >= 1 and per_seconds > 0, got {max_requests}, {per_seconds}")
        self.max_requests = max_requests
        self.per_seconds = per_seconds
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def retry_after(self) -> float:
        """0 if the request may go ahead (and counts it), else seconds to wait."""
        with self._lock:
            now = time.monotonic()
            while self._times and now - self._times[0] >= self.per_seconds:
                self._times.popleft()
            if len(self._times) < self.max_requests:
                self._times.append(now)
                return 0.0
            return self.per_seconds - (now - self._times[0])


class _Handler(BaseHTTPRequestHandler):
    server: _CrmHttpServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        crm = self.server.crm
        crm.requests_served += 1
        try:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.headers.get("Authorization") != f"Bearer {crm.token}":
                raise CrmApiError(
                    401,
                    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "INVALID_AUTHENTICATION",
                )
            if crm.limiter is not None:
                wait = crm.limiter.retry_after()
                if wait > 0:
                    crm.rate_limited += 1
                    raise CrmApiError(
                        429,
                        "You have reached your secondly limit.",
                        "RATE_LIMITS",
                        policyName="SECONDLY",
                        retry_after=max(1, int(wait + 0.999)),
                    )
            body: dict[str, Any] = {}
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    raise CrmApiError(400, f"Invalid input JSON on line 1: {exc}") from None
                if not isinstance(body, dict):
                    raise CrmApiError(400, "the request body must be a JSON object")
            status, payload = self._route(method, body)
            self._send(status, payload)
        except CrmApiError as exc:
            headers = {}
            retry_after = exc.extra.pop("retry_after", None)
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
            self._send(exc.status, exc.body(), headers)

    def _route(self, method: str, body: dict[str, Any]) -> tuple[int, Any]:
        url = urlparse(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        parts = [part for part in url.path.split("/") if part]
        store = self.server.crm.store
        if parts[:3] == ["crm", "v3", "properties"] and len(parts) == 4 and method == "GET":
            _check_type(parts[3])
            return 200, {
                "results": [
                    {"name": name, "label": label, "type": kind, "fieldType": field_type, "groupName": f"{parts[3][:-1]}information"}
                    for name, (label, kind, field_type) in PROPERTY_DEFINITIONS[parts[3]].items()
                ]
            }
        if parts[:3] != ["crm", "v3", "objects"] or len(parts) < 4:
            raise CrmApiError(404, f"no route for {method} {url.path}", "OBJECT_NOT_FOUND")
        object_type = parts[3]
        _check_type(object_type)
        rest = parts[4:]
        properties = [p for p in query.get("properties", "").split(",") if p] or None
        if not rest and method == "GET":
            limit = _int_field(query, "limit", 10)
            if not 1 <= limit <= LIST_LIMIT_MAX:
                raise CrmApiError(400, f"limit must be between 1 and {LIST_LIMIT_MAX}, got {limit}")
            after = _int_field(query, "after", 0)
            rows = store.list_page(object_type, after, limit + 1)
            result: dict[str, Any] = {"results": [_render(object_type, row, properties) for row in rows[:limit]]}
            if len(rows) > limit:
                next_after = str(rows[limit - 1][0])
                result["paging"] = {
                    "next": {"after": next_after, "link": f"{self.server.crm.base_url}/crm/v3/objects/{object_type}?after={next_after}"}
                }
            return 200, result
        if not rest and method == "POST":
            return 201, store.create(object_type, body.get("properties") or {})
        if rest == ["search"] and method == "POST":
            return 200, search(store, object_type, body)
        if len(rest) == 2 and rest[0] == "batch" and method == "POST":
            return batch(store, object_type, rest[1], body)
        if len(rest) == 1 and method == "GET":
            return 200, store.get(object_type, rest[0], properties, query.get("idProperty"))
        if len(rest) == 1 and method == "PATCH":
            return 200, store.update(object_type, rest[0], body.get("properties") or {})
        raise CrmApiError(404, f"no route for {method} {url.path}", "OBJECT_NOT_FOUND")

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else None)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class _CrmHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    crm: CrmServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # a client that hung up (e.g. while backing off after a 429) is not a server error
        super().handle_error(request, client_address)


class CrmServer:
    """Serves a `CrmStore` over HTTP on a loopback address, in a background thread."""

    def __init__(
        self,
        db_path: Path | str,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: tuple[int, float] | None = None,
    ) -> None:
        if not ipaddress.ip_address(host if host != "localhost" else "127.0.0.1").is_loopback:
            raise ValueError(f"the local CRM serves loopback addresses only, not {host!r}")
        self.store = CrmStore(db_path)
        self.token = token
        self.limiter = RateLimiter(*rate_limit) if rate_limit else None
        self.requests_served = 0
        self.rate_limited = 0
        self._httpd = _CrmHttpServer((host, port), _Handler)
        self._httpd.crm = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> CrmServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="crm-server", daemon=True)
        self._thread.start()
        return self

    def wait(self) -> None:
        """Blocks until the server stops (or the process is interrupted)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> CrmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the local HubSpot-compatible CRM API.")
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--seed-dir", type=Path, help="seed a new store from contacts.jsonl/companies.jsonl")
    parser.add_argument("--token", required=True)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    if args.seed_dir and not args.db.exists():
        CrmStore(args.db).seed_from_jsonl(args.seed_dir)
    with CrmServer(args.db, token=args.token, port=args.port) as server:
        print(f"CRM API on {server.base_url}", flush=True)
        try:
            server.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    main()
