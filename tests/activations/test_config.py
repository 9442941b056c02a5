"""Destinations file and audience meta: checked at definition load, every problem named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from activations.config import (
    DESTINATIONS_FILE,
    ActivationConfig,
    ActivationConfigError,
    audiences_from_manifest,
    load_destinations,
)
from activations.destinations.base import DestinationConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "destinations.yml"
    path.write_text(text)
    return path


def test_the_shipped_destinations_file_loads_with_the_local_defaults(tmp_path: Path) -> None:
    specs = load_destinations(DESTINATIONS_FILE, home=tmp_path, env={})
    assert {name: spec.type for name, spec in specs.items()} == {
        "email_platform": "esp", "ad_platform": "ads", "webhook": "webhook", "exports": "files"}
    assert specs["email_platform"].settings["base_url"] == "http://127.0.0.1:8771"
    assert specs["email_platform"].secret_variable == "CDP_ESP_TOKEN"
    assert load_destinations(DESTINATIONS_FILE, home=tmp_path, env={"CDP_ESP_URL": "https://esp.example"})[
        "email_platform"].settings["base_url"] == "https://esp.example"
    assert specs["exports"].build({}).folder == tmp_path / "exports"


def test_every_problem_of_the_destinations_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, """
destinations:
  big_batches:
    type: esp
    channel: email
    base_url: http://127.0.0.1:1
    token_env: ESP_TOKEN
    batch_size: 800
  no_channel:
    type: files
    folder: out
  mystery:
    type: carrier_pigeon
    channel: email
  typo:
    type: webhook
    channel: email
    url: http://127.0.0.1:2/hook
    secret_env: HOOK_SECRET
    retries: 3
  inline_secret:
    type: ads
    channel: ads
    base_url: http://127.0.0.1:3
    token_env: "ya29.a0-real-token"
  unset_variable:
    type: esp
    channel: email
    base_url: ${ESP_URL}
    token_env: ESP_TOKEN
""")
    with pytest.raises(ActivationConfigError) as raised:
        load_destinations(path, env={})
    message = str(raised.value)
    for expected in (
        "destination 'big_batches'", "800", "500",
        "destination 'no_channel': channel",
        "destination 'mystery': type must be one of esp, ads, webhook, files, got 'carrier_pigeon'",
        "destination 'typo': unknown setting(s) ['retries']",
        "destination 'inline_secret': token_env names an environment variable",
        "destination 'unset_variable': environment variable ESP_URL is not set",
    ):
        assert expected in message, (expected, message)
    assert len(raised.value.problems) == 6


def test_a_missing_file_or_a_bad_rate_limit_is_named(tmp_path: Path) -> None:
    with pytest.raises(ActivationConfigError, match="missing or empty"):
        load_destinations(tmp_path / "nowhere.yml")
    path = write(tmp_path, """
destinations:
  email_platform:
    type: esp
    channel: email
    base_url: http://127.0.0.1:1
    token_env: ESP_TOKEN
    rate_limit: {requests: 10, every: 1}
""")
    with pytest.raises(ActivationConfigError, match="destination 'email_platform': rate_limit takes requests and per_seconds"):
        load_destinations(path, env={})


def test_secrets_are_read_when_a_sync_builds_its_client(tmp_path: Path) -> None:
    spec = load_destinations(DESTINATIONS_FILE, home=tmp_path, env={})["email_platform"]
    with pytest.raises(DestinationConfigError, match="'email_platform': the environment variable CDP_ESP_TOKEN"):
        spec.build({})
    assert spec.build({"CDP_ESP_TOKEN": "t0ken"}).name == "email_platform"


def model(name: str, audience: Any, columns: tuple[str, ...] = ("customer_id", "email", "phone", "first_name")) -> dict:
    return {"resource_type": "model", "name": name, "schema": "audiences", "alias": name,
            "fqn": ["opencdp", "audiences", name], "original_file_path": f"models/audiences/{name}.sql",
            "columns": {column: {} for column in columns}, "config": {"meta": {"audience": audience}}}


def manifest(*models: dict) -> dict:
    return {"nodes": {f"model.opencdp.{m['name']}": m for m in models}}


@pytest.fixture
def destinations(tmp_path: Path):
    return load_destinations(DESTINATIONS_FILE, home=tmp_path, env={})


def test_audiences_come_from_model_meta(destinations) -> None:
    audiences = audiences_from_manifest(manifest(
        model("champions", {"schedule": "0 6 * * *", "destinations": {
            "email_platform": {"mode": "mirror", "fields": ["email", "first_name"]},
            "ad_platform": {"mode": "mirror", "fields": ["email", "phone"]}}}),
        {"resource_type": "model", "name": "not_an_audience", "config": {"meta": {}}},
    ), destinations)
    assert list(audiences) == ["champions"]
    spec = audiences["champions"]
    assert spec.relation == "audiences.champions" and spec.asset_path == ("audiences", "champions")
    assert spec.target("ad_platform").fields == ("email", "phone")
    assert spec.target("email_platform").mode == "mirror"


def test_every_problem_of_an_audience_is_named(destinations) -> None:
    with pytest.raises(ActivationConfigError) as raised:
        audiences_from_manifest(manifest(
            model("wrong", {"schedule": "every hour", "priority": "high", "destinations": {
                "crm": {"mode": "mirror", "fields": ["email"]},
                "email_platform": {"mode": "sync_everything", "fields": ["email", "lifetime_value"]},
                "ad_platform": {"mode": "mirror", "fields": ["email", "first_name"], "exclusive_group": "g"},
            }}),
            model("no_key", {"destinations": {"exports": {"fields": ["email"]}}}, columns=("email",)),
        ), destinations)
    message = str(raised.value)
    for expected in (
        "audience 'wrong' (models/audiences/wrong.sql): schedule 'every hour' is not a cron expression",
        "priority must be an integer, got 'high'",
        "-> 'crm': no such destination",
        "-> 'email_platform': mode must be one of upsert, mirror, add_only, got 'sync_everything'",
        "-> 'email_platform': field(s) ['lifetime_value'] are not documented columns of the model",
        "-> 'ad_platform': the destination does not take field(s) ['first_name']",
        "audience 'no_key' (models/audiences/no_key.sql): the model's YAML must document a customer_id column",
    ):
        assert expected in message, (expected, message)


def test_exclusive_groups_rank_audiences_by_priority(destinations) -> None:
    def ranked(name: str, priority: int) -> dict:
        return model(name, {"priority": priority, "destinations": {
            "email_platform": {"mode": "mirror", "fields": ["email"], "exclusive_group": "winback"},
            "exports": {"mode": "mirror", "fields": ["email"]}}})

    audiences = audiences_from_manifest(manifest(ranked("at_risk", 1), ranked("lapsed", 2), ranked("dormant", 3)),
                                        destinations)
    config = ActivationConfig(destinations, audiences)
    assert [a.name for a in config.outranking("dormant", audiences["dormant"].target("email_platform"))] == [
        "at_risk", "lapsed"]
    assert config.outranking("at_risk", audiences["at_risk"].target("email_platform")) == []
    assert config.outranking("dormant", audiences["dormant"].target("exports")) == []
    with pytest.raises(ActivationConfigError, match="share priority 1 in exclusive group 'winback'"):
        audiences_from_manifest(manifest(ranked("at_risk", 1), ranked("lapsed", 1)), destinations)
