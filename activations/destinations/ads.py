"""An ad platform's customer-match audience (Google Customer Match / Meta custom audiences alike).

- upsert: `POST /v1/audiences/{audience_id}/users:add`
- remove: `POST /v1/audiences/{audience_id}/users:remove`

each with `{"schema": ["EMAIL_SHA256", "PHONE_SHA256"], "data": [[<email hash>, <phone hash>], ...]}`,
one row per change, "" for an identifier the member lacks. Raw personal data never leaves:
every value is the SHA-256 hex digest of the normalized identifier.

Normalization (as the platforms require before hashing):

- email: surrounding whitespace trimmed, lower-cased; a value that is not an address (no `@`,
  nothing on one side of it, no dot in the domain, whitespace inside) counts as missing.
  Dots in gmail.com / googlemail.com local parts are kept by default: Google Customer Match
  accepts the address either way ("you're not required to remove all periods"), while Meta
  matches on the trimmed, lower-cased address only, so removing them would lose Meta matches.
  `normalize_email(..., strip_gmail_dots=True)` gives the form Google's enhanced conversions
  and Campaign Manager 360 ask for.
- phone: E.164 (`+` and up to 15 digits) with libphonenumber, reading a national number in
  `default_phone_region`; the clean zone's rule (`expectations/phone.py`): no letters, and a
  possible number for its region (not one only dialable locally), else missing.

A change with neither identifier is not sent and fails (`RecordResult` with the reason). Rows
the platform reports invalid (`invalid_entry_samples`, by row index) fail their change; the rest
of the batch applies. A removal takes out every stored row sharing one of the identifiers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import phonenumbers

from activations.destinations.base import (
    HttpClient,
    HttpDestination,
    answer_json,
    check_field_name,
    check_mapping,
    check_secret,
    config_error,
)
from activations.engine import Change, RecordResult

SCHEMA = ("EMAIL_SHA256", "PHONE_SHA256")
GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def normalize_email(value: Any, *, strip_gmail_dots: bool = False) -> str | None:
    """The address trimmed and lower-cased, or None when `value` is not an email address."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    local, at, domain = text.rpartition("@")
    if not at or not local or "@" in local or any(ch.isspace() for ch in text):
        return None
    if "." not in domain or domain.startswith(".") or domain.endswith("."):
        return None
    if strip_gmail_dots and domain in GMAIL_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def normalize_phone(value: Any, default_region: str = "US") -> str | None:
    """The number in E.164 (e.g. "+14155550123"), or None when it is not a possible number;
    a national number is read in `default_region`."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or any(ch.isalpha() for ch in text):
        return None
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(parsed) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def sha256_hex(value: str) -> str:
    """The lower-case hex SHA-256 digest of the UTF-8 text."""
    return hashlib.sha256(value.encode()).hexdigest()


class AdsDestination(HttpDestination):
    MAX_BATCH_SIZE = 10_000
    PLATFORM = "ad platform"

    def __init__(
        self,
        name: str,
        base_url: str,
        token: str,
        *,
        audiences: Mapping[str, str] | None = None,
        email_field: str = "email",
        phone_field: str = "phone",
        default_phone_region: str = "US",
        batch_size: int = 10_000,
        **transport: Any,
    ) -> None:
        """`audiences`: audience name -> the platform's audience id (when None, an audience
        goes to the platform audience of its own name)."""
        transport = self._setup(name, batch_size, transport)
        token = check_secret(self.name, "token", token)
        self.audiences = None if audiences is None else check_mapping(self.name, "audiences", audiences)
        self.email_field = check_field_name(self.name, "email_field", email_field)
        self.phone_field = check_field_name(self.name, "phone_field", phone_field)
        if default_phone_region not in phonenumbers.SUPPORTED_REGIONS:
            raise config_error(self.name, f"default_phone_region must be an ISO 3166 region libphonenumber knows "
                                          f"(e.g. 'US', 'GB'), got {default_phone_region!r}")
        self.default_phone_region = default_phone_region
        self.fields: frozenset[str] | None = frozenset({self.email_field, self.phone_field})
        self.key_fields = (self.email_field, self.phone_field)  # a row is its hashes: any change replaces it
        self.http = HttpClient(self.name, base_url, {"Authorization": f"Bearer {token}"}, **transport)

    def audience_id(self, audience: str) -> str:
        if self.audiences is None:
            return audience
        if audience not in self.audiences:
            raise config_error(self.name, f"no platform audience configured for audience {audience!r}; audiences "
                                          f"has {', '.join(sorted(self.audiences)) or 'none'}")
        return self.audiences[audience]

    def row(self, fields: Mapping[str, Any]) -> list[str] | str:
        """The hashed row for a member's fields, or why there is none."""
        email = normalize_email(fields.get(self.email_field))
        phone = normalize_phone(fields.get(self.phone_field), self.default_phone_region)
        if email is None and phone is None:
            return (f"no valid email or phone to match on (email {_state(fields, self.email_field)}, "
                    f"phone {_state(fields, self.phone_field)})")
        return [sha256_hex(email) if email else "", sha256_hex(phone) if phone else ""]

    def send(self, audience: str, operation: str, changes: Sequence[Change], idempotency_key: str) -> list[RecordResult]:
        self._check_operation(operation)
        results: dict[str, RecordResult] = {}
        data: list[list[str]] = []
        owners: list[str] = []  # customer id of each row
        for change in changes:
            row = self.row(change.fields)
            if isinstance(row, str):
                results[change.customer_id] = RecordResult(change.customer_id, False, row)
            else:
                data.append(row)
                owners.append(change.customer_id)
        if data:
            action = "add" if operation == "upsert" else "remove"
            path = f"/v1/audiences/{quote(self.audience_id(audience), safe='')}/users:{action}"
            response = self.http.request("POST", path, json={"schema": list(SCHEMA), "data": data},
                                         idempotency_key=idempotency_key)
            answer = answer_json(response, self.name, ("num_invalid_entries",))
            invalid: dict[int, str] = {}
            for sample in answer.get("invalid_entry_samples") or ():
                if isinstance(sample, dict) and isinstance(sample.get("row"), int):
                    invalid[sample["row"]] = str(sample.get("reason") or "invalid entry")
            unnamed = int(answer["num_invalid_entries"] or 0) > len(invalid)
            for index, customer_id in enumerate(owners):
                if index in invalid:
                    results[customer_id] = RecordResult(customer_id, False, f"INVALID_ENTRY: {invalid[index]}")
                elif unnamed:  # some invalid rows were not named: this one may be one of them
                    results[customer_id] = RecordResult(
                        customer_id, False, f"the ad platform reported {answer['num_invalid_entries']} invalid rows "
                                            f"but named only {len(invalid)}; this one may be among them")
                else:
                    results[customer_id] = RecordResult(customer_id, True)
        return [results[change.customer_id] for change in changes]


def _state(fields: Mapping[str, Any], name: str) -> str:
    """Whether a field was missing or present but unusable, without saying its value."""
    value = fields.get(name)
    return "missing" if value is None or (isinstance(value, str) and not value.strip()) else "not usable"
