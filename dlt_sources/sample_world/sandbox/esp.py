"""A local email platform (ESP) with a Mailchimp-like list members API, for testing activations.

Lists belong to the server's Python API (`create_list`), members to the HTTP API:

- `POST /v1/lists/{list_id}/members:batch` upserts up to 500 members by lower-cased email:
  `{"members": [{"email_address", "status": "subscribed"|"unsubscribed", "merge_fields"}],
  "update_existing": bool}` -> `{"new_members", "updated_members", "errors", "total_created",
  "total_updated", "error_count"}`. Records fail one by one (`errors`, the rest applies):
  `ERROR_INVALID_EMAIL`, `ERROR_UNKNOWN_MERGE_FIELD` (not defined on the list),
  `ERROR_CONTACT_EXISTS_COMPLIANCE` (an email the test put on the list's rejected set) and
  `ERROR_MEMBER_EXISTS` (an active member when `update_existing` is false). A malformed
  request (not a list of member objects, a bad status, a non-scalar merge field) fails whole.
- `POST /v1/lists/{list_id}/members:batch-remove` `{"emails": [...]}` (500 at most) archives
  members -> `{"removed", "errors"}`; an email never on the list is `ERROR_NOT_FOUND`, one
  already archived counts as removed.
- `POST /v1/lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent` forgets a member
  for good (Mailchimp's permanent delete, for erasure requests): 204, or 404 when the list has
  no such member.
- `GET /v1/lists/{list_id}/members?offset=&count=` (count 1000 at most, 10 by default) pages
  through the active (not archived) members in the order they were first added.

A member's `id` is Mailchimp's subscriber hash, the MD5 of the lower-cased email. Re-adding an
archived member makes it active again (with its old merge fields) and counts as new. Updates
merge the given merge fields into the member's. Every call needs `Authorization: Bearer <token>`
(401 otherwise); errors are `{"status", "title", "detail"}`; see `dlt_sources.sample_world.sandbox.base` for
rate limits, faults, idempotency keys and the request log.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from dlt_sources.sample_world.sandbox.base import ApiError, BearerAuthServer, Request

BATCH_MAX = 500
PAGE_COUNT_MAX = 1000
PAGE_COUNT_DEFAULT = 10
MEMBER_STATUSES = ("subscribed", "unsubscribed")
ARCHIVED = "archived"
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
SCALARS = (str, int, float, bool, type(None))
TITLES = {400: "Invalid Resource", 401: "API Key Invalid", 404: "Resource Not Found"}
_PATH = re.compile(r"/v1/lists/(?P<list_id>[^/]+)/members(?P<action>:batch|:batch-remove)?")
_DELETE_PATH = re.compile(r"/v1/lists/(?P<list_id>[^/]+)/members/(?P<member>[0-9a-f]{32})/actions/delete-permanent")


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 hex digest of the lower-cased email."""
    return hashlib.md5(email.lower().encode()).hexdigest()  # noqa: S324 - an identifier, not security


@dataclass
class _List:
    merge_fields: frozenset[str]
    members: dict[str, dict[str, Any]] = field(default_factory=dict)  # by lower-cased email
    rejected: set[str] = field(default_factory=set)  # lower-cased emails


