"""Destinations (`activations/destinations.yml`) and audiences (dbt models with `meta.audience`).

Both are read and checked when the Dagster definitions load, so a misconfigured destination
or audience fails there, with every problem named, and never halfway through a sync.

Destinations file:

    destinations:
      email_platform:
        type: esp                 # esp | ads | webhook | files
        channel: email            # the consent channel a member must have granted
        base_url: ${CDP_ESP_URL:-http://127.0.0.1:8771}
        token_env: CDP_ESP_TOKEN  # secrets are never written here: the variable that holds them
        batch_size: 500
        rate_limit: {requests: 10, per_seconds: 1}
        merge_fields: {FNAME: first_name}

`${VAR}` and `${VAR:-default}` in a value read the environment when the file loads; a relative
`folder` of a files destination is under the platform's home. Secrets (`token_env`,
`secret_env`) are read only when a sync builds its client.

An audience is a dbt model whose YAML declares where it goes:

    config:
      meta:
        audience:
          schedule: "0 6 * * *"       # optional cron (UTC)
          priority: 1                 # lower wins inside an exclusive group
          destinations:
            email_platform: {mode: mirror, fields: [email, first_name], exclusive_group: winback}
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from activations.engine import SYNC_MODES

DESTINATIONS_FILE = Path(__file__).resolve().parent / "destinations.yml"
CHANNELS = ("email", "sms", "ads", "phone", "post")
RESERVED_NAMES = ("membership",)  # asset names an activation asset must not take
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")

_CLIENT_KEYS = ("batch_size", "rate_limit", "timeout", "max_retries")
# per type: settings it takes beyond type/channel/description, and the secret's setting
TYPES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "esp": (("base_url", "token_env", "lists", "email_field", "merge_fields", *_CLIENT_KEYS), "token_env"),
    "ads": (("base_url", "token_env", "audiences", "email_field", "phone_field", "default_phone_region",
             *_CLIENT_KEYS), "token_env"),
    "webhook": (("url", "secret_env", *_CLIENT_KEYS), "secret_env"),
    "files": (("folder", "format", "batch_size"), None),
}
REQUIRED = {"esp": ("base_url", "token_env"), "ads": ("base_url", "token_env"), "webhook": ("url", "secret_env"),
            "files": ("folder",)}


class ActivationConfigError(ValueError):
    """The destinations file or an audience's meta is wrong; the message lists every problem."""

    def __init__(self, where: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{where}:\n" + "\n".join(f"  - {problem}" for problem in problems))


def read_config_file(path: Path, where: str, error: type[ActivationConfigError] = ActivationConfigError) -> Any:
    """A YAML settings file's document; a missing file or bad YAML raises `error` naming `where`."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except FileNotFoundError as missing:
        raise error(where, ["the file does not exist"]) from missing
    except yaml.YAMLError as bad:
        raise error(where, [f"not valid YAML: {bad}"]) from bad


@dataclass(frozen=True)
class DestinationSpec:
    name: str
    type: str
    channel: str
    settings: Mapping[str, Any]
    home: Path
    description: str = ""

    @property
    def secret_variable(self) -> str | None:
        key = TYPES[self.type][1]
        return self.settings.get(key) if key else None

    def build(self, env: Mapping[str, str] | None = None, *, resolve_secret: bool = True) -> Any:
        """The destination's client. Without `resolve_secret` a placeholder stands in for the
        secret (to check the settings when the definitions load)."""
        from activations.destinations.base import DestinationConfigError, RateLimit

        env = os.environ if env is None else env
        secret = "<not read at definition load>"
        if resolve_secret and self.secret_variable:
            secret = env.get(self.secret_variable, "")
            if not secret:
                raise DestinationConfigError(
                    f"destination {self.name!r}: the environment variable {self.secret_variable} "
                    f"({'token' if self.type != 'webhook' else 'signing secret'}) is not set")
        options = {key: value for key, value in self.settings.items() if key != TYPES[self.type][1]}
        if isinstance(options.get("rate_limit"), Mapping):
            limit = options["rate_limit"]
            unknown = set(limit) - {"requests", "per_seconds"}
            if unknown or "requests" not in limit:
                raise DestinationConfigError(
                    f"destination {self.name!r}: rate_limit takes requests and per_seconds, got {dict(limit)}")
            options["rate_limit"] = RateLimit(limit["requests"], limit.get("per_seconds", 1.0))
        if self.type == "esp":
            from activations.destinations.esp import EspDestination

            return EspDestination(self.name, options.pop("base_url"), secret, **options)
        if self.type == "ads":
            from activations.destinations.ads import AdsDestination

            return AdsDestination(self.name, options.pop("base_url"), secret, **options)
        if self.type == "webhook":
            from activations.destinations.webhook import WebhookDestination

            return WebhookDestination(self.name, options.pop("url"), secret, **options)
        from activations.destinations.files import FileDestination

        folder = Path(options.pop("folder"))
        return FileDestination(self.name, folder if folder.is_absolute() else self.home / folder,
                               file_format=options.pop("format", "csv"), **options)


@dataclass(frozen=True)
class AudienceTarget:
    destination: str
    mode: str
    fields: tuple[str, ...]
    exclusive_group: str | None = None


@dataclass(frozen=True)
class AudienceSpec:
    name: str
    unique_id: str
    schema: str
    relation: str  # schema.table, for the warehouse connection
    asset_path: tuple[str, ...]
    columns: tuple[str, ...]
    targets: tuple[AudienceTarget, ...]
    schedule: str | None = None
    priority: int | None = None
    description: str = ""

    def target(self, destination: str) -> AudienceTarget:
        for target in self.targets:
            if target.destination == destination:
                return target
        raise KeyError(f"audience {self.name!r} is not sent to {destination!r}")


@dataclass(frozen=True)
class ActivationConfig:
    destinations: dict[str, DestinationSpec]
    audiences: dict[str, AudienceSpec] = field(default_factory=dict)

    def outranking(self, audience: str, target: AudienceTarget) -> list[AudienceSpec]:
        """Audiences of the same exclusive group on the same destination that win over `audience`."""
        if target.exclusive_group is None:
            return []
        own = self.audiences[audience]
        rivals = []
        for other in self.audiences.values():
            if other.name == audience:
                continue
            for rival_target in other.targets:
                if (rival_target.destination, rival_target.exclusive_group) == (target.destination,
                                                                                target.exclusive_group):
                    if (other.priority, other.name) < (own.priority, own.name):
                        rivals.append(other)
        return rivals


# -- the destinations file -----------------------------------------------------------------


def interpolate(value: Any, env: Mapping[str, str], where: str, problems: list[str]) -> Any:
    """`${VAR}` / `${VAR:-default}` in strings, recursively; a missing variable without default is a problem."""
    if isinstance(value, str):
        def replace(match: re.Match[str]) -> str:
            name, default = match.group("name"), match.group("default")
            if name in env:
                return env[name]
            if default is None:
                problems.append(f"{where}: environment variable {name} is not set (write ${{{name}:-default}} "
                                f"for a default)")
                return ""
            return default
        return _VARIABLE.sub(replace, value)
    if isinstance(value, Mapping):
        return {key: interpolate(item, env, where, problems) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env, where, problems) for item in value]
    return value


def load_destinations(path: Path | str = DESTINATIONS_FILE, *, home: Path | str = ".",
                      env: Mapping[str, str] | None = None) -> dict[str, DestinationSpec]:
    """Reads and checks the destinations file; building each client checks its type's own limits."""
    from activations.destinations.base import DestinationConfigError

    env = os.environ if env is None else env
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text()) if path.exists() else None
    except yaml.YAMLError as error:
        raise ActivationConfigError(str(path), [f"not valid YAML: {error}"]) from None
    if document is None:
        raise ActivationConfigError(str(path), ["the file is missing or empty; it needs a `destinations:` mapping"])
    if not isinstance(document, Mapping) or not isinstance(document.get("destinations"), Mapping):
        raise ActivationConfigError(str(path), ["the file needs a top-level `destinations:` mapping of name to settings"])
    unknown_top = sorted(set(document) - {"destinations"})
    problems = [f"unknown top-level key(s) {unknown_top}" for _ in unknown_top[:1]]
    specs: dict[str, DestinationSpec] = {}
    for name, raw in document["destinations"].items():
        where = f"destination {name!r}"
        if not isinstance(name, str) or not _NAME.match(name) or name in RESERVED_NAMES:
            problems.append(f"{where}: a name is lower-case letters, digits and _ (and not {', '.join(RESERVED_NAMES)})")
            continue
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: settings must be a mapping")
            continue
        kind = raw.get("type")
        if kind not in TYPES:
            problems.append(f"{where}: type must be one of {', '.join(TYPES)}, got {kind!r}")
            continue
        channel = raw.get("channel")
        if channel not in CHANNELS:
            problems.append(f"{where}: channel (the consent a member must have granted) must be one of "
                            f"{', '.join(CHANNELS)}, got {channel!r}")
        allowed = TYPES[kind][0]
        settings = {key: value for key, value in raw.items() if key not in ("type", "channel", "description")}
        unknown = sorted(set(settings) - set(allowed))
        if unknown:
            problems.append(f"{where}: unknown setting(s) {unknown} for type {kind}; it takes {', '.join(allowed)}")
        missing = [key for key in REQUIRED[kind] if not settings.get(key)]
        if missing:
            problems.append(f"{where}: missing required setting(s) {missing}")
        if unknown or missing or channel not in CHANNELS:
            continue
        before = len(problems)
        settings = interpolate(settings, env, where, problems)
        secret_key = TYPES[kind][1]
        if secret_key and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(settings[secret_key])):
            problems.append(f"{where}: {secret_key} names an environment variable (never the secret itself), "
                            f"got {settings[secret_key]!r}")
        if len(problems) > before:
            continue
        spec = DestinationSpec(name, kind, channel, settings, Path(home), str(raw.get("description", "")))
        try:
            spec.build(env, resolve_secret=False)
        except (DestinationConfigError, TypeError, ValueError) as error:
            message = str(error)
            problems.append(message if message.startswith("destination ") else f"{where}: {message}")
            continue
        specs[name] = spec
    if problems:
        raise ActivationConfigError(str(path), problems)
    return specs


