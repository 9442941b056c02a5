"""Access export: everything the warehouse holds about one person, as one JSON document.

`export(warehouse, person)` reads, for a `people.Person` (see `people.resolve`), every table
that holds the person's rows: identity, profile and traits (with their history), consent (the
current decision per channel and every signal behind it), the source records resolved to them
from the clean zone (staging), audience memberships and their history, what activation sent to
each destination, suppressions and the CRM sync's state of their contacts. Each table is read
by the person's customer ids, record keys or contact ids (never scanned whole into Python); a
table that does not exist (a stage that never ran) gives an empty section.

The document is plain JSON: timestamps ISO-8601 in UTC, dates `YYYY-MM-DD`, decimals as
numbers, JSON text columns (`*_json`, `sent_fields`) parsed. The request part names only the
type of the identifier the request used, not its value.

`record_export(warehouse, document, actor=...)` appends the `privacy.access_export` audit
event: the subject is `hash_identifier(customer_id)`, the detail the counts per section.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from activations.governance import audit
from activations.governance.people import Person

FORMAT = "opencdp.access_export"
VERSION = 1
ACTION = "privacy.access_export"
CHUNK = 500  # keys per `in (...)` list


@dataclass(frozen=True)
class SourceTable:
    """A source table of the clean zone: its staging model, key and the tables hanging off it."""

    source: str
    table: str
    model: str  # staging.<model>
    key: str
    children: tuple[tuple[str, str, str], ...] = ()  # (name in the document, staging model, column = key)

    @property
    def name(self) -> str:
        return f"{self.source}/{self.table}"


# The record tables of identity (transform/macros/identity/config.sql, identity_record_sources):
# each record of `identity.customer_records` is one row of one of these.
SOURCE_TABLES = (
    SourceTable("events", "events", "stg_events__events", "event_key",
                (("products", "stg_events__order_products", "event_key"),)),
    SourceTable("commerce", "customers", "stg_commerce__customers", "loyalty_id"),
    SourceTable("commerce", "orders", "stg_commerce__orders", "order_id",
                (("lines", "stg_commerce__order_lines", "order_id"),)),
    SourceTable("email", "email_events", "stg_email__email_events", "email_event_key"),
    SourceTable("support", "tickets", "stg_support__tickets", "ticket_id",
                (("tags", "stg_support__ticket_tags", "ticket_id"),)),
    SourceTable("crm", "contacts", "stg_crm__contacts", "contact_id"),
    SourceTable("lists", "list_members", "stg_lists__list_members", "member_key",
                (("external_ids", "stg_lists__list_member_external_ids", "member_key"),)),
)
STAGING = "staging"
_JSON_TEXT = ("sent_fields", "acknowledgement")  # besides every `*_json` column


# -- reading -------------------------------------------------------------------------------------


class _Catalog:
    """The warehouse with its catalog (tables, views and column types) read once: one query, not one
    per table. The column types tell a date from a timestamp (pandas reads both as timestamps)."""

    def __init__(self, warehouse: Any) -> None:
        self.warehouse = warehouse
        frame = warehouse.query(
            "select table_schema, table_name, column_name, data_type from information_schema.columns")
        self.columns: dict[str, dict[str, str]] = {}
        for schema, table, column, data_type in frame.itertuples(index=False):
            self.columns.setdefault(f"{schema}.{table}", {})[str(column)] = str(data_type).lower()
        self.relations = set(self.columns)

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        return self.warehouse.query(sql, params)

    def table_exists(self, schema: str, table: str) -> bool:
        return f"{schema}.{table}" in self.relations

    def date_columns(self, relation: str) -> set[str]:
        return {c for c, t in self.columns.get(relation, {}).items() if t == "date"}


def _exists(warehouse: Any, relation: str) -> bool:
    schema, table = relation.split(".")
    return warehouse.table_exists(schema, table)


def _rows(warehouse: Any, relation: str, columns: Sequence[str], values: Iterable[Any], *,
          order_by: str = "") -> list[dict[str, Any]]:
    """The rows of `relation` whose column (any of `columns`) is one of `values`, as JSON-ready
    dicts; nothing when the relation does not exist or there are no values."""
    values = sorted({str(v) for v in values})
    if not values or not _exists(warehouse, relation):
        return []
    frames = []
    for start in range(0, len(values), CHUNK):
        chunk = values[start:start + CHUNK]
        marks = ", ".join("?" for _ in chunk)
        where = " or ".join(f"{column} in ({marks})" for column in columns)
        frames.append(warehouse.query(f"select * from {relation} where {where}", list(chunk) * len(columns)))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if len(frames) > 1 and len(columns) > 1:  # a row can match in two chunks
        frame = frame.loc[~frame.astype(str).duplicated()]
    keys = [k.strip() for k in order_by.split(",") if k.strip()]
    if keys and not frame.empty:
        frame = frame.sort_values(keys, na_position="last", kind="stable")
    dates = warehouse.date_columns(relation) if isinstance(warehouse, _Catalog) else set()
    return [_record(row, dates) for row in frame.to_dict(orient="records")]


def _record(row: Mapping[str, Any], dates: set[str] = frozenset()) -> dict[str, Any]:
    return {str(k): _date(v) if k in dates else _value(str(k), v) for k, v in row.items()}


def _date(value: Any) -> Any:
    if isinstance(value, (pd.Timestamp, datetime, np.datetime64)) and not pd.isna(value):
        return pd.Timestamp(value).date().isoformat()
    return _value("", value)


def _value(column: str, value: Any) -> Any:
    """One cell as JSON: ISO-8601 UTC timestamps, numbers, parsed JSON text, None for missing."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, (pd.Timestamp, datetime)):
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize(timezone.utc) if stamp.tzinfo is None else stamp.tz_convert(timezone.utc)
        return stamp.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return _value(column, value.item())
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str) and (column.endswith("_json") or column in _JSON_TEXT):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, (list, tuple)):
        return [_value(column, v) for v in value]
    if isinstance(value, dict):
        return {str(k): _value(str(k), v) for k, v in value.items()}
    return value