class EspServer(BearerAuthServer):
    """The ESP API, with a Python API for tests to set up lists and read them back."""

    def __init__(
        self, token: str, *, host: str = "127.0.0.1", port: int = 0, rate_limit: tuple[int, float] | None = None
    ) -> None:
        super().__init__(token, host=host, port=port, rate_limit=rate_limit)
        self._lists: dict[str, _List] = {}

    # -- Python API -------------------------------------------------------------------------

    def create_list(self, list_id: str, merge_fields: Iterable[str] = ("FNAME", "LNAME")) -> None:
        """Creates an empty list (an "audience") that accepts the given merge fields."""
        with self._state_lock:
            if list_id in self._lists:
                raise ValueError(f"list {list_id!r} exists already")
            self._lists[list_id] = _List(frozenset(merge_fields))

    def reject_emails(self, list_id: str, emails: Iterable[str]) -> None:
        """Makes upserts of these emails fail with `ERROR_CONTACT_EXISTS_COMPLIANCE` (partial failures)."""
        with self._state_lock:
            self._lists[list_id].rejected.update(email.lower() for email in emails)

    def accept_emails(self, list_id: str, emails: Iterable[str]) -> None:
        """Undoes `reject_emails` for these emails (the compliance hold was lifted)."""
        with self._state_lock:
            self._lists[list_id].rejected.difference_update(email.lower() for email in emails)

    def members(self, list_id: str, include_archived: bool = False) -> dict[str, dict[str, Any]]:
        """The list's members by lower-cased email: `id`, `email_address`, `status`, `merge_fields`
        (a copy); archived members (status `archived`) only with `include_archived`."""
        with self._state_lock:
            return {
                email: {**member, "merge_fields": dict(member["merge_fields"])}
                for email, member in self._lists[list_id].members.items()
                if include_archived or member["status"] != ARCHIVED
            }

    # -- HTTP API ---------------------------------------------------------------------------

    def _delete_permanent(self, list_id: str, member_id: str) -> tuple[int, Any]:
        members_list = self._lists.get(list_id)
        if members_list is None:
            raise ApiError(404, f"the list {list_id!r} could not be found")
        email = next((key for key, member in members_list.members.items() if member["id"] == member_id), None)
        if email is None:
            raise ApiError(404, f"the list has no member {member_id}")
        del members_list.members[email]
        return 204, None

    def error_body(self, error: ApiError) -> dict[str, Any]:
        title = TITLES.get(error.status) or HTTPStatus(error.status).phrase
        return {"status": error.status, "title": title, "detail": error.message}

    def route(self, request: Request) -> tuple[int, Any]:
        erase = _DELETE_PATH.fullmatch(request.path)
        if erase is not None and request.method == "POST":
            return self._delete_permanent(unquote(erase["list_id"]), erase["member"])
        match = _PATH.fullmatch(request.path)
        if match is None:
            raise ApiError(404, f"no route for {request.method} {request.path}")
        list_id = unquote(match["list_id"])
        members_list = self._lists.get(list_id)
        if members_list is None:
            raise ApiError(404, f"the list {list_id!r} could not be found")
        action = match["action"]
        expected = "GET" if action is None else "POST"
        if request.method != expected:
            raise ApiError(405, f"{request.method} is not allowed on {request.path}; use {expected}")
        if action is None:
            return 200, _page(members_list, request.query)
        if action == ":batch":
            return 200, _upsert(members_list, request.body)
        return 200, _remove(members_list, request.body)


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def _upsert(members_list: _List, body: Any) -> dict[str, Any]:
    """Validates the whole batch's structure first (a malformed batch changes nothing), then
    upserts member by member."""
    request = _object(body)
    members = request.get("members")
    if not isinstance(members, list):
        raise ApiError(400, "`members` must be a list")
    if len(members) > BATCH_MAX:
        raise ApiError(400, f"at most {BATCH_MAX} members per batch, got {len(members)}")
    update_existing = request.get("update_existing", False)
    if not isinstance(update_existing, bool):
        raise ApiError(400, "`update_existing` must be a boolean")
    for index, member in enumerate(members):
        _check_member(index, member)

    new: list[dict[str, str]] = []
    updated: list[dict[str, str]] = []
    errors: list[dict[str, str]] = []
    for member in members:
        email = member["email_address"]
        key = email.lower()
        merge_fields = member.get("merge_fields") or {}
        unknown = sorted(set(merge_fields) - members_list.merge_fields)
        existing = members_list.members.get(key)
        active = existing is not None and existing["status"] != ARCHIVED
        if not EMAIL_PATTERN.fullmatch(email):
            message = f"{email} looks fake or invalid, please enter a real email address."
            errors.append(_error(email, message, "ERROR_INVALID_EMAIL"))
        elif unknown:
            errors.append(_error(email, f"the list has no merge field {', '.join(unknown)}", "ERROR_UNKNOWN_MERGE_FIELD"))
        elif key in members_list.rejected:
            message = f"{email} is in a compliance state and cannot be subscribed."
            errors.append(_error(email, message, "ERROR_CONTACT_EXISTS_COMPLIANCE"))
        elif active and not update_existing:
            errors.append(_error(email, f"{email} is already a list member.", "ERROR_MEMBER_EXISTS"))
        elif active:
            existing.update(email_address=email, status=member["status"])
            existing["merge_fields"].update(merge_fields)
            updated.append({"email_address": email, "id": existing["id"]})
        else:
            kept = existing["merge_fields"] if existing is not None else {}
            members_list.members[key] = {
                "id": subscriber_hash(email),
                "email_address": email,
                "status": member["status"],
                "merge_fields": {**kept, **merge_fields},
            }
            new.append({"email_address": email, "id": subscriber_hash(email)})
    return {
        "new_members": new,
        "updated_members": updated,
        "errors": errors,
        "total_created": len(new),
        "total_updated": len(updated),
        "error_count": len(errors),
    }