def accepted_fields(spec: DestinationSpec) -> frozenset[str] | None:
    """The change fields a destination takes (None: any)."""
    return spec.build({}, resolve_secret=False).fields


# -- audiences from the dbt manifest -------------------------------------------------------


def audiences_from_manifest(manifest: Mapping[str, Any], destinations: Mapping[str, DestinationSpec]) -> dict[str, AudienceSpec]:
    """Every dbt model with `meta.audience`, checked against the destinations and its own columns."""
    problems: list[str] = []
    audiences: dict[str, AudienceSpec] = {}
    accepted = {name: accepted_fields(spec) for name, spec in destinations.items()}
    for unique_id, node in sorted(manifest.get("nodes", {}).items()):
        if node.get("resource_type") != "model":
            continue
        meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
        if "audience" not in meta:
            continue
        name = node["name"]
        where = f"audience {name!r} ({node.get('original_file_path', unique_id)})"
        declared = meta["audience"]
        if not isinstance(declared, Mapping):
            problems.append(f"{where}: meta.audience must be a mapping")
            continue
        unknown = sorted(set(declared) - {"schedule", "priority", "destinations", "description"})
        if unknown:
            problems.append(f"{where}: unknown meta.audience key(s) {unknown}; it takes schedule, priority, destinations")
        columns = tuple(node.get("columns") or {})
        if "customer_id" not in columns:
            problems.append(f"{where}: the model's YAML must document a customer_id column")
        schedule = declared.get("schedule")
        if schedule is not None and not _valid_cron(schedule):
            problems.append(f"{where}: schedule {schedule!r} is not a cron expression")
        priority = declared.get("priority")
        if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)):
            problems.append(f"{where}: priority must be an integer, got {priority!r}")
        targets = []
        raw_targets = declared.get("destinations")
        if not isinstance(raw_targets, Mapping) or not raw_targets:
            problems.append(f"{where}: meta.audience.destinations must map destination names to {{mode, fields}}")
            raw_targets = {}
        for destination, raw in raw_targets.items():
            there = f"{where} -> {destination!r}"
            if destination not in destinations:
                problems.append(f"{there}: no such destination in the destinations file (known: "
                                f"{', '.join(sorted(destinations)) or 'none'})")
                continue
            if not isinstance(raw, Mapping):
                problems.append(f"{there}: settings must be a mapping with mode and fields")
                continue
            extra = sorted(set(raw) - {"mode", "fields", "exclusive_group"})
            if extra:
                problems.append(f"{there}: unknown setting(s) {extra}; it takes mode, fields, exclusive_group")
            mode = raw.get("mode", "upsert")
            if mode not in SYNC_MODES:
                problems.append(f"{there}: mode must be one of {', '.join(SYNC_MODES)}, got {mode!r}")
            fields = raw.get("fields")
            if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
                problems.append(f"{there}: fields must be a non-empty list of column names")
                continue
            undocumented = [f for f in fields if f not in columns]
            if undocumented:
                problems.append(f"{there}: field(s) {undocumented} are not documented columns of the model")
            refused = [f for f in fields if accepted[destination] is not None and f not in accepted[destination]]
            if refused:
                problems.append(f"{there}: the destination does not take field(s) {refused}; it takes "
                                f"{', '.join(sorted(accepted[destination] or ()))}")
            group = raw.get("exclusive_group")
            if group is not None and priority is None:
                problems.append(f"{there}: an exclusive_group needs the audience's priority")
            targets.append(AudienceTarget(destination, mode, tuple(fields), group))
        audiences[name] = AudienceSpec(
            name=name, unique_id=unique_id, schema=node["schema"], relation=f"{node['schema']}.{node['alias']}",
            asset_path=tuple(node["fqn"][1:]), columns=columns, targets=tuple(targets), schedule=schedule,
            priority=priority, description=node.get("description") or "")
    groups: dict[tuple[str, str], dict[int, str]] = {}
    for audience in audiences.values():
        for target in audience.targets:
            if target.exclusive_group is None or audience.priority is None:
                continue
            taken = groups.setdefault((target.destination, target.exclusive_group), {})
            if audience.priority in taken:
                problems.append(f"audiences {taken[audience.priority]!r} and {audience.name!r} share priority "
                                f"{audience.priority} in exclusive group {target.exclusive_group!r} on "
                                f"{target.destination!r}; priorities in a group must differ")
            taken[audience.priority] = audience.name
    if problems:
        raise ActivationConfigError("audiences (dbt models with meta.audience)", problems)
    return audiences


def load_config(manifest: Mapping[str, Any], *, path: Path | str = DESTINATIONS_FILE, home: Path | str = ".",
                env: Mapping[str, str] | None = None) -> ActivationConfig:
    destinations = load_destinations(path, home=home, env=env)
    return ActivationConfig(destinations, audiences_from_manifest(manifest, destinations))


def _valid_cron(value: Any) -> bool:
    from dagster._utils.schedules import is_valid_cron_string

    return isinstance(value, str) and is_valid_cron_string(value)