# -- sections ------------------------------------------------------------------------------------


def consent(warehouse: Any, person: Person) -> dict[str, list[dict[str, Any]]]:
    """`current`: the decision per channel (profiles.customer_consent, with the signal that decided
    it); `signals`: every consent signal of the person's records, per channel, oldest first."""
    ids = person.customer_ids
    warehouse = warehouse if isinstance(warehouse, _Catalog) else _Catalog(warehouse)
    return {
        "current": _rows(warehouse, "profiles.customer_consent", ["customer_id"], ids, order_by="channel"),
        "signals": _rows(warehouse, "profiles.customer_consent_history", ["customer_id"], ids,
                         order_by="channel, signal_at, record_ref"),
    }


def _identity(warehouse: Any, person: Person) -> dict[str, Any]:
    ids = person.customer_ids
    return {
        "customers": _rows(warehouse, "identity.identity_customers", ["customer_id"], ids, order_by="issued_at"),
        "merge_history": _rows(warehouse, "identity.identity_merge_history", ["old_customer_id", "new_customer_id"],
                               ids, order_by="occurred_at, event_id"),
    }


def _one(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return rows[0] if rows else None


def _records(warehouse: Any, person: Person) -> dict[str, list[dict[str, Any]]]:
    keys: dict[str, list[str]] = {}
    for source, table, key in person.records:
        keys.setdefault(f"{source}/{table}", []).append(key)
    known = {t.name for t in SOURCE_TABLES}
    unknown = sorted(set(keys) - known)
    if unknown:  # identity resolved records of a table this module does not know: never leave them out silently
        raise ValueError(f"access export: records of {', '.join(unknown)} have no staging model in SOURCE_TABLES")
    sections: dict[str, list[dict[str, Any]]] = {}
    for spec in SOURCE_TABLES:
        rows = _rows(warehouse, f"{STAGING}.{spec.model}", [spec.key], keys.get(spec.name, ()), order_by=spec.key)
        for child, model, column in spec.children:
            found = _rows(warehouse, f"{STAGING}.{model}", [column], [r[spec.key] for r in rows])
            by_key: dict[str, list[dict[str, Any]]] = {}
            for item in found:
                by_key.setdefault(str(item[column]), []).append(item)
            for row in rows:
                row[child] = sorted(by_key.get(str(row[spec.key]), []), key=lambda r: json.dumps(r, sort_keys=True))
        for row in rows:
            row["record_ref"] = f"{spec.name}/{row[spec.key]}"
        sections[spec.name] = rows
    return sections


def _crm_deals(warehouse: Any, contact_ids: Sequence[str]) -> list[dict[str, Any]]:
    links = _rows(warehouse, f"{STAGING}.stg_crm__deal_contacts", ["contact_id"], contact_ids)
    deals = _rows(warehouse, f"{STAGING}.stg_crm__deals", ["deal_id"], [r["deal_id"] for r in links],
                  order_by="deal_id")
    contacts_of: dict[str, list[str]] = {}
    for link in links:
        contacts_of.setdefault(str(link["deal_id"]), []).append(str(link["contact_id"]))
    for deal in deals:
        deal["contact_ids"] = sorted(contacts_of.get(str(deal["deal_id"]), []))
    return deals


def _audiences(warehouse: _Catalog, person: Person) -> dict[str, Any]:
    ids = person.customer_ids
    computed = []
    # the audience models (dbt's audiences schema; int_ models are their inputs, not audiences)
    for name in sorted(r.split(".", 1)[1] for r in warehouse.relations if r.startswith("audiences.")):
        if name.startswith("int_"):
            continue
        rows = _rows(warehouse, f"audiences.{name}", ["customer_id"], ids)
        computed.extend({"audience": name, **row} for row in rows)
    return {
        "members": _rows(warehouse, "activation.audience_members", ["customer_id"], ids, order_by="audience"),
        "membership_history": _rows(warehouse, "activation.audience_membership_changes", ["customer_id"], ids,
                                    order_by="changed_at, audience"),
        "computed": computed,
    }


def _crm_sync(warehouse: Any, person: Person, contact_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    ids = person.customer_ids
    by_contact = {
        "contact_edits": ("crm_sync.contact_edits", "modified_at"),
        "contact_field_history": ("crm_sync.contact_field_history", "changed_at, field"),
    }
    section = {name: _rows(warehouse, relation, ["contact_id"], contact_ids, order_by=order)
               for name, (relation, order) in by_contact.items()}
    # tables that name a contact and the customer it belonged to: either one is theirs
    section["field_conflicts"] = _rows(warehouse, "crm_sync.field_conflicts", ["contact_id", "customer_id"],
                                       [*contact_ids, *ids], order_by="detected_at, field")
    section["deleted_contacts"] = _rows(warehouse, "crm_sync.deleted_contacts", ["contact_id", "customer_id"],
                                        [*contact_ids, *ids], order_by="detected_at")
    section["merge_suggestions"] = _merge_suggestions(warehouse, contact_ids)
    return section


def _merge_suggestions(warehouse: Any, contact_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The CRM duplicates suggested for merging that involve the person's contacts, with their own
    side only: the other contact (and its customer) may be someone else, whose ids are not theirs
    to receive."""
    mine = set(contact_ids)
    rows = _rows(warehouse, "crm_sync.crm_merge_suggestions", ["merge_contact_id", "keep_contact_id"], contact_ids,
                 order_by="merge_contact_id, keep_contact_id")
    shown = []
    for row in rows:
        for role in ("merge", "keep"):
            if str(row[f"{role}_contact_id"]) in mine:
                shown.append({"contact_id": row[f"{role}_contact_id"], "suggested_to": role,
                              "evidence": row.get("evidence"), "links": row.get("links"),
                              "match_probability": row.get("match_probability")})
    return shown


def export(warehouse: Any, person: Person, *, identifier_type: str | None = None,
           now: datetime | None = None) -> dict[str, Any]:
    """Everything the warehouse holds about `person`, JSON-serializable. Reads only."""
    generated_at = now or datetime.now(timezone.utc)
    if generated_at.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    warehouse = _Catalog(warehouse)
    ids = person.customer_ids
    records = _records(warehouse, person)
    contact_ids = sorted({*person.identifier_values("crm_contact_id"),
                          *(str(r["contact_id"]) for r in records.get("crm/contacts", []))})
    identifiers = _rows(warehouse, "identity.customer_identifiers", ["customer_id"], ids,
                        order_by="identifier_type, identifier_value, customer_id")
    return {
        "request": {
            "format": FORMAT,
            "version": VERSION,
            "generated_at": _value("generated_at", generated_at),
            "identifier_type": identifier_type,
        },
        "customer": {
            "customer_id": person.customer_id,
            "status": person.status,
            "customer_ids": list(ids),
            **_identity(warehouse, person),
        },
        "identifiers": identifiers,
        "profile": _one(_rows(warehouse, "profiles.customer_profiles", ["customer_id"], [person.customer_id])),
        "traits": _one(_rows(warehouse, "profiles.customer_traits", ["customer_id"], [person.customer_id])),
        "traits_history": _rows(warehouse, "snapshots.customer_traits_history", ["customer_id"], ids,
                                order_by="dbt_valid_from"),
        "consent": consent(warehouse, person),
        "records": {**records, "crm/deals": _crm_deals(warehouse, contact_ids)},
        "audiences": _audiences(warehouse, person),
        "activation": {
            "ledger": _rows(warehouse, "activation.activation_ledger", ["customer_id"], ids,
                            order_by="recorded_at, destination, audience, operation"),
            "destination_state": _rows(warehouse, "activation.destination_state", ["customer_id"], ids,
                                       order_by="destination, audience"),
        },
        "suppressions": _rows(warehouse, "activation.suppressions", ["customer_id"], ids, order_by="suppressed_at"),
        "crm_sync": _crm_sync(warehouse, person, contact_ids),
    }


def counts(document: Mapping[str, Any]) -> dict[str, int]:
    """Items per section, `section` or `section.part` (e.g. `records.commerce/orders`): what a dry
    run shows and the audit event keeps. A single object (profile) counts 1, a missing one 0."""
    result: dict[str, int] = {}
    for section, value in document.items():
        if section in ("request", "customer"):
            continue
        if isinstance(value, Mapping) and section not in ("profile", "traits"):
            for part, items in value.items():
                result[f"{section}.{part}"] = len(items)
        elif isinstance(value, list):
            result[section] = len(value)
        else:
            result[section] = 0 if value is None else 1
    customer = document.get("customer", {})
    result["customer.customer_ids"] = len(customer.get("customer_ids", ()))
    result["customer.merge_history"] = len(customer.get("merge_history", ()))
    return dict(sorted(result.items()))


def to_json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False) + "\n"


def record_export(warehouse: Any, document: Mapping[str, Any], *, actor: str, run_id: str | None = None,
                  now: datetime | None = None) -> str:
    """Appends `privacy.access_export` for the export's person; returns the audit event id."""
    audit.ensure_tables(warehouse)
    customer_id = document["customer"]["customer_id"]
    detail = {"identifier_type": document["request"].get("identifier_type"), "sections": counts(document)}
    return audit.record(warehouse, ACTION, subject_type="customer", subject_id=audit.hash_identifier(customer_id),
                        detail=detail, actor=actor, run_id=run_id, now=now)
