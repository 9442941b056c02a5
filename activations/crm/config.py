"""The CRM sync file (`activations/crm_sync.yml`): field ownership and the contact-creation rule.

Read and checked when the Dagster definitions load; every problem is named at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activations.config import CHANNELS, ActivationConfigError, read_config_file

CRM_SYNC_FILE = Path(__file__).resolve().parent.parent / "crm_sync.yml"
OWNERS = ("platform", "crm", "both")
ON_CRM_EDIT = ("overwrite", "keep")
PROPERTY_TYPES = {"string": ("string", "text"), "number": ("number", "number"), "datetime": ("datetime", "date"),
                  "bool": ("bool", "booleancheckbox")}
IDENTIFIERS = ("email", "phone")
# HubSpot maintains these itself: the platform can never write them
READ_ONLY = frozenset({"hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"})
AUDIENCES_COLUMN = "audiences"  # `from: audiences`: the audiences the customer is in
CONTACT_ID = "contact_id"  # the payload field naming the CRM contact a change is for
_PROPERTY = re.compile(r"^[a-z][a-z0-9_]*$")
HUBSPOT_BATCH_MAX = 100


@dataclass(frozen=True)
class FieldSpec:
    name: str  # the CRM property
    owner: str
    source: str | None = None  # the customer_profiles column (`from`)
    type: str = "string"
    label: str = ""
    optional: bool = False
    on_crm_edit: str = "overwrite"


@dataclass(frozen=True)
class CreateRule:
    enabled: bool = True
    require: tuple[str, ...] = ("email",)
    consent: tuple[str, ...] = ("email",)
    recreate_deleted: bool = False


@dataclass(frozen=True)
class CrmSyncConfig:
    fields: Mapping[str, FieldSpec]
    create: CreateRule
    object_type: str = "contacts"
    batch_size: int = HUBSPOT_BATCH_MAX
    rate_limit: tuple[int, float] | None = None
    property_group: str = "opencdp"

    @property
    def written(self) -> list[FieldSpec]:
        """Fields the push writes (platform and both), in file order."""
        return [spec for spec in self.fields.values() if spec.owner != "crm"]

    @property
    def platform_fields(self) -> list[FieldSpec]:
        return [spec for spec in self.fields.values() if spec.owner == "platform"]

    @property
    def shared_fields(self) -> list[FieldSpec]:
        return [spec for spec in self.fields.values() if spec.owner == "both"]

    @property
    def pulled_properties(self) -> list[str]:
        """Every property the pull should read for the sync to see the CRM's side."""
        return list(self.fields)


def load_crm_sync_config(path: Path | None = None) -> CrmSyncConfig:
    path = path or CRM_SYNC_FILE
    where = f"CRM sync file {path}"
    return parse_crm_sync_config(read_config_file(path, where), where)


def parse_crm_sync_config(document: Any, where: str = "CRM sync settings") -> CrmSyncConfig:
    problems: list[str] = []
    section = document.get("crm_sync") if isinstance(document, Mapping) else None
    if not isinstance(section, Mapping):
        raise ActivationConfigError(where, ["expected a top-level `crm_sync:` mapping"])
    known = {"object", "batch_size", "rate_limit", "property_group", "fields", "on_crm_edit", "create_contacts"}
    problems += [f"unknown setting {key!r} (known: {', '.join(sorted(known))})" for key in section if key not in known]
    object_type = section.get("object", "contacts")
    if object_type != "contacts":
        problems.append(f"object: only `contacts` is synced, got {object_type!r}")
    batch_size = section.get("batch_size", HUBSPOT_BATCH_MAX)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= HUBSPOT_BATCH_MAX:
        problems.append(f"batch_size must be a whole number from 1 to {HUBSPOT_BATCH_MAX} (HubSpot's batch limit),"
                        f" got {batch_size!r}")
        batch_size = HUBSPOT_BATCH_MAX
    rate_limit = _rate_limit(section.get("rate_limit"), problems)
    group = section.get("property_group", "opencdp")
    if not isinstance(group, str) or not _PROPERTY.match(group):
        problems.append(f"property_group must be a lower-case name, got {group!r}")
    default_policy = section.get("on_crm_edit", "overwrite")
    if default_policy not in ON_CRM_EDIT:
        problems.append(f"on_crm_edit must be one of {', '.join(ON_CRM_EDIT)}, got {default_policy!r}")
        default_policy = "overwrite"
    fields = _fields(section.get("fields"), default_policy, problems)
    create = _create_rule(section.get("create_contacts", {}), problems)
    if problems:
        raise ActivationConfigError(where, problems)
    return CrmSyncConfig(fields=fields, create=create, object_type=object_type, batch_size=batch_size,
                         rate_limit=rate_limit, property_group=group)


