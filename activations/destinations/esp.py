"""An email platform (ESP) with a Mailchimp-like list members API: audiences become list members.

- upsert: `POST /v1/lists/{list_id}/members:batch` with `update_existing: true`, each member
  `subscribed`, with its merge fields;
- remove: `POST /v1/lists/{list_id}/members:batch-remove` by email (the platform archives the
  member; an email it never had, `ERROR_NOT_FOUND`, is already gone: acknowledged).

Members are keyed by lower-cased email, as the platform keys them. The answer's per-record
errors come back as failed `RecordResult`s (`"<error code>: <detail>"`) and the rest of the
batch counts as applied. Choices:

- a change without an email is never sent (`"no email to send"`);
- two changes of one batch with the same email (lower-cased) go out once, as the first of them
  (in batch order) has it, and both get the platform's answer for that member;
- a merge field whose value is None is sent as "" (the platform's way to clear it: the list
  then mirrors the warehouse rather than keeping a stale value); a field the change does not
  carry at all is left out, so the platform keeps what it has;
- a merge field value that is not text, a number or a boolean fails that record, not the batch.

The members sent are `subscribed`: the audience handed to the engine holds consented members
only (the engine removes the rest), so an upsert may re-subscribe a member who left the list
elsewhere; keep such members in the `blocked` set.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from activations.destinations.base import (
    DestinationRequestError,
    HttpClient,
    HttpDestination,
    answer_json,
    check_field_name,
    check_mapping,
    check_secret,
    config_error,
)
from activations.engine import Change, RecordResult

MERGE_TAG = re.compile(r"[A-Z][A-Z0-9_]{0,9}")  # Mailchimp's merge tags: upper case, 10 characters at most
NOT_FOUND = "ERROR_NOT_FOUND"


class EspDestination(HttpDestination):
    MAX_BATCH_SIZE = 500
    PLATFORM = "email platform"

    def __init__(
        self,
        name: str,
        base_url: str,
        token: str,
        *,
        lists: Mapping[str, str] | None = None,
        email_field: str = "email",
        merge_fields: Mapping[str, str] | None = None,
        batch_size: int = 500,
        **transport: Any,
    ) -> None:
        """`lists`: audience name -> list id (an audience not listed goes to the list of its own
        name when `lists` is None, and is refused otherwise). `merge_fields`: merge tag (e.g.
        "FNAME") -> the change field it takes its value from (e.g. "first_name")."""
        transport = self._setup(name, batch_size, transport)
        token = check_secret(self.name, "token", token)
        self.lists = None if lists is None else check_mapping(self.name, "lists", lists)
        self.email_field = check_field_name(self.name, "email_field", email_field)
        self.merge_fields = check_mapping(self.name, "merge_fields", merge_fields)
        bad_tags = [tag for tag in self.merge_fields if not MERGE_TAG.fullmatch(tag)]
        if bad_tags:
            raise config_error(self.name, f"merge_fields maps merge tags to field names; {bad_tags[0]!r} is not a "
                                          "merge tag (upper-case letters, digits and _, 10 characters at most, "
                                          "e.g. {'FNAME': 'first_name'})")
        self.fields: frozenset[str] | None = frozenset({self.email_field, *self.merge_fields.values()})
        self.key_fields = (self.email_field,)  # a member is its email: a new one is a remove and an add
        self.http = HttpClient(self.name, base_url, {"Authorization": f"Bearer {token}"}, **transport)

    def list_id(self, audience: str) -> str:
        if self.lists is None:
            return audience
        if audience not in self.lists:
            raise config_error(self.name, f"no list configured for audience {audience!r}; lists has "
                                          f"{', '.join(sorted(self.lists)) or 'none'}")
        return self.lists[audience]

    def send(self, audience: str, operation: str, changes: Sequence[Change], idempotency_key: str) -> list[RecordResult]:
        self._check_operation(operation)
        if operation == "remove" and any(change.reason == "erased" for change in changes):
            erased = [change for change in changes if change.reason == "erased"]
            results = {result.customer_id: result for result in self._delete_permanently(audience, erased)}
            rest = [change for change in changes if change.reason != "erased"]
            if rest:
                results.update({r.customer_id: r for r in self.send(audience, operation, rest, idempotency_key)})
            return [results[change.customer_id] for change in changes]
        results: dict[str, RecordResult] = {}
        by_email: dict[str, list[Change]] = {}  # lower-cased email -> its changes, in batch order
        members: list[dict[str, Any]] = []
        for change in changes:
            email = _email(change.fields.get(self.email_field))
            if email is None:
                results[change.customer_id] = RecordResult(change.customer_id, False, "no email to send")
                continue
            key = email.lower()
            if key in by_email:
                by_email[key].append(change)
                continue
            if operation == "upsert":
                merge_fields, problem = self._merge_fields(change)
                if problem is not None:
                    results[change.customer_id] = RecordResult(change.customer_id, False, problem)
                    continue
                members.append({"email_address": email, "status": "subscribed", "merge_fields": merge_fields})
            else:
                members.append({"email_address": email})
            by_email[key] = [change]
        if members:
            path = f"/v1/lists/{quote(self.list_id(audience), safe='')}/members"
            if operation == "upsert":
                body = {"members": members, "update_existing": True}
                response = self.http.request("POST", f"{path}:batch", json=body, idempotency_key=idempotency_key)
                answer = answer_json(response, self.name, ("errors",))
                done = _emails(answer.get("new_members", [])) | _emails(answer.get("updated_members", []))
            else:
                response = self.http.request("POST", f"{path}:batch-remove",
                                             json={"emails": [m["email_address"] for m in members]},
                                             idempotency_key=idempotency_key)
                answer = answer_json(response, self.name, ("errors",))
                done = _emails(answer.get("removed", []))
            errors = _errors(answer["errors"])
            for key, group in by_email.items():
                code, detail = errors.get(key, (None, None))
                if key in done or (operation == "remove" and code == NOT_FOUND):
                    outcome = (True, None)
                elif code is not None:
                    outcome = (False, f"{code}: {detail}")
                else:
                    outcome = (False, "the email platform's answer does not mention this member")
                for change in group:
                    results[change.customer_id] = RecordResult(change.customer_id, *outcome)
        return [results[change.customer_id] for change in changes]

    def _delete_permanently(self, audience: str, changes: Sequence[Change]) -> list[RecordResult]:
        """Members of an erasure request are deleted for good (Mailchimp's delete-permanent), one
        request each; a member the list no longer has is gone already."""
        results = []
        path = f"/v1/lists/{quote(self.list_id(audience), safe='')}/members"
        for change in changes:
            email = _email(change.fields.get(self.email_field))
            if email is None:
                results.append(RecordResult(change.customer_id, False, "no email to send"))
                continue
            member = hashlib.md5(email.lower().encode()).hexdigest()  # noqa: S324 - Mailchimp's member id
            try:
                self.http.request("POST", f"{path}/{member}/actions/delete-permanent")
            except DestinationRequestError as error:
                if error.status != 404:
                    results.append(RecordResult(change.customer_id, False, str(error)))
                    continue
            results.append(RecordResult(change.customer_id, True))
        return results

    def _merge_fields(self, change: Change) -> tuple[dict[str, Any], str | None]:
        merge_fields: dict[str, Any] = {}
        for tag, field_name in self.merge_fields.items():
            if field_name not in change.fields:
                continue
            value = change.fields[field_name]
            if value is None:
                value = ""
            elif not isinstance(value, (str, int, float, bool)) or (
                    isinstance(value, float) and not math.isfinite(value)):
                return {}, (f"merge field {tag} (from {field_name}) must be text, a number or a boolean, "
                            f"got {type(value).__name__}")
            merge_fields[tag] = value
        return merge_fields, None


def _email(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def _emails(items: Any) -> set[str]:
    return {item["email_address"].lower() for item in items or ()
            if isinstance(item, dict) and isinstance(item.get("email_address"), str)}


def _errors(items: Any) -> dict[str, tuple[str, str]]:
    """lower-cased email -> (error code, detail) from an answer's `errors`."""
    out: dict[str, tuple[str, str]] = {}
    for item in items or ():
        if isinstance(item, dict) and isinstance(item.get("email_address"), str):
            out[item["email_address"].lower()] = (str(item.get("error_code") or "ERROR"), str(item.get("error") or ""))
    return out
