"""The CRM over HubSpot's CRM API, read with dlt's `rest_api` source and REST client.

Resources (`resources=` loads a subset):

- `contacts`, `companies`, `deals`: read through the search endpoint, filtered on the last
  modification date (`GTE` the incremental cursor) and sorted ascending, so a re-run reads only
  what changed and merges it on `id`.
- `deal_contacts`: the contacts of each deal this run loaded, through the v4 associations
  endpoint, merged on `deal_id` so a deal ends up with exactly its current contacts (a deal
  left without any removes its old rows). A change of a deal's contacts reaches a run through
  the deal: HubSpot recounts the deal's `num_associated_contacts`, which moves its
  `hs_lastmodifieddate` (the local server does the same). One associations call per deal read.
- `owners`: the CRM users records are assigned to; small, replaced on every run.
- `archived_contacts`: contacts deleted (archived) in the CRM, from the list endpoint with
  `archived=true`, merged on `id`, incremental on `archivedAt` (see `ArchivedWatermark`):
  how the platform learns of deletions, which searches cannot show.

The same code reads HubSpot itself (base URL `https://api.hubapi.com` and a private-app token)
or the project's local CRM server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from dlt.sources.rest_api import rest_api_resources

from dlt_sources.crm.helpers import (
    ArchivedWatermark,
    HubSpotSearchPaginator,
    association_rows,
    to_epoch_millis,
)
from dlt_sources.crm.settings import (
    ARCHIVED_CONTACT_PROPERTIES,
    ASSOCIATIONS_PAGE_SIZE,
    ASSOCIATIONS_PATH,
    CURSOR_PROPERTIES,
    INITIAL_MODIFIED_AFTER,
    LIST_PAGE_SIZE,
    LIST_PATH,
    OBJECTS,
    OWNERS_PAGE_SIZE,
    OWNERS_PATH,
    RESOURCES,
    SEARCH_PAGE_SIZE,
    SEARCH_PATH,
)

MERGE = {"disposition": "merge", "strategy": "delete-insert"}


def _after_paginator() -> JSONResponseCursorPaginator:
    """HubSpot's list paging: `paging.next.after` in the body, `after` in the next request."""
    return JSONResponseCursorPaginator(cursor_path="paging.next.after", cursor_param="after")


def _search_resource(object_type: str, properties: list[str], text_properties: tuple[str, ...] = ()) -> dict[str, Any]:
    """`text_properties` get a text column from the first load on, even while every value is
    still empty (dlt creates no column for an all-null field and warns)."""
    cursor_property = CURSOR_PROPERTIES[object_type]
    return {
        "name": object_type,
        "primary_key": "id",
        "write_disposition": MERGE,
        "columns": {f"properties__{name}": {"data_type": "text", "nullable": True} for name in text_properties},
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


def _owners_resource() -> dict[str, Any]:
    return {
        "name": "owners",
        "primary_key": "id",
        "write_disposition": "replace",
        "endpoint": {
            "path": OWNERS_PATH,
            "params": {"limit": OWNERS_PAGE_SIZE, "archived": "false"},
            "data_selector": "results",
            "paginator": _after_paginator(),
        },
    }


def _deal_contacts(client: RESTClient) -> Any:
    @dlt.transformer(
        name="deal_contacts",
        primary_key="id",
        merge_key="deal_id",
        write_disposition=MERGE,
        columns={
            "deal_id": {"data_type": "text", "nullable": False},
            "contact_id": {"data_type": "text"},
            "association_type_ids": {"data_type": "text"},
            "association_labels": {"data_type": "text"},
            "deleted": {"data_type": "bool", "hard_delete": True},
        },
    )
    def deal_contacts(deals: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        """Deal -> contact associations (HubSpot v4) of the deals loaded in the same run, merged on `deal_id`."""
        rows: list[dict[str, Any]] = []
        for deal in deals:
            path = ASSOCIATIONS_PATH.format(from_type="deals", object_id=deal["id"], to_type="contacts")
            links = [
                link
                for page in client.paginate(
                    path, params={"limit": ASSOCIATIONS_PAGE_SIZE}, paginator=_after_paginator(), data_selector="results"
                )
                for link in page
            ]
            rows.extend(association_rows(deal["id"], links))
        yield rows

    return deal_contacts


def _archived_resource(client: RESTClient, object_type: str, properties: list[str]) -> DltResource:
    @dlt.resource(name=f"archived_{object_type}", primary_key="id", write_disposition=MERGE)
    def archived() -> Iterator[list[dict[str, Any]]]:
        """Objects archived (deleted) in the CRM, with `archivedAt`; incremental on `archivedAt`, merged on `id`."""
        watermark = ArchivedWatermark(dlt.current.resource_state())
        params = {"archived": "true", "limit": LIST_PAGE_SIZE, "properties": ",".join(properties)}
        for page in client.paginate(
            LIST_PATH.format(object_type=object_type), params=params, paginator=_after_paginator(), data_selector="results"
        ):
            watermark.page(page.response)
            kept = [record for record in page if watermark.keep(record)]
            if kept:
                yield kept
        watermark.commit()

    archived.__doc__ = f"CRM {object_type} archived (deleted) in the CRM, with `archivedAt`; merged on `id`."
    return archived


@dlt.source(name="crm")
def crm_source(
    base_url: str = dlt.config.value,
    access_token: str = dlt.secrets.value,
    resources: tuple[str, ...] = RESOURCES,
    extra_contact_properties: tuple[str, ...] = (),
) -> Any:
    """The CRM's contacts, companies, deals (changed since the last run, merged on `id`), the deals'
    contacts, the owners and the archived contacts.

    `resources` picks a subset of `RESOURCES` (`deal_contacts` needs `deals`).
    `extra_contact_properties`: contact properties read besides the standard ones (the CRM
    sync's fields, activations/crm_sync.yml), so the platform sees the CRM's side of them.
    """
    selected = tuple(resources)
    unknown = [name for name in selected if name not in RESOURCES]
    if unknown:
        raise ValueError(f"unknown CRM resource(s) {unknown}; known: {list(RESOURCES)}")
    if "deal_contacts" in selected and "deals" not in selected:
        raise ValueError("the CRM resource 'deal_contacts' reads the deals of the same run: select 'deals' too")
    properties = {name: list(OBJECTS[name]) for name in OBJECTS}
    properties["contacts"] += [name for name in extra_contact_properties if name not in properties["contacts"]]
    base_url = base_url.rstrip("/") + "/"
    config: Any = {
        "client": {"base_url": base_url, "auth": {"type": "bearer", "token": access_token}},
        "resources": [
            *(
                _search_resource(name, properties[name], extra_contact_properties if name == "contacts" else ())
                for name in RESOURCES
                if name in OBJECTS and name in selected
            ),
            *([_owners_resource()] if "owners" in selected else []),
        ],
    }
    by_name = {resource.name: resource for resource in (rest_api_resources(config) if config["resources"] else [])}
    client = RESTClient(base_url=base_url, auth=BearerTokenAuth(access_token))
    if "deal_contacts" in selected:
        by_name["deal_contacts"] = by_name["deals"] | _deal_contacts(client)
    if "archived_contacts" in selected:
        by_name["archived_contacts"] = _archived_resource(client, "contacts", ARCHIVED_CONTACT_PROPERTIES)
    yield from (by_name[name] for name in RESOURCES if name in selected)
