"""CRM contacts and companies over the HubSpot CRM v3 API, read with dlt's `rest_api` source.

Each object type is read through the search endpoint, filtered on its last-modified date
(`GTE` the incremental cursor) and sorted ascending, so a re-run reads only what changed and
merges it on `id`. The same code reads HubSpot itself (base URL `https://api.hubapi.com`
and a private-app token) or the project's local CRM server.
"""

from __future__ import annotations

from typing import Any

import dlt
from dlt.sources.rest_api import rest_api_resources

from dlt_sources.crm.helpers import HubSpotSearchPaginator, to_epoch_millis
from dlt_sources.crm.settings import (
    CURSOR_PROPERTIES,
    INITIAL_MODIFIED_AFTER,
    OBJECTS,
    SEARCH_PAGE_SIZE,
    SEARCH_PATH,
)


def _search_resource(object_type: str, properties: list[str]) -> dict[str, Any]:
    cursor_property = CURSOR_PROPERTIES[object_type]
    return {
        "name": object_type,
        "primary_key": "id",
        "write_disposition": {"disposition": "merge", "strategy": "delete-insert"},
        "endpoint": {
            "path": SEARCH_PATH.format(object_type=object_type),
            "method": "POST",
            "json": {
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": cursor_property,
                                "operator": "GTE",
                                "value": "{incremental.start_value}",
                            }
                        ]
                    }
                ],
                "sorts": [{"propertyName": cursor_property, "direction": "ASCENDING"}],
                "properties": properties,
                "limit": SEARCH_PAGE_SIZE,
            },
            "data_selector": "results",
            "paginator": HubSpotSearchPaginator(cursor_property),
            "incremental": {
                "cursor_path": "updatedAt",
                "initial_value": INITIAL_MODIFIED_AFTER,
                "convert": to_epoch_millis,
            },
        },
    }


@dlt.source(name="crm")
def crm_source(
    base_url: str = dlt.config.value,
    access_token: str = dlt.secrets.value,
    object_types: tuple[str, ...] = tuple(OBJECTS),
    extra_contact_properties: tuple[str, ...] = (),
) -> Any:
    """CRM objects changed since the last run (`contacts`, `companies`), merged on `id`.

    `extra_contact_properties`: contact properties read besides the standard ones (the CRM
    sync's fields, activations/crm_sync.yml), so the platform sees the CRM's side of them."""
    unknown = [name for name in object_types if name not in OBJECTS]
    if unknown:
        raise ValueError(f"unknown CRM object type(s) {unknown}; known: {list(OBJECTS)}")
    properties = {name: list(OBJECTS[name]) for name in object_types}
    if "contacts" in properties:
        properties["contacts"] += [name for name in extra_contact_properties if name not in properties["contacts"]]
    config: Any = {
        "client": {
            "base_url": base_url.rstrip("/") + "/",
            "auth": {"type": "bearer", "token": access_token},
        },
        "resources": [_search_resource(name, properties[name]) for name in object_types],
    }
    yield from rest_api_resources(config)
