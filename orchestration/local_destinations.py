"""The local stand-ins for the activation destinations, for `cdp demo` and `cdp ui`.

Starts the sample world's email platform, ad platform and webhook receiver on loopback
ports, creates a list / audience for every audience the dbt manifest sends there, and points
the destinations file's variables (`CDP_ESP_URL`, `CDP_ESP_TOKEN`, ...) at them. They keep
their state in memory: a restarted stand-in is empty while the warehouse still remembers
what it acknowledged, so the demo starts from a fresh warehouse.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCAL_TOKENS = {  # the stand-ins' own credentials, not secrets
    "CDP_ESP_TOKEN": "opencdp-local-esp",
    "CDP_ADS_TOKEN": "opencdp-local-ads",
    "CDP_WEBHOOK_SECRET": "opencdp-local-webhook-secret",
}
WEBHOOK_NAME = "audiences"


@dataclass
class LocalDestinations:
    esp: Any
    ads: Any
    webhook: Any
    env: dict[str, str]

    def holdings(self, config: Any) -> dict[tuple[str, str], int]:
        """(audience, destination) -> members the stand-in holds now (webhook: records delivered)."""
        held = {}
        for audience in config.audiences.values():
            for target in audience.targets:
                kind = config.destinations[target.destination].type
                if kind == "esp":
                    held[(audience.name, target.destination)] = len(self.esp.members(_list_id(config, audience.name, target.destination)))
                elif kind == "ads":
                    held[(audience.name, target.destination)] = len(self.ads.audience_members(
                        _list_id(config, audience.name, target.destination)))
                elif kind == "webhook":
                    held[(audience.name, target.destination)] = sum(
                        len(d.body.get("records", [])) for d in self.webhook.deliveries(WEBHOOK_NAME)
                        if d.body.get("audience") == audience.name)
        return held


def _list_id(config: Any, audience: str, destination: str) -> str:
    settings = config.destinations[destination].settings
    mapping = settings.get("lists") if config.destinations[destination].type == "esp" else settings.get("audiences")
    return (mapping or {}).get(audience, audience)


@contextmanager
def local_destinations(manifest_path: Path, settings: Any, env: Mapping[str, str] | None = None) -> Iterator[LocalDestinations]:
    """Runs the three stand-ins and sets `os.environ` for the destinations file while open."""
    from dlt_sources.sample_world.sandbox.ads import AdsServer
    from dlt_sources.sample_world.sandbox.esp import EspServer
    from dlt_sources.sample_world.sandbox.webhook import WebhookServer
    from orchestration.activation import load_activation_config
    from orchestration.settings import environment

    env = dict(os.environ if env is None else env)
    tokens = {name: env.get(name) or value for name, value in LOCAL_TOKENS.items()}
    with ExitStack() as stack:
        esp = stack.enter_context(EspServer(tokens["CDP_ESP_TOKEN"]))
        ads = stack.enter_context(AdsServer(tokens["CDP_ADS_TOKEN"]))
        webhook = stack.enter_context(WebhookServer(tokens["CDP_WEBHOOK_SECRET"]))
        variables = {**tokens, "CDP_ESP_URL": esp.base_url, "CDP_ADS_URL": ads.base_url,
                     "CDP_WEBHOOK_URL": f"{webhook.base_url}/hooks/{WEBHOOK_NAME}"}
        with environment(variables):
            config = load_activation_config(manifest_path, settings)
            for audience in config.audiences.values():
                for target in audience.targets:
                    spec = config.destinations[target.destination]
                    if spec.type == "esp":
                        esp.create_list(_list_id(config, audience.name, target.destination),
                                        merge_fields=tuple((spec.settings.get("merge_fields") or {}).keys()))
                    elif spec.type == "ads":
                        ads.create_audience(_list_id(config, audience.name, target.destination))
            yield LocalDestinations(esp, ads, webhook, variables)
