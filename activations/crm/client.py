"""The CRM as a sync-engine destination: platform fields written to HubSpot contact properties.

- upsert, for a change naming its contact (`contact_id`): `POST /crm/v3/objects/contacts/batch/update`
  with only the properties that differ from what the CRM was last known to hold (so a value
  someone edited in the CRM meanwhile is never rewritten with an unchanged one);
- upsert, for a change without a contact: `POST .../batch/upsert` by `email` (`idProperty`),
  which creates the contact, or updates the one a retry or a concurrent import already made:
  a re-sent batch never creates a second contact;
- remove: clears the platform-owned properties of the contact (the contact itself stays: it
  belongs to sales; deleting a person is the governance job's, not the sync's).

HubSpot answers a batch with some unknown or archived ids with 207 and `errors`: those records
fail (`OBJECT_NOT_FOUND: the contact was deleted in the CRM`) and the rest count. A whole
batch refused with 400 (one bad value refuses the batch) is retried one record at a time, so
the bad record fails with HubSpot's message and the others go through.

Each acknowledged record carries the contact's id and HubSpot's `updatedAt` in its ledger row:
the next pull recognizes its own writes by them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from activations.crm.config import CONTACT_ID, HUBSPOT_BATCH_MAX, PROPERTY_TYPES, FieldSpec
from activations.destinations.base import (
    DestinationAuthError,
    DestinationError,
    DestinationRequestError,
    HttpClient,
    HttpDestination,
    answer_json,
    check_secret,
)
from activations.engine import Change, RecordResult

NOT_FOUND = "OBJECT_NOT_FOUND"
DELETED = f"{NOT_FOUND}: the contact was deleted in the CRM"


class CrmDestination(HttpDestination):
    MAX_BATCH_SIZE = HUBSPOT_BATCH_MAX
    PLATFORM = "CRM"

    def __init__(
        self,
        name: str,
        base_url: str,
        token: str,
        *,
        fields: Iterable[FieldSpec],
        object_type: str = "contacts",
        property_group: str = "opencdp",
        batch_size: int = HUBSPOT_BATCH_MAX,
        **transport: Any,
    ) -> None:
        transport = self._setup(name, batch_size, transport)
        token = check_secret(self.name, "token", token)
        self.specs = {spec.name: spec for spec in fields if spec.owner != "crm"}
        self.object_type = object_type
        self.property_group = property_group
        self.fields: frozenset[str] | None = frozenset({CONTACT_ID, "email", *self.specs})
        self.key_fields = (CONTACT_ID,)  # another contact is a remove (clear) and an add
        self.http = HttpClient(self.name, base_url, {"Authorization": f"Bearer {token}"}, **transport)

    # -- properties --------------------------------------------------------------------------

    def ensure_properties(self) -> list[str]:
        """Creates the custom properties the push writes that the CRM does not have yet (and
        their group); returns the names created. HubSpot's own properties are left alone."""
        path = f"/crm/v3/properties/{self.object_type}"
        answer = answer_json(self.http.request("GET", path), self.name, ("results",))
        existing = {item.get("name") for item in answer["results"] if isinstance(item, dict)}
        missing = [spec for spec in self.specs.values() if spec.name not in existing]
        if not missing:
            return []
        try:
            self.http.request("POST", f"{path}/groups", json={"name": self.property_group,
                                                              "label": self.property_group.replace("_", " ").title()})
        except DestinationRequestError as error:
            if error.status != 409:  # 409: the group exists
                raise
        for spec in missing:
            kind, field_type = PROPERTY_TYPES[spec.type]
            try:
                self.http.request("POST", path, json={"name": spec.name, "label": spec.label, "type": kind,
                                                      "fieldType": field_type, "groupName": self.property_group})
            except DestinationRequestError as error:
                if error.status != 409:
                    raise
        return [spec.name for spec in missing]

    # -- the engine's contract -----------------------------------------------------------------

    def send(self, audience: str, operation: str, changes: Sequence[Change], idempotency_key: str) -> list[RecordResult]:
        self._check_operation(operation)
        results: dict[str, RecordResult] = {}
        updates: list[tuple[Change, dict[str, str]]] = []
        creates: list[tuple[Change, dict[str, str]]] = []
        for change in changes:
            contact = change.fields.get(CONTACT_ID)
            if operation == "remove":
                if contact:
                    updates.append((change, {name: "" for name, spec in self.specs.items() if spec.owner == "platform"}))
                else:  # never reached the CRM
                    results[change.customer_id] = RecordResult(change.customer_id, True)
                continue
            properties = {name: _text(value) for name, value in change.changed_fields().items() if name in self.specs}
            if contact:
                updates.append((change, properties))
            elif not change.fields.get("email"):
                results[change.customer_id] = RecordResult(change.customer_id, False,
                                                           "no contact and no email to create one by")
            else:
                creates.append((change, {**{k: v for k, v in properties.items() if v != ""},
                                         "email": str(change.fields["email"]).strip()}))
        nothing_to_write = [(c, p) for c, p in updates if not p]
        for change, _ in nothing_to_write:
            results[change.customer_id] = RecordResult(change.customer_id, True,
                                                       fields=_held(change, change.fields.get(CONTACT_ID)))
        updates = [(c, p) for c, p in updates if p]
        if updates:
            results.update(self._write("update", updates, idempotency_key, operation))
        if creates:
            results.update(self._write("upsert", creates, idempotency_key, operation))
        return [results[change.customer_id] for change in changes]

    def gdpr_delete(self, contact_id: str) -> bool:
        """Permanently deletes a contact (HubSpot's GDPR delete, not the archive that keeps it 90 days
        in the recycle bin). Returns False when the CRM has no such contact (deleted already)."""
        try:
            self.http.request("POST", f"/crm/v3/objects/{self.object_type}/gdpr-delete",
                              json={"objectId": str(contact_id)})
        except DestinationRequestError as error:
            if error.status == 404:
                return False
            raise
        return True

    def _write(self, action: str, group: list[tuple[Change, dict[str, str]]], key: str,
               operation: str) -> dict[str, RecordResult]:
        try:
            return self._batch(action, group, key, operation)
        except DestinationAuthError:
            raise
        except DestinationRequestError as error:
            if len(group) == 1:
                change = group[0][0]
                return {change.customer_id: RecordResult(change.customer_id, False, _message(error))}
        # one bad record refuses a whole HubSpot batch: find it by sending them one by one
        results: dict[str, RecordResult] = {}
        for index, item in enumerate(group):
            results.update(self._write(action, [item], f"{key}-{index}", operation))
        return results

    def _batch(self, action: str, group: list[tuple[Change, dict[str, str]]], key: str,
               operation: str) -> dict[str, RecordResult]:
        if action == "update":
            inputs = [{"id": str(change.fields[CONTACT_ID]), "properties": properties} for change, properties in group]
        else:
            inputs = [{"id": properties["email"], "idProperty": "email", "properties": properties}
                      for _, properties in group]
        response = self.http.request("POST", f"/crm/v3/objects/{self.object_type}/batch/{action}",
                                     json={"inputs": inputs}, idempotency_key=key)
        answer = answer_json(response, self.name, ("results",))
        by_id = {str(item.get("id")): item for item in answer["results"] if isinstance(item, dict)}
        by_email = {str((item.get("properties") or {}).get("email", "")).strip().lower(): item
                    for item in answer["results"] if isinstance(item, dict)}
        missing = _not_found(answer.get("errors"))
        other_errors = _error_text(answer.get("errors"))
        results = {}
        for change, properties in group:
            if action == "update":
                contact = str(change.fields[CONTACT_ID])
                item = by_id.get(contact)
                if item is None and operation == "remove" and contact in missing:
                    results[change.customer_id] = RecordResult(change.customer_id, True)  # gone already
                    continue
            else:
                item = by_email.get(properties["email"].lower())
            if item is None:
                if action == "update" and str(change.fields[CONTACT_ID]) in missing:
                    error = DELETED
                else:
                    error = other_errors or "the CRM's answer does not mention this contact"
                results[change.customer_id] = RecordResult(change.customer_id, False, error)
                continue
            contact = str(item.get("id"))
            results[change.customer_id] = RecordResult(
                change.customer_id, True, fields=None if operation == "remove" else _held(change, contact),
                acknowledgement={"contact_id": contact, "updated_at": item.get("updatedAt"),
                                 "created": action == "upsert" and _created(item)})
        return results


def _held(change: Change, contact: Any) -> dict[str, Any]:
    """What the CRM holds for the change now: its fields on that contact (no email: the CRM owns it)."""
    return {**{k: v for k, v in change.fields.items() if k != "email"}, CONTACT_ID: str(contact)}


def _created(item: Mapping[str, Any]) -> bool:
    if "new" in item:
        return bool(item["new"])
    return item.get("createdAt") is not None and item.get("createdAt") == item.get("updatedAt")


def _text(value: Any) -> str:
    """HubSpot property values are text; None clears a property."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _not_found(errors: Any) -> set[str]:
    ids: set[str] = set()
    for error in errors or ():
        if isinstance(error, dict) and error.get("category") == NOT_FOUND:
            ids |= {str(i) for i in ((error.get("context") or {}).get("ids") or ())}
    return ids


def _error_text(errors: Any) -> str | None:
    texts = [f"{e.get('category', 'ERROR')}: {e.get('message', '')}" for e in errors or ()
             if isinstance(e, dict) and e.get("category") != NOT_FOUND]
    return "; ".join(texts)[:300] if texts else None


def _message(error: DestinationError) -> str:
    return f"refused by the CRM ({error.status}): {error.detail or error}"