def _rate_limit(value: Any, problems: list[str]) -> tuple[int, float] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - {"requests", "per_seconds"} or "requests" not in value:
        problems.append(f"rate_limit takes requests and per_seconds, got {value!r}")
        return None
    requests, per_seconds = value["requests"], value.get("per_seconds", 1.0)
    if not isinstance(requests, int) or requests < 1 or not isinstance(per_seconds, (int, float)) or per_seconds <= 0:
        problems.append(f"rate_limit needs a positive whole number of requests per positive seconds, got {dict(value)}")
        return None
    return requests, float(per_seconds)


def _fields(value: Any, default_policy: str, problems: list[str]) -> dict[str, FieldSpec]:
    if not isinstance(value, Mapping) or not value:
        problems.append("fields must map CRM property names to {owner: platform|crm|both, from: <column>}")
        return {}
    fields: dict[str, FieldSpec] = {}
    for name, spec in value.items():
        where = f"field {name!r}"
        if not isinstance(name, str) or not _PROPERTY.match(name):
            problems.append(f"{where}: a CRM property name is lower-case letters, digits and _")
            continue
        if not isinstance(spec, Mapping):
            problems.append(f"{where}: expected a mapping like {{owner: platform, from: <column>}}, got {spec!r}")
            continue
        unknown = set(spec) - {"owner", "from", "type", "label", "optional", "on_crm_edit"}
        if unknown:
            problems.append(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
        owner = spec.get("owner")
        if owner not in OWNERS:
            problems.append(f"{where}: owner must be one of {', '.join(OWNERS)}, got {owner!r}")
            continue
        source = spec.get("from")
        if owner == "crm":
            if source is not None:
                problems.append(f"{where}: a CRM-owned field is never written, so it takes no `from`")
            if "on_crm_edit" in spec:
                problems.append(f"{where}: on_crm_edit applies to platform-owned fields only")
        else:
            if not isinstance(source, str) or not source:
                problems.append(f"{where}: a {owner}-owned field needs `from`, the customer_profiles column it takes")
            if name in READ_ONLY:
                problems.append(f"{where}: HubSpot maintains {name} itself; it cannot be written")
            if name == "email":
                problems.append(f"{where}: email is the contact's identity in the CRM; the push sets it only when it "
                                f"creates a contact, so it must be owned by the crm")
        kind = spec.get("type", "string")
        if kind not in PROPERTY_TYPES:
            problems.append(f"{where}: type must be one of {', '.join(PROPERTY_TYPES)}, got {kind!r}")
            kind = "string"
        policy = spec.get("on_crm_edit", default_policy)
        if owner == "platform" and policy not in ON_CRM_EDIT:
            problems.append(f"{where}: on_crm_edit must be one of {', '.join(ON_CRM_EDIT)}, got {policy!r}")
        if owner == "both" and "on_crm_edit" in spec:
            problems.append(f"{where}: a field both own follows the last-writer rule; on_crm_edit does not apply")
        fields[name] = FieldSpec(name=name, owner=owner, source=source, type=kind, label=str(spec.get("label") or name),
                                 optional=bool(spec.get("optional", False)), on_crm_edit=policy)
    if "email" not in fields:
        problems.append("fields must name `email` (owner: crm): the pull reads it and new contacts are created by it")
    return fields


def _create_rule(value: Any, problems: list[str]) -> CreateRule:
    if not isinstance(value, Mapping):
        problems.append(f"create_contacts must be a mapping, got {value!r}")
        return CreateRule()
    unknown = set(value) - {"enabled", "require", "consent", "recreate_deleted"}
    if unknown:
        problems.append(f"create_contacts: unknown setting(s) {', '.join(sorted(unknown))}")
    require = tuple(value.get("require", ("email",)) or ())
    consent = tuple(value.get("consent", ("email",)) or ())
    bad = [item for item in require if item not in IDENTIFIERS]
    if bad:
        problems.append(f"create_contacts.require: identifiers are {', '.join(IDENTIFIERS)}, got {', '.join(map(str, bad))}")
    if "email" not in require and value.get("enabled", True):
        problems.append("create_contacts.require must include email: a CRM contact is created by its email")
    bad = [item for item in consent if item not in CHANNELS]
    if bad:
        problems.append(f"create_contacts.consent: channels are {', '.join(CHANNELS)}, got {', '.join(map(str, bad))}")
    for flag in ("enabled", "recreate_deleted"):
        if flag in value and not isinstance(value[flag], bool):
            problems.append(f"create_contacts.{flag} must be true or false, got {value[flag]!r}")
    return CreateRule(enabled=bool(value.get("enabled", True)), require=require, consent=consent,
                      recreate_deleted=bool(value.get("recreate_deleted", False)))
