"""Who a privacy request is about: one identifier to the person the warehouse holds.

A request names a person by any identifier the identity graph knows: an email, a phone
number, a user id, a customer id (a merged-away id leads to the id that replaced it), or any
other identifier type of `identity.customer_identifiers` (`crm_contact_id`, `loyalty_id`,
`anonymous_id`, ...). `resolve` returns the person: the current customer id, every customer
id that ever stood for them, every identifier and every source record resolved to them.

Identifiers are normalized the way the clean zone normalizes them (emails trimmed and
lower-cased; phones to E.164), so `  Ana@Example.COM ` finds `ana@example.com`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dlt_sources.identifiers import normalize_email, normalize_phone

CUSTOMERS = "identity.identity_customers"
IDENTIFIERS = "identity.customer_identifiers"
RECORDS = "identity.customer_records"
LOOKUP = "identity.customer_id_lookup"


class UnknownIdentifierError(LookupError):
    """No person in the warehouse has this identifier."""


class IdentifierError(ValueError):
    """The identifier is not well formed (an email without @, a phone that cannot be a number)."""


@dataclass(frozen=True)
class Identifier:
    type: str
    value: str  # normalized

    @property
    def key(self) -> str:
        return f"{self.type}:{self.value}"

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class Person:
    """Everything that ties one person to the warehouse's rows."""

    customer_id: str  # current
    status: str
    customer_ids: tuple[str, ...]  # current first, then merged-away ids that lead to it
    identifiers: tuple[Identifier, ...]
    records: tuple[tuple[str, str, str], ...] = field(default=())  # (source, table, record_key)

    def identifier_values(self, *types: str) -> list[str]:
        return sorted({i.value for i in self.identifiers if not types or i.type in types})


def normalize(identifier_type: str, value: str, *, default_region: str = "US") -> str:
    """The identifier as the clean zone writes it; IdentifierError when it cannot be one.

    Emails and phones follow the staging macros rule for rule (dlt_sources/identifiers.py, the
    same code the load-time tombstones use), so a request finds what staging normalized."""
    text = (value or "").strip()
    if not text:
        raise IdentifierError(f"an empty {identifier_type}")
    if identifier_type == "email":
        email = normalize_email(text)
        if email is None:
            raise IdentifierError(f"not an email address: {value!r}")
        return email
    if identifier_type == "phone":
        if re.search(r"[A-Za-z]", text):
            raise IdentifierError(f"not a phone number (letters): {value!r}")
        phone = normalize_phone(text, default_region=default_region)
        if phone is None:
            raise IdentifierError(f"not a possible phone number: {value!r}")
        return phone
    return text


def parse(text: str, *, default_region: str = "US") -> Identifier:
    """`type:value` (`email:ana@example.com`, `customer_id:cus_...`), or a bare value whose
    type is evident: an address with @ is an email, `cus_...` a customer id, `+<digits>` a phone."""
    identifier_type, sep, value = text.partition(":")
    if sep and re.fullmatch(r"[a-z][a-z_]*", identifier_type):
        return Identifier(identifier_type, normalize(identifier_type, value, default_region=default_region))
    bare = text.strip()
    if "@" in bare:
        return Identifier("email", normalize("email", bare))
    if bare.startswith("cus_"):
        return Identifier("customer_id", bare)
    if re.fullmatch(r"\+[\d\s().-]+", bare):
        return Identifier("phone", normalize("phone", bare, default_region=default_region))
    raise IdentifierError(
        f"say what {text!r} is: type:value, e.g. email:ana@example.com, phone:+14155550134, "
        "user_id:u_123, customer_id:cus_123"
    )


def known_types(warehouse: Any) -> list[str]:
    frame = warehouse.query(f"select distinct identifier_type from {IDENTIFIERS} order by 1")
    return ["customer_id", *frame["identifier_type"].astype(str)]


def current_customer_id(warehouse: Any, identifier: Identifier) -> str:
    """The current customer id of the person with `identifier`; UnknownIdentifierError if none."""
    if not warehouse.table_exists("identity", "customer_identifiers"):
        raise UnknownIdentifierError("the warehouse has no identity graph yet: run the platform first")
    if identifier.type == "customer_id":
        frame = warehouse.query(f"select current_customer_id from {LOOKUP} where customer_id = ?", (identifier.value,))
        if frame.empty:
            raise UnknownIdentifierError(f"no customer has the id {identifier.value}")
        return str(frame.iloc[0, 0])
    types = known_types(warehouse)
    if identifier.type not in types:
        raise IdentifierError(f"unknown identifier type {identifier.type!r}; types: {', '.join(types)}")
    frame = warehouse.query(
        f"select l.current_customer_id from {IDENTIFIERS} i join {LOOKUP} l on l.customer_id = i.customer_id"
        " where i.identifier_type = ? and i.identifier_value = ?",
        (identifier.type, identifier.value),
    )
    found = sorted(set(frame["current_customer_id"].astype(str)))
    if not found:
        raise UnknownIdentifierError(f"no person has the {identifier.type} given")
    if len(found) > 1:  # an identifier shared by two people is not linking evidence (identity's own rule)
        raise IdentifierError(
            f"the {identifier.type} given belongs to {len(found)} people ({', '.join(found)}): name one by customer_id"
        )
    return found[0]


def resolve(warehouse: Any, identifier: Identifier | str, *, default_region: str = "US") -> Person:
    """The person `identifier` names, with every id, identifier and record of theirs."""
    if isinstance(identifier, str):
        identifier = parse(identifier, default_region=default_region)
    customer_id = current_customer_id(warehouse, identifier)
    status = warehouse.query(f"select status from {CUSTOMERS} where customer_id = ?", (customer_id,))
    ids = warehouse.query(
        f"select customer_id from {LOOKUP} where current_customer_id = ? order by merge_hops, customer_id",
        (customer_id,),
    )
    customer_ids = [customer_id, *(c for c in ids["customer_id"].astype(str) if c != customer_id)]
    placeholders = ", ".join("?" for _ in customer_ids)
    identifiers = warehouse.query(
        f"select distinct identifier_type, identifier_value from {IDENTIFIERS} where customer_id in ({placeholders})"
        " order by 1, 2",
        customer_ids,
    )
    records = warehouse.query(
        f"select distinct source_name, table_name, record_key from {RECORDS} where customer_id in ({placeholders})"
        " order by 1, 2, 3",
        customer_ids,
    )
    return Person(
        customer_id=customer_id,
        status=str(status.iloc[0, 0]) if not status.empty else "unknown",
        customer_ids=tuple(customer_ids),
        identifiers=tuple(Identifier(str(t), str(v)) for t, v in identifiers.itertuples(index=False)),
        records=tuple((str(s), str(t), str(k)) for s, t, k in records.itertuples(index=False)),
    )
