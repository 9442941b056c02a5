"""HubSpot search paging and cursor conversion for the CRM source."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response

from dlt_sources.crm.settings import SEARCH_PAGE_SIZE, SEARCH_RESULT_CEILING


class CrmSearchError(RuntimeError):
    """The CRM search cannot make progress (e.g. more records share one timestamp than a search can page)."""


def to_epoch_millis(value: Any) -> str:
    """HubSpot search filters take datetimes as epoch milliseconds; accepts ISO strings or datetimes."""
    if isinstance(value, (int, float)):
        return str(int(value))
    if isinstance(value, str):
        if value.isdigit():
            return value
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return str(int(value.timestamp() * 1000))


class HubSpotSearchPaginator(BasePaginator):
    """Pages `POST .../search` by the body's `after`, sorted ascending on the cursor property.

    HubSpot refuses to page a search past 10,000 results. Before reaching that ceiling the
    paginator restarts the search with the filter moved up to the last cursor value seen, so a
    first load of any size completes. Records sharing that exact timestamp may be read twice;
    the merge on `id` keeps one.
    """

    def __init__(self, cursor_property: str, ceiling: int = SEARCH_RESULT_CEILING) -> None:
        super().__init__()
        self.cursor_property = cursor_property
        self.ceiling = ceiling
        self._after: str | None = None
        self._restart_from: str | None = None
        self._last_restart: str | None = None

    def init_request(self, request: Request) -> None:
        self._after = None
        self._restart_from = None
        self._last_restart = None

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        body = response.json()
        next_after = ((body.get("paging") or {}).get("next") or {}).get("after")
        if next_after is None:
            self._has_next_page = False
            return
        page_size = len(data or []) or SEARCH_PAGE_SIZE
        if int(next_after) + page_size > self.ceiling:
            last_seen = (data or [{}])[-1].get("properties", {}).get(self.cursor_property)
            if last_seen is None:
                raise CrmSearchError(
                    f"search reached {self.ceiling} results but the last record has no {self.cursor_property!r}"
                )
            restart = to_epoch_millis(last_seen)
            if restart == self._last_restart:
                raise CrmSearchError(
                    f"more than {self.ceiling} CRM records share {self.cursor_property} = {last_seen}; "
                    "the search API cannot page past them"
                )
            self._restart_from = restart
            self._after = None
        else:
            self._after = str(next_after)

    def update_request(self, request: Request) -> None:
        body = dict(request.json or {})
        if self._restart_from is not None:
            groups = []
            for group in body.get("filterGroups", []):
                filters = [
                    {**f, "value": self._restart_from}
                    if f.get("propertyName") == self.cursor_property and f.get("operator") in ("GT", "GTE")
                    else f
                    for f in group.get("filters", [])
                ]
                groups.append({**group, "filters": filters})
            body["filterGroups"] = groups
            self._last_restart = self._restart_from
            self._restart_from = None
        if self._after is None:
            body.pop("after", None)
        else:
            body["after"] = self._after
        request.json = body
