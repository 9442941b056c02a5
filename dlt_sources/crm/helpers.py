"""HubSpot search paging, cursors, the archived-objects watermark and association rows for the CRM source."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
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
    first load of any size completes. When more records than that share one timestamp (a bulk
    import), it reads that timestamp on its own: `cursor EQ T` sorted by `hs_object_id`,
    restarting past the last id seen, then carries on with `cursor GT T`. Records at a restart
    boundary may be read twice; the merge on `id` keeps one.
    """

    ID_PROPERTY = "hs_object_id"

    def __init__(self, cursor_property: str, ceiling: int = SEARCH_RESULT_CEILING) -> None:
        super().__init__()
        self.cursor_property = cursor_property
        self.ceiling = ceiling
        self._reset()

    def _reset(self) -> None:
        self._after: str | None = None
        # the cursor's bound after a restart: ("GTE", T), ("EQ", T) while reading a tie by id, ("GT", T) past it
        self._bound: tuple[str, str] | None = None
        self._tie_after_id = 0
        self._changed = False
        self._groups: list[dict[str, Any]] | None = None  # the request's own filter groups

    def init_request(self, request: Request) -> None:
        self._reset()

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        body = response.json()
        next_after = ((body.get("paging") or {}).get("next") or {}).get("after")
        tied = self._bound is not None and self._bound[0] == "EQ"
        if next_after is None:
            if tied:  # every record at the tied timestamp is read: go on past it
                self._bound, self._after, self._changed = ("GT", self._bound[1]), None, True
            else:
                self._has_next_page = False
            return
        page_size = len(data or []) or SEARCH_PAGE_SIZE
        if int(next_after) + page_size <= self.ceiling:
            self._after = str(next_after)
            return
        last = (data or [{}])[-1]
        self._after, self._changed = None, True
        if tied:
            self._tie_after_id = int(last.get("id") or last.get("properties", {})[self.ID_PROPERTY])
            return
        last_seen = last.get("properties", {}).get(self.cursor_property)
        if last_seen is None:
            raise CrmSearchError(
                f"search reached {self.ceiling} results but the last record has no {self.cursor_property!r}"
            )
        restart = to_epoch_millis(last_seen)
        if self._bound == ("GTE", restart):
            # a whole search's worth of records share this timestamp: read it on its own, by id
            self._bound, self._tie_after_id = ("EQ", restart), 0
        else:
            self._bound = ("GTE", restart)

    def _filters(self, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert self._bound is not None
        operator, value = self._bound
        kept = [
            f for f in filters if not (f.get("propertyName") == self.cursor_property and f.get("operator") in ("GT", "GTE"))
        ]
        kept.append({"propertyName": self.cursor_property, "operator": operator, "value": value})
        if operator == "EQ":
            kept.append({"propertyName": self.ID_PROPERTY, "operator": "GT", "value": str(self._tie_after_id)})
        return kept

    def update_request(self, request: Request) -> None:
        body = dict(request.json or {})
        if self._changed:
            if self._groups is None:
                self._groups = body.get("filterGroups") or [{"filters": []}]
            body["filterGroups"] = [{**group, "filters": self._filters(group.get("filters", []))} for group in self._groups]
            tied = self._bound is not None and self._bound[0] == "EQ"
            body["sorts"] = [{"propertyName": self.ID_PROPERTY if tied else self.cursor_property, "direction": "ASCENDING"}]
            self._changed = False
        if self._after is None:
            body.pop("after", None)
        else:
            body["after"] = self._after
        request.json = body


def parse_timestamp(value: Any) -> datetime:
    """A UTC datetime from HubSpot's ISO-8601 text (`2026-01-02T03:04:05.678Z`) or epoch milliseconds."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=timezone.utc)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def server_time(response: Response, fallback_margin: timedelta = timedelta(minutes=5)) -> datetime:
    """When the CRM answered, by its own clock (the `Date` header, to the second).

    Without the header: the local clock less a margin for the two clocks' skew.
    """
    header = response.headers.get("Date")
    if header:
        try:
            return parsedate_to_datetime(header).astimezone(timezone.utc)
        except (TypeError, ValueError):
            pass
    return datetime.now(timezone.utc) - fallback_margin


class ArchivedWatermark:
    """Which archived objects a run loads, so that none is missed and none is loaded twice.

    HubSpot lists archived objects in id order and cannot filter them on `archivedAt`, so an
    object archived while a run pages through the list may land on a page already read, with
    an `archivedAt` older than others the run sees. The newest `archivedAt` seen is therefore
    not a safe cursor. This one is the moment the listing started, on the CRM's clock: every
    object archived before then was in the list. The next run loads what was archived from
    then on, less the objects (by id and `archivedAt`) this run already saw from then on.
    An object archived again after a restore has a new `archivedAt` and is loaded again.

    `state` is the resource's dlt state: it is committed only with a successful load.
    """

    def __init__(self, state: dict[str, Any]) -> None:
        self._state = state
        since = state.get("listed_since")
        self.since = parse_timestamp(since) if since else None
        self.seen = set(state.get("seen_since", ()))
        self.started: datetime | None = None
        self._recent: set[str] = set()

    def page(self, response: Response) -> None:
        """Notes the listing's start from its first page."""
        if self.started is None:
            self.started = server_time(response)

    def keep(self, record: dict[str, Any]) -> bool:
        """Whether the run loads this archived object (it was not loaded by an earlier run)."""
        assert self.started is not None, "page() comes before keep()"
        archived_at = parse_timestamp(record["archivedAt"])
        key = f"{record['id']}@{archived_at.isoformat()}"
        if archived_at >= self.started:
            self._recent.add(key)
        return self.since is None or (archived_at >= self.since and key not in self.seen)

    def commit(self) -> None:
        """Moves the watermark to this listing's start (call once the listing is complete)."""
        if self.started is not None:
            self._state["listed_since"] = self.started.isoformat()
            self._state["seen_since"] = sorted(self._recent)


def association_rows(from_id: str, links: list[dict[str, Any]], to_key: str = "contact_id", from_key: str = "deal_id") -> list[dict[str, Any]]:
    """One row per associated object, from the v4 associations of one object (all pages).

    An object with no associations left gets one `deleted` row: with the table merged on
    `from_key`, it removes the associations loaded before and is not stored itself.
    """
    if not links:
        return [{"id": f"{from_id}:", from_key: str(from_id), to_key: None, "deleted": True}]
    rows = []
    for link in links:
        types = link.get("associationTypes") or []
        labels = sorted({t["label"] for t in types if t.get("label")})
        rows.append(
            {
                "id": f"{from_id}:{link['toObjectId']}",
                from_key: str(from_id),
                to_key: str(link["toObjectId"]),
                "association_type_ids": ",".join(str(t) for t in sorted({int(t["typeId"]) for t in types})) or None,
                "association_labels": "; ".join(labels) or None,
                "deleted": False,
            }
        )
    return rows