def _check_member(index: int, member: Any) -> None:
    if not isinstance(member, dict):
        raise ApiError(400, f"members[{index}] must be an object")
    if not isinstance(member.get("email_address"), str):
        raise ApiError(400, f"members[{index}].email_address must be a string")
    if member.get("status") not in MEMBER_STATUSES:
        allowed = ", ".join(MEMBER_STATUSES)
        raise ApiError(400, f"members[{index}].status must be one of {allowed}, got {member.get('status')!r}")
    merge_fields = member.get("merge_fields", {})
    if not isinstance(merge_fields, dict):
        raise ApiError(400, f"members[{index}].merge_fields must be an object")
    for name, value in merge_fields.items():
        if not isinstance(value, SCALARS):
            raise ApiError(400, f"members[{index}].merge_fields.{name} must be a string, number, boolean or null")


def _remove(members_list: _List, body: Any) -> dict[str, Any]:
    emails = _object(body).get("emails")
    if not isinstance(emails, list) or not all(isinstance(email, str) for email in emails):
        raise ApiError(400, "`emails` must be a list of strings")
    if len(emails) > BATCH_MAX:
        raise ApiError(400, f"at most {BATCH_MAX} emails per batch, got {len(emails)}")
    removed: list[dict[str, str]] = []
    errors: list[dict[str, str]] = []
    for email in emails:
        member = members_list.members.get(email.lower())
        if member is None:
            errors.append(_error(email, f"{email} is not a member of this list", "ERROR_NOT_FOUND"))
            continue
        member["status"] = ARCHIVED
        removed.append({"email_address": member["email_address"], "id": member["id"]})
    return {"removed": removed, "errors": errors}


def _page(members_list: _List, query: dict[str, str]) -> dict[str, Any]:
    offset = _int_param(query, "offset", 0)
    count = _int_param(query, "count", PAGE_COUNT_DEFAULT)
    if offset < 0:
        raise ApiError(400, f"offset must be >= 0, got {offset}")
    if not 1 <= count <= PAGE_COUNT_MAX:
        raise ApiError(400, f"count must be between 1 and {PAGE_COUNT_MAX}, got {count}")
    active = [member for member in members_list.members.values() if member["status"] != ARCHIVED]
    return {
        "members": [{**member, "merge_fields": dict(member["merge_fields"])} for member in active[offset : offset + count]],
        "total_items": len(active),
    }


def _int_param(query: dict[str, str], name: str, default: int) -> int:
    try:
        return int(query.get(name, default))
    except ValueError:
        raise ApiError(400, f"{name} must be an integer, got {query[name]!r}") from None


def _error(email: str, message: str, code: str) -> dict[str, str]:
    return {"email_address": email, "error": message, "error_code": code}
