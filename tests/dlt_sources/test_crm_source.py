"""The CRM source (dlt rest_api over HubSpot's search, list and v4 association APIs) against the local CRM server."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from dlt_sources.crm import crm_source
from dlt_sources.crm.helpers import ArchivedWatermark
from dlt_sources.sample_world.crm_server import CrmServer, CrmStore
from tests.dlt_sources.loading import query, run_source

TOKEN = "crm-test-token"


def contacts_in_truth(world: Path) -> int:
    with (world / "ground_truth" / "records.csv").open(newline="") as handle:
        return sum(1 for row in csv.DictReader(handle) if (row["source"], row["table"]) == ("crm", "contacts"))


def seed_lines(world: Path, name: str) -> list[dict]:
    with (world / "systems" / "crm_seed" / f"{name}.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def seeded_links(world: Path) -> dict[str, set[str]]:
    links: dict[str, set[str]] = defaultdict(set)
    for link in seed_lines(world, "deal_contacts"):
        links[link["dealId"]].add(link["contactId"])
    return links


def loaded_links(workdir: Path) -> dict[str, set[str]]:
    links: dict[str, set[str]] = defaultdict(set)
    for deal_id, contact_id in query(workdir, "select deal_id, contact_id from raw_crm.deal_contacts"):
        links[deal_id].add(contact_id)
    return links


def distinct_counts(workdir: Path, table: str) -> tuple[int, int]:
    return query(workdir, f"select count(*), count(distinct id) from raw_crm.{table}")[0]


@pytest.fixture
def seeded(small_world: Path, tmp_path: Path) -> CrmStore:
    store = CrmStore(tmp_path / "crm.sqlite")
    store.seed_from_jsonl(small_world / "systems" / "crm_seed")
    return store


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """dlt retries failed calls with backoff (1, 2, 4, 8 s by default); two quick attempts in these tests."""
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0")


def test_loads_every_contact_then_only_changes_merged_by_id(small_world: Path, tmp_path: Path) -> None:
    store = CrmStore(tmp_path / "crm.sqlite")
    store.seed_from_jsonl(small_world / "systems" / "crm_seed")
    owners = len(seed_lines(small_world, "owners"))  # replaced on every run
    with CrmServer(tmp_path / "crm.sqlite", token=TOKEN) as server:
        source = lambda: crm_source(base_url=server.base_url, access_token=TOKEN)  # noqa: E731
        first = run_source("crm", source(), tmp_path)
        assert first["contacts"] == contacts_in_truth(small_world)
        assert first["companies"] > 0
        assert run_source("crm", source(), tmp_path) == {"owners": owners}

        store.update("contacts", 1001, {"lifecyclestage": "evangelist", "phone": "+1 415 555 0199"})
        store.create("contacts", {"email": "brand.new@example.com", "firstname": "Brand"})
        assert run_source("crm", source(), tmp_path) == {"contacts": 2, "owners": owners}
    assert query(tmp_path, "select count(*), count(distinct id) from raw_crm.contacts")[0] == (first["contacts"] + 1,) * 2
    assert query(tmp_path, "select properties__lifecyclestage from raw_crm.contacts where id = '1001'") == [("evangelist",)]


def test_a_bad_token_fails_with_the_api_answer(tmp_path: Path) -> None:
    with CrmServer(tmp_path / "crm.sqlite", token=TOKEN) as server:
        with pytest.raises(PipelineStepFailed, match="401"):
            run_source("crm", crm_source(base_url=server.base_url, access_token="wrong"), tmp_path)


def test_rate_limits_are_waited_out(small_world: Path, tmp_path: Path) -> None:
    CrmStore(tmp_path / "crm.sqlite").seed_from_jsonl(small_world / "systems" / "crm_seed")
    with CrmServer(tmp_path / "crm.sqlite", token=TOKEN, rate_limit=(1, 1.0)) as server:
        loaded = run_source("crm", crm_source(base_url=server.base_url, access_token=TOKEN, resources=("contacts", "companies", "owners")), tmp_path)
        assert server.rate_limited > 0
    assert loaded["contacts"] == contacts_in_truth(small_world)


def test_searches_beyond_ten_thousand_results_restart_from_the_last_date(tmp_path: Path) -> None:
    store = CrmStore(tmp_path / "crm.sqlite")
    store.bulk_insert("contacts", ({"email": f"bulk{n}@example.com"} for n in range(10_250)))
    with CrmServer(tmp_path / "crm.sqlite", token=TOKEN) as server:
        run_source("crm", crm_source(base_url=server.base_url, access_token=TOKEN, resources=("contacts",)), tmp_path)
    assert query(tmp_path, "select count(*), count(distinct id) from raw_crm.contacts")[0] == (10_250, 10_250)


def test_unknown_resources_are_named() -> None:
    with pytest.raises(ValueError, match=r"unknown CRM resource\(s\) \['tickets'\]"):
        crm_source(base_url="http://127.0.0.1:1", access_token="x", resources=("contacts", "tickets"))
    with pytest.raises(ValueError, match="select 'deals' too"):
        crm_source(base_url="http://127.0.0.1:1", access_token="x", resources=("deal_contacts",))


def test_more_records_at_one_timestamp_than_a_search_pages_are_read_by_id(tmp_path: Path) -> None:
    """A bulk import stamps >10,000 contacts with one lastmodifieddate; those are paged by id."""
    store = CrmStore(tmp_path / "crm.sqlite")
    store.bulk_insert("contacts", ({"email": f"early{n}@example.com"} for n in range(30)))
    tied_at = 1_790_000_000_000
    store.bulk_insert("contacts", ({"email": f"tied{n}@example.com"} for n in range(20_150)), modified_at=tied_at)
    store.bulk_insert("contacts", ({"email": f"late{n}@example.com"} for n in range(40)), modified_at=tied_at + 1)
    with CrmServer(tmp_path / "crm.sqlite", token=TOKEN) as server:
        source = lambda: crm_source(base_url=server.base_url, access_token=TOKEN, resources=("contacts",))  # noqa: E731
        run_source("crm", source(), tmp_path)
        assert query(tmp_path, "select count(*), count(distinct id) from raw_crm.contacts")[0] == (20_220, 20_220)
        store.update("contacts", 5, {"firstname": "Edited"})
        assert run_source("crm", source(), tmp_path) == {"contacts": 1}
    assert query(tmp_path, "select properties__firstname from raw_crm.contacts where id = '5'") == [("Edited",)]


# -- deals, their contacts, owners -------------------------------------------------------------


def test_deals_their_contacts_and_owners_load_as_seeded_then_only_changes(
    small_world: Path, seeded: CrmStore, tmp_path: Path
) -> None:
    deals, owners = seed_lines(small_world, "deals"), seed_lines(small_world, "owners")
    links = seeded_links(small_world)
    assert len(deals) > 20 and len(owners) >= 2 and len(links) < len(deals)  # some deals have no contact
    with CrmServer(seeded.path, token=TOKEN) as server:
        source = lambda: crm_source(base_url=server.base_url, access_token=TOKEN)  # noqa: E731
        first = run_source("crm", source(), tmp_path)
        assert first["deals"] == len(deals) and first["owners"] == len(owners)
        # a row per deal and contact, and for a deal without contacts one `deleted` row (not stored)
        assert first["deal_contacts"] == sum(len(c) for c in links.values()) + len(deals) - len(links)
        assert loaded_links(tmp_path) == links
        # one search feeds both the deals and their contacts; one associations call per deal
        assert server.requests.count(("POST", "/crm/v3/objects/deals/search")) == 1
        assert sum("/associations/contacts" in path for _, path in server.requests) == len(deals)
        assert query(tmp_path, "select id, email from raw_crm.owners order by id") == sorted((o["id"], o["email"]) for o in owners)
        assert query(tmp_path, "select count(*) from raw_crm.deals where properties__dealstage = 'closedwon'")[0][0] == sum(
            d["properties"]["dealstage"] == "closedwon" for d in deals)
        assert run_source("crm", source(), tmp_path) == {"owners": len(owners)}

        # in the CRM: a deal edited, one gains two contacts, one loses one of two, one loses its only contact
        two = next(d for d, c in links.items() if len(c) == 2)
        one = next(d for d, c in links.items() if len(c) == 1)
        edited = next(d["id"] for d in deals if d["id"] not in (two, one))
        gaining = next(d["id"] for d in deals if d["id"] not in links)
        dropped, orphaned = min(links[two]), next(iter(links[one]))
        added = [c for c in ("1001", "1002", "1003", "1004") if c not in (dropped, orphaned)][:2]
        seeded.update("deals", edited, {"dealstage": "closedlost", "amount": "0"})
        for contact in added:
            seeded.associate("deals", gaining, "contacts", contact)
        seeded.disassociate("deals", two, "contacts", dropped)
        seeded.disassociate("deals", one, "contacts", orphaned)
        changed = run_source("crm", source(), tmp_path)
        # the association changes moved those deals (and the contacts) too, as in HubSpot
        assert changed["deals"] == 4 and changed["contacts"] == 4
        assert changed["deal_contacts"] == len(added) + 1 + 1 + max(1, len(links.get(edited, ())))
        assert run_source("crm", source(), tmp_path) == {"owners": len(owners)}

    expected = {**links, gaining: set(added), two: links[two] - {dropped}}
    del expected[one]
    assert loaded_links(tmp_path) == expected
    assert query(tmp_path, f"select properties__dealstage, properties__amount from raw_crm.deals where id = '{edited}'") == [("closedlost", "0")]
    assert distinct_counts(tmp_path, "deals") == (len(deals),) * 2
    assert distinct_counts(tmp_path, "deal_contacts")[0] == distinct_counts(tmp_path, "deal_contacts")[1] == sum(len(c) for c in expected.values())
    assert query(tmp_path, "select count(*) from raw_crm.deal_contacts where contact_id is null or deleted")[0][0] == 0


def test_a_subset_of_resources_loads_only_those(seeded: CrmStore, tmp_path: Path) -> None:
    with CrmServer(seeded.path, token=TOKEN) as server:
        loaded = run_source("crm", crm_source(base_url=server.base_url, access_token=TOKEN, resources=("deals", "deal_contacts")), tmp_path)
        assert set(loaded) == {"deals", "deal_contacts"}
        assert {path for _, path in server.requests} >= {"/crm/v3/objects/deals/search"}
        assert not any("/contacts/search" in path or "owners" in path for _, path in server.requests)


# -- deletions ---------------------------------------------------------------------------------


def test_archived_contacts_are_loaded_once_each(small_world: Path, seeded: CrmStore, tmp_path: Path) -> None:
    with CrmServer(seeded.path, token=TOKEN) as server:
        source = lambda: crm_source(base_url=server.base_url, access_token=TOKEN, resources=("contacts", "archived_contacts"))  # noqa: E731
        assert "archived_contacts" not in run_source("crm", source(), tmp_path)  # nothing deleted yet: no table
        seeded.archive("contacts", 1003)
        seeded.archive("contacts", 1010)
        assert run_source("crm", source(), tmp_path) == {"archived_contacts": 2}
        assert run_source("crm", source(), tmp_path) == {}
        assert server.requests.count(("GET", "/crm/v3/objects/contacts")) == 3  # the list is read each run
        seeded.archive("contacts", 1020)
        assert run_source("crm", source(), tmp_path) == {"archived_contacts": 1}
    rows = query(tmp_path, "select id, archived, archived_at is not null, properties__email is not null from raw_crm.archived_contacts order by id")
    assert rows == [("1003", True, True, True), ("1010", True, True, True), ("1020", True, True, True)]
    # the contacts table keeps their last live version: staging marks them archived
    assert query(tmp_path, "select count(*) from raw_crm.contacts where id in ('1003', '1010', '1020')")[0][0] == 3


class _Answer:
    def __init__(self, date: str) -> None:
        self.headers = {"Date": date}


def test_the_archived_watermark_keeps_objects_archived_while_the_list_was_read() -> None:
    """Listing by id, an object archived mid-run can land on a page already read: the next run still gets it."""
    state: dict = {}
    first = ArchivedWatermark(state)
    first.page(_Answer("Mon, 02 Nov 2026 10:00:00 GMT"))
    page = [{"id": "5", "archivedAt": "2026-11-02T09:00:00.000Z"}, {"id": "90", "archivedAt": "2026-11-02T10:00:03.000Z"}]
    assert [first.keep(r) for r in page] == [True, True]
    first.commit()  # id 7 was archived at 10:00:02, after its page was read: not seen
    second = ArchivedWatermark(state)
    second.page(_Answer("Mon, 02 Nov 2026 11:00:00 GMT"))
    again = [{"id": "5", "archivedAt": "2026-11-02T09:00:00.000Z"}, {"id": "7", "archivedAt": "2026-11-02T10:00:02.000Z"},
             {"id": "90", "archivedAt": "2026-11-02T10:00:03.000Z"}, {"id": "91", "archivedAt": "2026-11-02T10:30:00.000Z"}]
    assert [r["id"] for r in again if second.keep(r)] == ["7", "91"]
    second.commit()
    third = ArchivedWatermark(state)
    third.page(_Answer("Mon, 02 Nov 2026 12:00:00 GMT"))
    restored_and_deleted_again = {"id": "5", "archivedAt": "2026-11-02T11:30:00.000Z"}
    assert [r["id"] for r in [*again, restored_and_deleted_again] if third.keep(r)] == ["5"]


# -- a CRM that fails mid-pull -----------------------------------------------------------------


def test_a_crm_going_down_mid_pull_fails_the_run_and_the_next_run_completes(
    small_world: Path, seeded: CrmStore, tmp_path: Path, fast_retries: None
) -> None:
    links = seeded_links(small_world)
    with CrmServer(seeded.path, token=TOKEN) as server:
        source = lambda: crm_source(base_url=server.base_url, access_token=TOKEN)  # noqa: E731
        down = server.fail(r"/associations/contacts$", status=503, after=20, times=None)
        with pytest.raises(PipelineStepFailed, match="503"):
            run_source("crm", source(), tmp_path)
        assert down.seen > 20 and down.failed == 2  # the failing call and its retry
        server.clear_faults()
        seeded.update("contacts", 1005, {"jobtitle": "Buyer"})  # a change made while the CRM was down

        transient = server.fail(r"/crm/v3/owners$", status=502, times=1)  # retried: the run goes through
        loaded = run_source("crm", source(), tmp_path)
        assert transient.failed == 1
        assert loaded["deals"] == len(seed_lines(small_world, "deals"))
        assert loaded["contacts"] == contacts_in_truth(small_world)
        server.fail(r"/search$", status=0, after=1, times=None)  # connections dropped from the second search on
        with pytest.raises(PipelineStepFailed):
            run_source("crm", source(), tmp_path)
        server.clear_faults()
        assert run_source("crm", source(), tmp_path) == {"owners": len(seed_lines(small_world, "owners"))}
    assert loaded_links(tmp_path) == links
    for table in ("contacts", "deals", "deal_contacts", "owners"):
        total, distinct = distinct_counts(tmp_path, table)
        assert total == distinct > 0, table
    assert query(tmp_path, "select properties__jobtitle from raw_crm.contacts where id = '1005'") == [("Buyer",)]
