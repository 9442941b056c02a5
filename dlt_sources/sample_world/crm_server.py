"""A local CRM that speaks the subset of the HubSpot CRM API the platform uses.

The sample world's CRM: the demo and tests read it with dlt's `rest_api` source and write back
to it, with the same client code that talks to HubSpot. Objects are stored in SQLite as
HubSpot holds them: string properties, `createdAt`/`updatedAt`, an `archived` flag and
`archivedAt`. Object types `contacts`, `companies` and `deals` (also addressed as `contact`,
`0-1`, `company`, `0-2`, `deal`, `0-3`):

- `GET    /crm/v3/objects/{type}` list with `after` paging and `properties`; `archived=true`
  lists archived objects only (with `archivedAt`)
- `GET    /crm/v3/objects/{type}/{id}` (`idProperty=email` too, `archived=true` for archived ones)
- `POST   /crm/v3/objects/{type}` create; `PATCH /crm/v3/objects/{type}/{id}` update (`idProperty=email` too)
- `DELETE /crm/v3/objects/{type}/{id}` archive (HubSpot's delete), 204
- `POST   /crm/v3/objects/contacts/gdpr-delete` `{"objectId", "idProperty"}` permanently deletes a
  contact (HubSpot's GDPR delete): gone from reads, lists and the archived list, with its
  associations; 204, or 404 when no contact has the id
- `POST   /crm/v3/objects/{type}/search` filter groups, sorts, `after` paging (10,000 results at most)
- `POST   /crm/v3/objects/{type}/batch/read|create|update|upsert` (100 inputs at most; ids not
  found answer 207 with `errors`), `POST .../batch/archive` (204)
- `GET    /crm/v3/properties/{type}`, `GET /crm/v3/properties/{type}/{name}`,
  `POST /crm/v3/properties/{type}` (custom properties; 409 when the name is taken),
  `GET|POST /crm/v3/properties/{type}/groups`, `GET .../groups/{name}` (property groups)
- `GET    /crm/v3/owners` (`limit`, `after`, `email`, `archived`), `GET /crm/v3/owners/{id}`
- `GET    /crm/v4/objects/{fromType}/{id}/associations/{toType}` (`limit`, `after`)
- `PUT    /crm/v4/objects/{fromType}/{id}/associations/default/{toType}/{toId}`
- `DELETE /crm/v4/objects/{fromType}/{id}/associations/{toType}/{toId}`

Writes accept the built-in properties and the custom properties defined so far, and refuse
others (`Property "x" does not exist`); values of typed properties (numbers, booleans, dates,
options) are checked as HubSpot checks them; a batch with one invalid input writes nothing. A
contact's email is unique (case-insensitive): creating another answers 409 `CONFLICT`, `Contact
already exists. Existing ID: n`. Changing an object's associations (or archiving
an associated object) bumps the modification date of the objects on both sides, as HubSpot
does when it recounts their associations.

Bearer-token auth on every call (401 otherwise), an optional rate limit answered with 429 and
`Retry-After`, HubSpot's error body (`status`, `message`, `correlationId`, `category`), and for
tests: `CrmServer.fail(...)` injects failures (a CRM going down mid-pull or mid-push) and
`CrmServer.requests` logs every call.
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
from dataclasses import dataclass
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlparse

OBJECT_TYPES = ("contacts", "companies", "deals")
OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3"}
OBJECT_TYPE_ALIASES = {
    **{name: name for name in OBJECT_TYPES},
    **{type_id: name for name, type_id in OBJECT_TYPE_IDS.items()},
    "contact": "contacts",
    "company": "companies",
    "deal": "deals",
}
# HubSpot's object names in messages ("Could not get some CONTACT objects").
OBJECT_LABELS = {"contacts": "CONTACT", "companies": "COMPANY", "deals": "DEAL"}
LIST_LIMIT_MAX = 100
SEARCH_LIMIT_MAX = 200
SEARCH_RESULT_CEILING = 10_000
BATCH_MAX = 100
ASSOCIATIONS_LIMIT_MAX = 500
OWNERS_LIMIT_MAX = 500
# Properties the store maintains itself, per object type, as HubSpot does.
MODIFIED_PROPERTIES = {
    "contacts": ("lastmodifieddate",),
    "companies": ("hs_lastmodifieddate", "lastmodifieddate"),
    "deals": ("hs_lastmodifieddate",),
}
SYSTEM_PROPERTIES = ("createdate", "lastmodifieddate", "hs_lastmodifieddate", "hs_object_id")
DEFAULT_PROPERTIES = {
    "contacts": ("email", "firstname", "lastname", "createdate", "lastmodifieddate", "hs_object_id"),
    "companies": ("name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"),
    "deals": ("dealname", "amount", "dealstage", "pipeline", "closedate", "createdate", "hs_lastmodifieddate", "hs_object_id"),
}
PROPERTY_GROUPS = {"contacts": "contactinformation", "companies": "companyinformation", "deals": "dealinformation"}
LIFECYCLE_STAGES = (
    "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist", "other",
)
# The stages of the `default` deal pipeline, in order.
DEAL_STAGES = (
    "appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin", "contractsent",
    "closedwon", "closedlost",
)
# name -> (label, type, fieldType[, option values])
PROPERTY_DEFINITIONS: dict[str, dict[str, tuple]] = {
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
        "lifecyclestage": ("Lifecycle Stage", "enumeration", "radio", LIFECYCLE_STAGES),
        "hubspot_owner_id": ("Contact owner", "enumeration", "select"),
        "hs_email_optout": ("Unsubscribed from all email", "bool", "booleancheckbox", ("true", "false")),
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
    "deals": {
        "dealname": ("Deal Name", "string", "text"),
        "amount": ("Amount", "number", "number"),
        "dealstage": ("Deal Stage", "enumeration", "radio", DEAL_STAGES),
        "pipeline": ("Pipeline", "enumeration", "select", ("default",)),
        "closedate": ("Close Date", "datetime", "date"),
        "hubspot_owner_id": ("Deal owner", "enumeration", "select"),
        "createdate": ("Create Date", "datetime", "date"),
        "hs_lastmodifieddate": ("Last Modified Date", "datetime", "date"),
        "hs_object_id": ("Record ID", "number", "number"),
    },
}
OPERATORS = ("EQ", "NEQ", "GT", "GTE", "LT", "LTE", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "IN", "NOT_IN")
# The field types HubSpot allows for each property type.
FIELD_TYPES = {
    "string": ("text", "textarea", "html", "phonenumber", "file", "calculation_equation"),
    "number": ("number", "calculation_equation"),
    "bool": ("booleancheckbox", "calculation_equation"),
    "enumeration": ("booleancheckbox", "checkbox", "radio", "select", "calculation_equation"),
    "date": ("date",),
    "datetime": ("date",),
    "phone_number": ("phonenumber",),
}
PROPERTY_NAME = re.compile(r"[a-z][a-z0-9_]{0,99}")
STRING_VALUE_MAX = 65_536
# HUBSPOT_DEFINED association type ids of the default (unlabeled) association, per direction.
DEFAULT_ASSOCIATION_TYPES = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
}
# The objects table's columns a row tuple carries, in order.
ROW = "id, properties, created_at, updated_at, archived, archived_at"


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
    if isinstance(value, (int, float)) and not isinstance(value, bool):
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


def object_type_of(name: str) -> str:
    """The canonical object type (`contacts`, ...) of a name, singular or type id; 400 otherwise."""
    try:
        return OBJECT_TYPE_ALIASES[name.lower()]
    except KeyError:
        raise CrmApiError(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR") from None


def _builtin_definitions(object_type: str) -> dict[str, dict[str, Any]]:
    out = {}
    for order, (name, spec) in enumerate(PROPERTY_DEFINITIONS[object_type].items()):
        label, kind, field_type, *rest = spec
        values = rest[0] if rest else ()
        out[name] = {
            "name": name,
            "label": label,
            "type": kind,
            "fieldType": field_type,
            "groupName": PROPERTY_GROUPS[object_type],
            "description": "",
            "options": [
                {"label": value, "value": value, "displayOrder": index, "hidden": False}
                for index, value in enumerate(values)
            ],
            "displayOrder": order,
            "calculated": False,
            "externalOptions": name == "hubspot_owner_id",
            "hasUniqueValue": name == "hs_object_id",
            "hidden": False,
            "hubspotDefined": True,
            "formField": name not in SYSTEM_PROPERTIES,
            "modificationMetadata": {
                "archivable": False,
                "readOnlyDefinition": True,
                "readOnlyValue": name in SYSTEM_PROPERTIES,
            },
            "archived": False,
        }
    return out


BUILTIN_DEFINITIONS = {object_type: _builtin_definitions(object_type) for object_type in OBJECT_TYPES}


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
                    archived_at integer,
                    primary key (object_type, id)
                );
                create index if not exists objects_by_modified on objects (object_type, updated_at, id);
                create index if not exists objects_by_email on objects (object_type, email);
                create table if not exists properties (
                    object_type text not null,
                    name text not null,
                    definition text not null,
                    created_at integer not null,
                    primary key (object_type, name)
                );
                create table if not exists associations (
                    from_type text not null,
                    from_id integer not null,
                    to_type text not null,
                    to_id integer not null,
                    type_id integer not null,
                    category text not null default 'HUBSPOT_DEFINED',
                    created_at integer not null,
                    primary key (from_type, from_id, to_type, to_id, type_id)
                );
                create table if not exists property_groups (
                    object_type text not null,
                    name text not null,
                    label text not null,
                    primary key (object_type, name)
                );
                create table if not exists owners (
                    id integer primary key,
                    email text,
                    first_name text,
                    last_name text,
                    user_id integer,
                    created_at integer not null,
                    updated_at integer not null,
                    archived integer not null default 0
                );
                """
            )
            # stores created before archiving was timed
            columns = {row[1] for row in con.execute("pragma table_info(objects)")}
            if "archived_at" not in columns:
                con.execute("alter table objects add column archived_at integer")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            con = sqlite3.connect(self.path, timeout=30)
            try:
                with con:
                    yield con
            finally:
                con.close()

    # -- seeding ---------------------------------------------------------------------------

    def seed_from_jsonl(self, seed_dir: Path | str) -> int:
        """Loads a seed folder, keeping ids and times; returns the objects loaded.

        `contacts.jsonl`, `companies.jsonl`, `deals.jsonl` (HubSpot-shaped objects),
        `owners.jsonl` (owners as `GET /crm/v3/owners` answers them) and `deal_contacts.jsonl`
        (`{"dealId": ..., "contactId": ...}`: default deal-contact associations). Missing
        files are skipped.
        """
        seed_dir = Path(seed_dir)
        total = 0
        for object_type in OBJECT_TYPES:
            path = seed_dir / f"{object_type}.jsonl"
            if not path.exists():
                continue
            rows = []
            for record in _read_jsonl(path):
                properties = {k: v for k, v in record["properties"].items() if v is not None}
                archived = bool(record.get("archived"))
                rows.append(
                    (
                        object_type,
                        int(record["id"]),
                        json.dumps(properties, separators=(",", ":")),
                        to_millis(record["createdAt"]),
                        to_millis(record["updatedAt"]),
                        int(archived),
                        _email_key(properties.get("email")),
                        to_millis(record.get("archivedAt") or record["updatedAt"]) if archived else None,
                    )
                )
            with self._connect() as con:
                con.executemany(f"insert or replace into objects ({_OBJECT_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            total += len(rows)
        owners = seed_dir / "owners.jsonl"
        if owners.exists():
            for owner in _read_jsonl(owners):
                self.add_owner(
                    owner["id"], owner.get("email"), owner.get("firstName"), owner.get("lastName"),
                    user_id=owner.get("userId"), created_at=owner.get("createdAt"), updated_at=owner.get("updatedAt"),
                    archived=bool(owner.get("archived")),
                )
        links = seed_dir / "deal_contacts.jsonl"
        if links.exists():
            with self._connect() as con:
                for link in _read_jsonl(links):
                    self._link(con, "deals", int(link["dealId"]), "contacts", int(link["contactId"]), 0)
        return total

    # -- properties ------------------------------------------------------------------------

    def property_groups(self, object_type: str) -> dict[str, dict[str, Any]]:
        """HubSpot's default group of the type, and those created."""
        with self._connect() as con:
            rows = con.execute("select name, label from property_groups where object_type = ? order by name",
                               (object_type,)).fetchall()
        default = PROPERTY_GROUPS[object_type]
        groups = {default: {"name": default, "label": default.replace("information", " information").title(),
                            "displayOrder": -1, "archived": False}}
        for index, (name, label) in enumerate(rows):
            groups[name] = {"name": name, "label": label, "displayOrder": index, "archived": False}
        return groups

    def create_property_group(self, object_type: str, name: str, label: str) -> dict[str, Any]:
        with self._connect() as con:
            con.execute("insert into property_groups values (?, ?, ?)", (object_type, name, label))
        return self.property_groups(object_type)[name]

    def create_property(
        self,
        object_type: str,
        name: str,
        label: str,
        type: str,  # noqa: A002 - HubSpot's name
        field_type: str,
        group_name: str,
        options: list[dict[str, Any]] | None = None,
        description: str = "",
        has_unique_value: bool = False,
        *,
        now: int | None = None,
    ) -> dict[str, Any]:
        """Defines a custom property (HubSpot's `POST /crm/v3/properties/{type}`); returns its definition."""
        object_type = object_type_of(object_type)
        definition = _property_definition(
            object_type, name, label, type, field_type, group_name, options, description, has_unique_value, now or _now_millis()
        )
        with self._connect() as con:
            if name in BUILTIN_DEFINITIONS[object_type] or con.execute(
                "select 1 from properties where object_type = ? and name = ?", (object_type, name)
            ).fetchone():
                raise CrmApiError(
                    409, f"A property named '{name}' already exists.", "OBJECT_ALREADY_EXISTS",
                    subCategory="PropertyValidationError.PROPERTY_EXISTS",
                )
            con.execute(
                "insert into properties values (?, ?, ?, ?)",
                (object_type, name, json.dumps(definition), _now_millis() if now is None else now),
            )
        return definition

    def property_definitions(self, object_type: str) -> dict[str, dict[str, Any]]:
        """Every property of the object type, built-in then custom, by name."""
        object_type = object_type_of(object_type)
        with self._connect() as con:
            custom = con.execute(
                "select definition from properties where object_type = ? order by created_at, name", (object_type,)
            ).fetchall()
        return {**BUILTIN_DEFINITIONS[object_type], **{d["name"]: d for d in (json.loads(row[0]) for row in custom)}}

    def property_definition(self, object_type: str, name: str) -> dict[str, Any]:
        object_type = object_type_of(object_type)
        builtin = BUILTIN_DEFINITIONS[object_type].get(name)
        if builtin is not None:
            return builtin
        with self._connect() as con:
            row = con.execute(
                "select definition from properties where object_type = ? and name = ?", (object_type, name)
            ).fetchone()
        if row is None:
            raise CrmApiError(404, f"Unable to find property {name} for object type {object_type}", "OBJECT_NOT_FOUND")
        return json.loads(row[0])

    def _custom_definitions(self, object_type: str, names: Iterable[str]) -> dict[str, dict[str, Any]]:
        wanted = [name for name in names if name not in BUILTIN_DEFINITIONS[object_type]]
        if not wanted:
            return {}
        with self._connect() as con:
            rows = con.execute(
                f"select definition from properties where object_type = ? and name in ({', '.join('?' * len(wanted))})",
                (object_type, *wanted),
            ).fetchall()
        return {d["name"]: d for d in (json.loads(row[0]) for row in rows)}

    def _property_types(self, object_type: str, names: Iterable[str]) -> dict[str, str]:
        definitions = {**BUILTIN_DEFINITIONS[object_type], **self._custom_definitions(object_type, names)}
        return {name: d["type"] for name, d in definitions.items()}

    def validate_properties(self, object_type: str, properties: Any) -> dict[str, str]:
        """The properties as stored (strings; "" clears one), or a 400 naming every problem."""
        if not isinstance(properties, dict):
            raise CrmApiError(400, "`properties` must be an object of property names to values")
        definitions = {**BUILTIN_DEFINITIONS[object_type], **self._custom_definitions(object_type, properties)}
        problems: list[dict[str, Any]] = []
        out: dict[str, str] = {}
        for name, value in properties.items():
            definition = definitions.get(name)
            if definition is None:
                problems.append(_problem(name, f'Property "{name}" does not exist', "PROPERTY_DOESNT_EXIST"))
                continue
            if name in SYSTEM_PROPERTIES:
                problems.append(_problem(name, f'Property "{name}" is read-only', "READ_ONLY_VALUE"))
                continue
            if value is None or value == "":
                out[name] = ""
                continue
            normalized, problem = _normalized_value(definition, value)
            if problem:
                problems.append(_problem(name, problem[1], problem[0]))
            else:
                out[name] = normalized
        if problems:
            raise CrmApiError(400, "; ".join(p["message"] for p in problems), "VALIDATION_ERROR", errors=problems)
        return out

    # -- objects: writing ------------------------------------------------------------------

    def create(self, object_type: str, properties: dict[str, Any], *, now: int | None = None) -> dict[str, Any]:
        object_type = object_type_of(object_type)
        values = {k: v for k, v in self.validate_properties(object_type, properties).items() if v != ""}
        now = now or _now_millis()
        with self._connect() as con:
            if object_type == "contacts" and values.get("email"):
                existing = con.execute(
                    "select id from objects where object_type = 'contacts' and email = ? and archived = 0 limit 1",
                    (_email_key(values["email"]),),
                ).fetchone()
                if existing:
                    raise CrmApiError(409, f"Contact already exists. Existing ID: {existing[0]}", "CONFLICT")
            next_id = con.execute("select coalesce(max(id), 0) + 1 from objects").fetchone()[0]
            stored = _stamp(object_type, values, next_id, now, now)
            con.execute(
                f"insert into objects ({_OBJECT_COLUMNS}) values (?, ?, ?, ?, ?, 0, ?, null)",
                (object_type, next_id, json.dumps(stored), now, now, _email_key(stored.get("email"))),
            )
        return self._written(object_type, next_id, values)

    def update(self, object_type: str, object_id: str | int, properties: dict[str, Any], *, now: int | None = None) -> dict[str, Any]:
        """Sets properties (an empty string clears one) and bumps the modification date."""
        object_type = object_type_of(object_type)
        values = self.validate_properties(object_type, properties)
        row = self._row(object_type, str(object_id))
        if row is None:
            raise CrmApiError(404, f"resource not found: {object_type} {object_id}", "OBJECT_NOT_FOUND")
        current = json.loads(row[1])
        for key, value in values.items():
            if value == "":
                current.pop(key, None)
            else:
                current[key] = value
        now = max(now or _now_millis(), row[3] + 1)
        stored = _stamp(object_type, current, int(row[0]), row[2], now)
        with self._connect() as con:
            con.execute(
                "update objects set properties = ?, updated_at = ?, email = ? where object_type = ? and id = ?",
                (json.dumps(stored), now, _email_key(stored.get("email")), object_type, int(row[0])),
            )
        return self._written(object_type, int(row[0]), values)

    def archive(self, object_type: str, object_id: str | int, *, now: int | None = None) -> bool:
        """Archives (HubSpot's delete): the object leaves lists, searches and reads, and is listed
        with `archived=true`. Returns whether it was live before."""
        object_type = object_type_of(object_type)
        if not str(object_id).isdigit():
            return False
        now = now or _now_millis()
        with self._connect() as con:
            changed = con.execute(
                "update objects set archived = 1, archived_at = ?, updated_at = max(updated_at, ?) "
                "where object_type = ? and id = ? and archived = 0",
                (now, now, object_type, int(object_id)),
            ).rowcount
            if changed:  # the objects associated with it lose an association: their dates move, as in HubSpot
                for to_type, to_id in con.execute(
                    "select distinct to_type, to_id from associations where from_type = ? and from_id = ?",
                    (object_type, int(object_id)),
                ).fetchall():
                    self._touch(con, to_type, to_id, now)
        return bool(changed)

    def gdpr_delete(self, object_id: str, *, id_property: str | None = None, now: int | None = None) -> bool:
        """Permanently deletes a contact, live or archived, and its associations (HubSpot's GDPR
        delete). Returns whether there was one."""
        with self._connect() as con:
            con.execute("pragma secure_delete = on")  # the deleted rows' bytes are overwritten too
            if id_property == "email":
                found = con.execute("select id from objects where object_type = 'contacts' and email = ?",
                                    (_email_key(object_id),)).fetchall()
            elif str(object_id).isdigit():
                found = con.execute("select id from objects where object_type = 'contacts' and id = ?",
                                    (int(object_id),)).fetchall()
            else:
                found = []
            now = now or _now_millis()
            for (contact_id,) in found:
                linked = con.execute(
                    "select distinct to_type, to_id from associations where from_type = 'contacts' and from_id = ?",
                    (contact_id,)).fetchall()
                con.execute("delete from associations where (from_type = 'contacts' and from_id = ?)"
                            " or (to_type = 'contacts' and to_id = ?)", (contact_id, contact_id))
                con.execute("delete from objects where object_type = 'contacts' and id = ?", (contact_id,))
                for to_type, to_id in linked:
                    self._touch(con, to_type, to_id, now)
        return bool(found)

    def _written(self, object_type: str, object_id: int, values: dict[str, str]) -> dict[str, Any]:
        """A written object as HubSpot answers a write: its default properties and those written."""
        row = self._row(object_type, str(object_id))
        assert row is not None
        return _render(object_type, row, [*DEFAULT_PROPERTIES[object_type], *values])

    # -- associations ----------------------------------------------------------------------

    def associate(
        self, from_type: str, from_id: str | int, to_type: str, to_id: str | int, *, now: int | None = None
    ) -> list[dict[str, Any]]:
        """Creates the default association both ways (HubSpot's `PUT .../associations/default/...`).

        Both objects' modification dates move when the association is new. Returns the
        association specs created, as the API answers them.
        """
        from_type, to_type = object_type_of(from_type), object_type_of(to_type)
        if (from_type, to_type) not in DEFAULT_ASSOCIATION_TYPES:
            raise CrmApiError(400, f"No default association type between {from_type} and {to_type}")
        for object_type, object_id in ((from_type, from_id), (to_type, to_id)):
            if self._row(object_type, str(object_id)) is None:
                raise CrmApiError(404, f"resource not found: {object_type} {object_id}", "OBJECT_NOT_FOUND")
        now = now or _now_millis()
        with self._connect() as con:
            if self._link(con, from_type, int(from_id), to_type, int(to_id), now):
                self._touch(con, from_type, int(from_id), now)
                self._touch(con, to_type, int(to_id), now)
        return [
            {
                "from": {"id": str(a_id)},
                "to": {"id": str(b_id)},
                "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": DEFAULT_ASSOCIATION_TYPES[(a, b)]},
            }
            for a, a_id, b, b_id in ((from_type, from_id, to_type, to_id), (to_type, to_id, from_type, from_id))
        ]

    def disassociate(self, from_type: str, from_id: str | int, to_type: str, to_id: str | int, *, now: int | None = None) -> bool:
        """Removes every association between two objects, both ways; returns whether there was one."""
        from_type, to_type = object_type_of(from_type), object_type_of(to_type)
        if not (str(from_id).isdigit() and str(to_id).isdigit()):
            return False
        now = now or _now_millis()
        with self._connect() as con:
            removed = con.execute(
                "delete from associations where (from_type = ? and from_id = ? and to_type = ? and to_id = ?) "
                "or (from_type = ? and from_id = ? and to_type = ? and to_id = ?)",
                (from_type, int(from_id), to_type, int(to_id), to_type, int(to_id), from_type, int(from_id)),
            ).rowcount
            if removed:
                self._touch(con, from_type, int(from_id), now)
                self._touch(con, to_type, int(to_id), now)
        return bool(removed)

    def associations(
        self, from_type: str, from_id: str | int, to_type: str, *, after: int = 0, limit: int = ASSOCIATIONS_LIMIT_MAX
    ) -> list[tuple[int, list[tuple[str, int]]]]:
        """(toObjectId, [(category, typeId)]) of the live objects associated, by id, after `after`."""
        from_type, to_type = object_type_of(from_type), object_type_of(to_type)
        if self._row(from_type, str(from_id)) is None:
            raise CrmApiError(404, f"resource not found: {from_type} {from_id}", "OBJECT_NOT_FOUND")
        with self._connect() as con:
            rows = con.execute(
                "with targets as (select distinct a.to_id from associations a join objects o "
                "on o.object_type = a.to_type and o.id = a.to_id and o.archived = 0 "
                "where a.from_type = ? and a.from_id = ? and a.to_type = ? and a.to_id > ? order by a.to_id limit ?) "
                "select a.to_id, a.category, a.type_id from associations a join targets t on t.to_id = a.to_id "
                "where a.from_type = ? and a.from_id = ? and a.to_type = ? order by a.to_id, a.type_id",
                (from_type, int(from_id), to_type, after, limit, from_type, int(from_id), to_type),
            ).fetchall()
        out: dict[int, list[tuple[str, int]]] = {}
        for to_id, category, type_id in rows:
            out.setdefault(to_id, []).append((category, type_id))
        return list(out.items())

    def _link(self, con: sqlite3.Connection, from_type: str, from_id: int, to_type: str, to_id: int, now: int) -> bool:
        added = 0
        for a, a_id, b, b_id in ((from_type, from_id, to_type, to_id), (to_type, to_id, from_type, from_id)):
            added += con.execute(
                "insert or ignore into associations values (?, ?, ?, ?, ?, 'HUBSPOT_DEFINED', ?)",
                (a, a_id, b, b_id, DEFAULT_ASSOCIATION_TYPES[(a, b)], now),
            ).rowcount
        return bool(added)

    def _touch(self, con: sqlite3.Connection, object_type: str, object_id: int, now: int) -> None:
        row = con.execute(
            "select properties, created_at, updated_at from objects where object_type = ? and id = ?", (object_type, object_id)
        ).fetchone()
        if row is None:
            return
        updated = max(now, row[2] + 1)
        stored = _stamp(object_type, json.loads(row[0]), object_id, row[1], updated)
        con.execute(
            "update objects set properties = ?, updated_at = ? where object_type = ? and id = ?",
            (json.dumps(stored), updated, object_type, object_id),
        )

    # -- owners ----------------------------------------------------------------------------

    def add_owner(
        self,
        owner_id: str | int,
        email: str | None,
        first_name: str | None = None,
        last_name: str | None = None,
        *,
        user_id: int | str | None = None,
        created_at: Any = None,
        updated_at: Any = None,
        archived: bool = False,
    ) -> dict[str, Any]:
        """Adds or replaces an owner (a CRM user records are assigned to); returns it as the API does."""
        now = _now_millis()
        created = to_millis(created_at) if created_at is not None else now
        updated = to_millis(updated_at) if updated_at is not None else created
        with self._connect() as con:
            con.execute(
                "insert or replace into owners values (?, ?, ?, ?, ?, ?, ?, ?)",
                (int(owner_id), email, first_name, last_name, None if user_id is None else int(user_id), created, updated, int(archived)),
            )
        return self.owner(str(owner_id), archived=archived)

    def owners_page(self, after: int, limit: int, *, email: str | None = None, archived: bool = False) -> list[tuple]:
        clauses, params = ["archived = ?", "id > ?"], [int(archived), after]
        if email:
            clauses.append("lower(email) = ?")
            params.append(email.strip().lower())
        with self._connect() as con:
            return con.execute(
                f"select * from owners where {' and '.join(clauses)} order by id limit ?", (*params, limit)
            ).fetchall()

    def owner(self, owner_id: str, *, id_property: str = "id", archived: bool = False) -> dict[str, Any]:
        column = {"id": "id", "userId": "user_id"}.get(id_property)
        if column is None:
            raise CrmApiError(400, f"idProperty must be id or userId, got {id_property!r}")
        row = None
        if str(owner_id).isdigit():
            with self._connect() as con:
                row = con.execute(
                    f"select * from owners where {column} = ? and archived = ?", (int(owner_id), int(archived))
                ).fetchone()
        if row is None:
            raise CrmApiError(404, f"resource not found: owner {owner_id}", "OBJECT_NOT_FOUND")
        return _render_owner(row)

    # -- objects: reading ------------------------------------------------------------------

    def _row(self, object_type: str, object_id: str, id_property: str | None = None, *, archived: bool = False) -> tuple | None:
        with self._connect() as con:
            if id_property in (None, "hs_object_id"):
                if not str(object_id).isdigit():
                    return None
                return con.execute(
                    f"select {ROW} from objects where object_type = ? and id = ? and archived = ?",
                    (object_type, int(object_id), int(archived)),
                ).fetchone()
            if id_property != "email" or object_type != "contacts":
                raise CrmApiError(400, f"idProperty {id_property!r} is not a unique property of {object_type}")
            return con.execute(
                f"select {ROW} from objects where object_type = ? and email = ? and archived = ? order by id limit 1",
                (object_type, _email_key(object_id), int(archived)),
            ).fetchone()

    def get(
        self,
        object_type: str,
        object_id: str,
        properties: Iterable[str] | None = None,
        id_property: str | None = None,
        *,
        archived: bool = False,
    ) -> dict[str, Any]:
        object_type = object_type_of(object_type)
        row = self._row(object_type, object_id, id_property, archived=archived)
        if row is None:
            raise CrmApiError(404, f"resource not found: {object_type} {object_id}", "OBJECT_NOT_FOUND")
        return _render(object_type, row, properties)

    def get_by_email(self, object_type: str, email: str) -> dict[str, Any] | None:
        object_type = object_type_of(object_type)
        row = self._row(object_type, email, "email")
        return None if row is None else _render(object_type, row, None, all_properties=True)

    def all_rows(self, object_type: str) -> list[tuple]:
        with self._connect() as con:
            return con.execute(
                f"select {ROW} from objects where object_type = ? and archived = 0 order by id", (object_type,)
            ).fetchall()

    def list_page(self, object_type: str, after: int, limit: int, *, archived: bool = False) -> list[tuple]:
        with self._connect() as con:
            return con.execute(
                f"select {ROW} from objects where object_type = ? and archived = ? and id > ? order by id limit ?",
                (object_type, int(archived), after, limit),
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
                rows.append((object_type, object_id, json.dumps(stored), now, modified, 0, _email_key(stored.get("email")), None))
            con.executemany(f"insert into objects ({_OBJECT_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?)", rows)


_OBJECT_COLUMNS = "object_type, id, properties, created_at, updated_at, archived, email, archived_at"


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _now_millis() -> int:
    return int(time.time() * 1000)


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _email_key(email: Any) -> str | None:
    return str(email).strip().lower() if email else None


def _problem(name: str, message: str, code: str) -> dict[str, Any]:
    return {"message": message, "code": code, "context": {"propertyName": [name]}}


def _normalized_value(definition: dict[str, Any], value: Any) -> tuple[str, tuple[str, str] | None]:
    """(stored text, None) or ("", (error code, message)) for a value of a property."""
    kind, text = definition["type"], _string(value).strip()
    if isinstance(value, (dict, list)):
        return "", ("INVALID_VALUE", f"{json.dumps(value)} is not a valid value for {definition['name']}")
    if kind == "number":
        try:
            float(text)
        except ValueError:
            return "", ("INVALID_LONG", f"{text} was not a valid number.")
        return text, None
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            return "", ("INVALID_BOOLEAN", f"{text} was not a valid boolean (true or false).")
        return text.lower(), None
    if kind in ("datetime", "date"):
        try:
            millis = to_millis(text)
        except CrmApiError:
            return "", ("INVALID_DATE", f"{text} was not a valid {kind} (epoch milliseconds or ISO-8601).")
        if kind == "date":
            if millis % 86_400_000:
                return "", ("INVALID_DATE", f"{text} is not at midnight UTC: a date property holds whole days.")
            return iso_from_millis(millis)[:10], None
        return iso_from_millis(millis), None
    if kind == "enumeration":
        allowed = {option["value"] for option in definition.get("options") or []}
        if allowed and not definition.get("externalOptions"):
            chosen = text.split(";") if definition["fieldType"] == "checkbox" else [text]
            unknown = [choice for choice in chosen if choice not in allowed]
            if unknown:
                return "", (
                    "INVALID_OPTION",
                    f"{unknown[0]} was not one of the allowed options: [{', '.join(sorted(allowed))}]",
                )
        return text, None
    if len(text) > STRING_VALUE_MAX:
        return "", ("INVALID_STRING", f"values of {definition['name']} are at most {STRING_VALUE_MAX} characters")
    return _string(value), None


def _property_definition(
    object_type: str,
    name: Any,
    label: Any,
    kind: Any,
    field_type: Any,
    group_name: Any,
    options: Any,
    description: Any,
    has_unique_value: Any,
    now: int,
) -> dict[str, Any]:
    """A custom property's definition as HubSpot returns it, or a 400 naming what is wrong."""
    if not isinstance(name, str) or not PROPERTY_NAME.fullmatch(name):
        raise CrmApiError(
            400,
            f"Invalid property name {name!r}: use lowercase letters, digits and underscores, starting with a letter (at most 100)",
        )
    if name.startswith("hs_"):
        raise CrmApiError(400, f"Invalid property name {name!r}: the hs_ prefix is reserved for HubSpot's properties")
    for field, value in (("label", label), ("groupName", group_name)):
        if not isinstance(value, str) or not value.strip():
            raise CrmApiError(400, f"`{field}` is required and must be a non-empty string")
    if kind not in FIELD_TYPES:
        raise CrmApiError(400, f"Invalid property type {kind!r}; expected one of {', '.join(FIELD_TYPES)}")
    if field_type not in FIELD_TYPES[kind]:
        raise CrmApiError(
            400, f"fieldType {field_type!r} is not valid for a {kind} property; expected one of {', '.join(FIELD_TYPES[kind])}"
        )
    if options is None:
        options = [{"label": "Yes", "value": "true"}, {"label": "No", "value": "false"}] if kind == "bool" else []
    if not isinstance(options, list) or not all(isinstance(o, dict) and str(o.get("value") or "") for o in options):
        raise CrmApiError(400, "`options` must be a list of objects with a label and a non-empty value")
    values = [str(o["value"]) for o in options]
    if len(set(values)) != len(values):
        raise CrmApiError(400, "option values must be unique")
    if kind == "enumeration" and not options:
        raise CrmApiError(400, "an enumeration property needs options")
    if kind not in ("enumeration", "bool") and options:
        raise CrmApiError(400, f"a {kind} property takes no options")
    stamp = iso_from_millis(now)
    return {
        "name": name,
        "label": label,
        "type": kind,
        "fieldType": field_type,
        "groupName": group_name,
        "description": str(description or ""),
        "options": [
            {
                "label": str(o.get("label") or o["value"]),
                "value": str(o["value"]),
                "displayOrder": int(o.get("displayOrder", index)),
                "hidden": bool(o.get("hidden", False)),
            }
            for index, o in enumerate(options)
        ],
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": bool(has_unique_value),
        "hidden": False,
        "formField": True,
        "modificationMetadata": {"archivable": True, "readOnlyDefinition": False, "readOnlyValue": False},
        "createdAt": stamp,
        "updatedAt": stamp,
        "archived": False,
    }


def _stamp(object_type: str, properties: dict[str, Any], object_id: int, created: int, updated: int) -> dict[str, Any]:
    properties = dict(properties)
    properties["hs_object_id"] = str(object_id)
    properties["createdate"] = properties.get("createdate") or iso_from_millis(created)
    for name in MODIFIED_PROPERTIES[object_type]:
        properties[name] = iso_from_millis(updated)
    return properties


def _render(object_type: str, row: tuple, properties: Iterable[str] | None, *, all_properties: bool = False) -> dict[str, Any]:
    object_id, stored, created, updated, archived, archived_at = row
    stored = json.loads(stored)
    wanted = set(stored) if all_properties else set(properties or DEFAULT_PROPERTIES[object_type]) | {
        "createdate",
        "hs_object_id",
        MODIFIED_PROPERTIES[object_type][0],
    }
    rendered: dict[str, Any] = {
        "id": str(object_id),
        "properties": {name: stored.get(name) for name in sorted(wanted)},
        "createdAt": iso_from_millis(created),
        "updatedAt": iso_from_millis(updated),
        "archived": bool(archived),
    }
    if archived:
        rendered["archivedAt"] = iso_from_millis(archived_at if archived_at is not None else updated)
    return rendered


def _render_owner(row: tuple) -> dict[str, Any]:
    owner_id, email, first_name, last_name, user_id, created, updated, archived = row
    return {
        "id": str(owner_id),
        "email": email,
        "type": "PERSON",
        "firstName": first_name,
        "lastName": last_name,
        "userId": user_id,
        "userIdIncludingInactive": user_id,
        "createdAt": iso_from_millis(created),
        "updatedAt": iso_from_millis(updated),
        "archived": bool(archived),
    }


# -- search ------------------------------------------------------------------------------------


def _property_value(row: tuple, name: str) -> Any:
    if name in ("lastmodifieddate", "hs_lastmodifieddate"):
        return row[3]
    if name == "createdate":
        return row[2]
    if name == "hs_object_id":
        return row[0]
    return json.loads(row[1]).get(name)


# Kinds of the properties the store keeps in columns, whatever the object type.
_SYSTEM_KINDS = {"lastmodifieddate": "datetime", "hs_lastmodifieddate": "datetime", "createdate": "datetime", "hs_object_id": "number"}


def _comparable(name: str, value: Any, kind: str | None = None, *, stored: bool = False) -> Any:
    """A value in the order a search compares it; a filter value that does not fit is a 400, a
    stored one that does not fit compares as missing."""
    if value is None:
        return None
    try:
        if name == "hs_object_id":
            return int(value)
        if kind in ("datetime", "date"):
            return to_millis(value)
        if kind == "number":
            return float(value)
    except (TypeError, ValueError, CrmApiError):
        if stored:
            return None
        raise CrmApiError(400, f"{value!r} is not a valid {kind} value for {name}") from None
    return str(value).lower()


def _matches(row: tuple, flt: dict[str, Any], kinds: dict[str, str]) -> bool:
    name = flt.get("propertyName")
    operator = flt.get("operator")
    if not name:
        raise CrmApiError(400, "each filter needs a propertyName")
    if operator not in OPERATORS:
        raise CrmApiError(400, f"operator {operator!r} is not one of {list(OPERATORS)}")
    kind = kinds.get(name)
    actual = _comparable(name, _property_value(row, name), kind, stored=True)
    if operator == "HAS_PROPERTY":
        return actual not in (None, "")
    if operator == "NOT_HAS_PROPERTY":
        return actual in (None, "")
    if operator in ("IN", "NOT_IN"):
        values = flt.get("values")
        if not isinstance(values, list):
            raise CrmApiError(400, f"operator {operator} needs `values`, a list")
        found = actual in {_comparable(name, value, kind) for value in values}
        return found if operator == "IN" else not found
    if "value" not in flt:
        raise CrmApiError(400, f"operator {operator} needs a `value`")
    expected = _comparable(name, flt["value"], kind)
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
        named = {name, *(f.get("propertyName") for g in groups for f in g.get("filters", []) if f.get("propertyName"))}
        kinds = {**_SYSTEM_KINDS, **store._property_types(object_type, named)}
        rows = [
            row
            for row in store.all_rows(object_type)
            if not groups or any(all(_matches(row, f, kinds) for f in group.get("filters", [])) for group in groups)
        ]

        def sort_key(row: tuple) -> tuple:
            value = _comparable(name, _property_value(row, name), kinds.get(name), stored=True)
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
        name = flt.get("propertyName")
        column, operator = INDEXED_COLUMNS.get(name), SQL_OPERATORS.get(flt.get("operator"))
        if column is None or operator is None or "value" not in flt:
            return None
        clauses.append(f"{column} {operator} ?")
        params.append(_comparable(name, flt["value"], _SYSTEM_KINDS[name]))
    where = " and ".join(clauses)
    direction = "desc" if reverse else "asc"
    with store._connect() as con:
        total = con.execute(f"select count(*) from objects where {where}", params).fetchone()[0]
        page = con.execute(
            f"select {ROW} from objects where {where} "
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


def _flag(query: dict[str, str], name: str) -> bool:
    value = query.get(name, "false").strip().lower()
    if value not in ("true", "false"):
        raise CrmApiError(400, f"{name} must be true or false, got {value!r}")
    return value == "true"


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


def _not_found(object_type: str, verb: str, ids: list[str]) -> dict[str, Any]:
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": f"Could not {verb} some {OBJECT_LABELS[object_type]} objects, they may be deleted or not exist. "
        "Check that ids are valid.",
        "context": {"ids": ids},
    }


def _no_duplicates(inputs: list[dict[str, Any]]) -> None:
    keys = [str(item.get("id")).strip().lower() for item in inputs if item.get("id") is not None]
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    if duplicated:
        raise CrmApiError(400, f"Duplicate IDs found in batch input: {duplicated}. IDs must be unique")


def batch(store: CrmStore, object_type: str, action: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
    """A batch call. Inputs are checked first, so a batch with an invalid input writes nothing.

    Ids not found (or archived) do not fail the others: the answer is 207 with the results and one
    `OBJECT_NOT_FOUND` error listing them, as HubSpot answers.
    """
    inputs = _inputs(body)
    started = iso_from_millis(_now_millis())
    results: list[dict[str, Any]] = []
    missing: list[str] = []
    verb = "get"
    if action == "read":
        id_property = body.get("idProperty")
        for item in inputs:
            try:
                results.append(store.get(object_type, str(item.get("id")), body.get("properties"), id_property))
            except CrmApiError as exc:
                if exc.status != 404:
                    raise
                missing.append(str(item.get("id")))
    elif action == "create":
        for item in inputs:
            store.validate_properties(object_type, item.get("properties") or {})
        if object_type == "contacts":
            emails = [_email_key((item.get("properties") or {}).get("email")) for item in inputs]
            repeated = sorted({e for e in emails if e and emails.count(e) > 1})
            if repeated:
                raise CrmApiError(400, f"Duplicate emails found in batch input: {repeated}")
            for email in filter(None, emails):
                existing = store.get_by_email("contacts", email)
                if existing is not None:
                    raise CrmApiError(409, f"Contact already exists. Existing ID: {existing['id']}", "CONFLICT")
        for item in inputs:
            results.append(store.create(object_type, item.get("properties") or {}))
    elif action == "update":
        verb = "update"
        _no_duplicates(inputs)
        targets = []
        for item in inputs:
            store.validate_properties(object_type, item.get("properties") or {})
            row_id = str(item.get("id"))
            if item.get("idProperty") == "email":
                found = store.get_by_email(object_type, row_id)
                row_id = found["id"] if found else ""
            targets.append((str(item.get("id")), row_id, item.get("properties") or {}))
        for given, row_id, properties in targets:
            try:
                results.append(store.update(object_type, row_id, properties))
            except CrmApiError as exc:
                if exc.status != 404:
                    raise
                missing.append(given)
    elif action == "upsert":
        _no_duplicates(inputs)
        for index, item in enumerate(inputs):
            if item.get("idProperty") != "email" or not item.get("id"):
                raise CrmApiError(400, f"inputs[{index}]: upsert needs idProperty 'email' and an id (the email)")
            store.validate_properties(object_type, item.get("properties") or {})
        for item in inputs:
            properties = dict(item.get("properties") or {})
            existing = store.get_by_email(object_type, str(item["id"]))
            if existing is None:
                properties.setdefault("email", item["id"])
                results.append({**store.create(object_type, properties), "new": True})
            else:
                results.append({**store.update(object_type, existing["id"], properties), "new": False})
    elif action == "archive":
        for item in inputs:
            store.archive(object_type, str(item.get("id")))
        return 204, None
    else:
        raise CrmApiError(404, f"unknown batch action {action!r}", "OBJECT_NOT_FOUND")
    body_out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": iso_from_millis(_now_millis())}
    if missing:
        body_out["numErrors"] = 1
        body_out["errors"] = [_not_found(object_type, verb, missing)]
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


class CrmRequest(NamedTuple):
    """One call the server received: the method and the URL path (without the query)."""

    method: str
    path: str


@dataclass
class Fault:
    """Requests matching `pattern` (a regular expression searched in the URL path) and `method`
    fail with `status` once `after` of them have passed, `times` times (None: until cleared).
    Status 0 drops the connection without an answer."""

    pattern: re.Pattern[str]
    status: int
    times: int | None
    after: int
    method: str | None
    seen: int = 0  # matching requests so far
    failed: int = 0  # of them answered with the fault

    def applies(self, method: str, path: str) -> bool:
        """Counts a matching request; True when this one must fail."""
        if (self.method is not None and method != self.method) or not self.pattern.search(path):
            return False
        self.seen += 1
        if self.seen <= self.after or (self.times is not None and self.failed >= self.times):
            return False
        self.failed += 1
        return True


class _DropConnection(Exception):
    pass


_FAULT_CATEGORIES = {429: "RATE_LIMITS", 502: "BAD_GATEWAY", 503: "SERVICE_UNAVAILABLE", 504: "GATEWAY_TIMEOUT"}


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

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        crm = self.server.crm
        path = urlparse(self.path).path
        crm._record(method, path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            crm._check_faults(method, path)
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
        except _DropConnection:
            self.close_connection = True
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
        if parts[:2] == ["crm", "v3"] and len(parts) >= 3:
            if parts[2] == "properties" and len(parts) in (4, 5):
                return self._properties(method, parts[3:], body)
            if parts[2] == "owners" and len(parts) in (3, 4) and method == "GET":
                return self._owners(parts[3:], query)
            if parts[2] == "objects" and len(parts) >= 4:
                return self._objects(method, object_type_of(parts[3]), parts[4:], query, body)
        if parts[:3] == ["crm", "v4", "objects"] and len(parts) >= 7 and parts[5] == "associations":
            return self._associations(method, object_type_of(parts[3]), parts[4], parts[6:], query)
        raise CrmApiError(404, f"no route for {method} {url.path}", "OBJECT_NOT_FOUND")

    def _objects(self, method: str, object_type: str, rest: list[str], query: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        store = self.server.crm.store
        properties = [p for p in query.get("properties", "").split(",") if p] or None
        if not rest and method == "GET":
            limit = _int_field(query, "limit", 10)
            if not 1 <= limit <= LIST_LIMIT_MAX:
                raise CrmApiError(400, f"limit must be between 1 and {LIST_LIMIT_MAX}, got {limit}")
            after = _int_field(query, "after", 0)
            archived = _flag(query, "archived")
            rows = store.list_page(object_type, after, limit + 1, archived=archived)
            result: dict[str, Any] = {"results": [_render(object_type, row, properties) for row in rows[:limit]]}
            if len(rows) > limit:
                next_after = str(rows[limit - 1][0])
                link = f"{self.server.crm.base_url}/crm/v3/objects/{object_type}?after={next_after}"
                result["paging"] = {"next": {"after": next_after, "link": link + ("&archived=true" if archived else "")}}
            return 200, result
        if not rest and method == "POST":
            return 201, store.create(object_type, body.get("properties") or {})
        if rest == ["search"] and method == "POST":
            return 200, search(store, object_type, body)
        if rest == ["gdpr-delete"] and method == "POST" and object_type == "contacts":
            object_id = str(body.get("objectId") or "")
            if not store.gdpr_delete(object_id, id_property=body.get("idProperty")):
                raise CrmApiError(404, f"Object not found. objectId are usually numeric. {object_id!r}", "OBJECT_NOT_FOUND")
            return 204, None
        if len(rest) == 2 and rest[0] == "batch" and method == "POST":
            return batch(store, object_type, rest[1], body)
        if len(rest) == 1 and method == "GET":
            return 200, store.get(object_type, rest[0], properties, query.get("idProperty"), archived=_flag(query, "archived"))
        if len(rest) == 1 and method == "PATCH":
            object_id = rest[0]
            if query.get("idProperty") not in (None, "hs_object_id"):
                found = store._row(object_type, object_id, query["idProperty"])
                object_id = str(found[0]) if found else ""
            return 200, store.update(object_type, object_id, body.get("properties") or {})
        if len(rest) == 1 and method == "DELETE":
            store.archive(object_type, rest[0])
            return 204, None
        raise CrmApiError(404, f"no route for {method} {urlparse(self.path).path}", "OBJECT_NOT_FOUND")

    def _properties(self, method: str, rest: list[str], body: dict[str, Any]) -> tuple[int, Any]:
        store = self.server.crm.store
        object_type = object_type_of(rest[0])
        if len(rest) >= 2 and rest[1] == "groups":
            return self._property_groups(method, object_type, rest[2:], body)
        if len(rest) == 1 and method == "GET":
            return 200, {"results": list(store.property_definitions(object_type).values())}
        if len(rest) == 1 and method == "POST":
            return 201, store.create_property(
                object_type, body.get("name"), body.get("label"), body.get("type"), body.get("fieldType"),
                body.get("groupName"), body.get("options"), body.get("description") or "", bool(body.get("hasUniqueValue")),
            )
        if len(rest) == 2 and method == "GET":
            return 200, store.property_definition(object_type, rest[1])
        raise CrmApiError(404, f"no route for {method} {urlparse(self.path).path}", "OBJECT_NOT_FOUND")

    def _property_groups(self, method: str, object_type: str, rest: list[str], body: dict[str, Any]) -> tuple[int, Any]:
        """`GET/POST /crm/v3/properties/{type}/groups`, `GET .../groups/{name}`: property groups."""
        groups = self.server.crm.store.property_groups(object_type)
        if not rest and method == "GET":
            return 200, {"results": list(groups.values())}
        if not rest and method == "POST":
            name, label = body.get("name"), body.get("label")
            if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name or ""):
                raise CrmApiError(400, "`name` must be lower-case letters, digits and _")
            if not isinstance(label, str) or not label.strip():
                raise CrmApiError(400, "`label` is required and must be a non-empty string")
            if name in groups:
                raise CrmApiError(409, f"A property group named '{name}' already exists.", "CONFLICT")
            return 201, self.server.crm.store.create_property_group(object_type, name, label)
        if len(rest) == 1 and method == "GET":
            if rest[0] not in groups:
                raise CrmApiError(404, f"property group {rest[0]!r} does not exist", "OBJECT_NOT_FOUND")
            return 200, groups[rest[0]]
        raise CrmApiError(404, f"no route for {method} {urlparse(self.path).path}", "OBJECT_NOT_FOUND")

    def _owners(self, rest: list[str], query: dict[str, str]) -> tuple[int, Any]:
        store = self.server.crm.store
        archived = _flag(query, "archived")
        if rest:
            return 200, store.owner(rest[0], id_property=query.get("idProperty", "id"), archived=archived)
        limit = _int_field(query, "limit", 100)
        if not 1 <= limit <= OWNERS_LIMIT_MAX:
            raise CrmApiError(400, f"limit must be between 1 and {OWNERS_LIMIT_MAX}, got {limit}")
        rows = store.owners_page(_int_field(query, "after", 0), limit + 1, email=query.get("email"), archived=archived)
        result: dict[str, Any] = {"results": [_render_owner(row) for row in rows[:limit]]}
        if len(rows) > limit:
            next_after = str(rows[limit - 1][0])
            result["paging"] = {"next": {"after": next_after, "link": f"{self.server.crm.base_url}/crm/v3/owners?after={next_after}"}}
        return 200, result

    def _associations(self, method: str, from_type: str, from_id: str, rest: list[str], query: dict[str, str]) -> tuple[int, Any]:
        store = self.server.crm.store
        if len(rest) == 1 and method == "GET":
            to_type = object_type_of(rest[0])
            limit = _int_field(query, "limit", ASSOCIATIONS_LIMIT_MAX)
            if not 1 <= limit <= ASSOCIATIONS_LIMIT_MAX:
                raise CrmApiError(400, f"limit must be between 1 and {ASSOCIATIONS_LIMIT_MAX}, got {limit}")
            found = store.associations(from_type, from_id, to_type, after=_int_field(query, "after", 0), limit=limit + 1)
            result: dict[str, Any] = {
                "results": [
                    {
                        "toObjectId": to_id,
                        "associationTypes": [{"category": category, "typeId": type_id, "label": None} for category, type_id in types],
                    }
                    for to_id, types in found[:limit]
                ]
            }
            if len(found) > limit:
                next_after = str(found[limit - 1][0])
                link = f"{self.server.crm.base_url}/crm/v4/objects/{from_type}/{from_id}/associations/{to_type}?after={next_after}"
                result["paging"] = {"next": {"after": next_after, "link": link}}
            return 200, result
        if len(rest) == 3 and rest[0] == "default" and method == "PUT":
            started = iso_from_millis(_now_millis())
            created = store.associate(from_type, from_id, object_type_of(rest[1]), rest[2])
            return 200, {"status": "COMPLETE", "results": created, "startedAt": started, "completedAt": iso_from_millis(_now_millis())}
        if len(rest) == 2 and method == "DELETE":
            store.disassociate(from_type, from_id, object_type_of(rest[0]), rest[1])
            return 204, None
        raise CrmApiError(404, f"no route for {method} {urlparse(self.path).path}", "OBJECT_NOT_FOUND")

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else None)
        if payload is not None:
            self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if data:
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
        self._log: list[CrmRequest] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._httpd = _CrmHttpServer((host, port), _Handler)
        self._httpd.crm = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- for tests ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[CrmRequest]:
        """Every call received so far, in order (a copy): `(method, path)` pairs."""
        with self._lock:
            return list(self._log)

    def fail(
        self, path_pattern: str, status: int = 503, times: int | None = 1, after: int = 0, method: str | None = None
    ) -> Fault:
        """Makes matching requests fail: after `after` matching requests have been served, the next
        `times` (None: every one until `clear_faults()`) get `status` with a HubSpot error body
        (429 with `Retry-After: 1`; 0 closes the connection without answering).

        `path_pattern` is a regular expression searched in the URL path (e.g. `r"/search$"`,
        `r"/associations/"`); `method` limits it to one HTTP method. Faults apply before
        authentication and rate limiting, like an outage in front of the API. Returns the fault,
        whose `seen` and `failed` count its matches.
        """
        if status != 0 and not 400 <= status <= 599:
            raise ValueError(f"a fault answers an error status (400-599) or 0 (drop the connection), not {status}")
        if times is not None and times < 1:
            raise ValueError(f"times must be at least 1 (or None), got {times}")
        if after < 0:
            raise ValueError(f"after must not be negative, got {after}")
        fault = Fault(re.compile(path_pattern), status, times, after, method.upper() if method else None)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests_served += 1
            self._log.append(CrmRequest(method, path))

    def _check_faults(self, method: str, path: str) -> None:
        with self._lock:
            hit = next((fault for fault in self._faults if fault.applies(method, path)), None)
        if hit is None:
            return
        if hit.status == 0:
            raise _DropConnection()
        extra: dict[str, Any] = {"retry_after": 1} if hit.status == 429 else {}
        category = _FAULT_CATEGORIES.get(hit.status, "INTERNAL_ERROR" if hit.status >= 500 else "VALIDATION_ERROR")
        raise CrmApiError(hit.status, f"injected fault: {method} {path} answered {hit.status}", category, **extra)

    # -- lifecycle ---------------------------------------------------------------------------

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
    parser.add_argument("--seed-dir", type=Path, help="seed a new store from a crm_seed folder (contacts.jsonl, ...)")
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
