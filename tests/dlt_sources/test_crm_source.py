"""The CRM source (dlt rest_api over HubSpot's search API) against the local CRM server."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from dlt_sources.crm import crm_source
from dlt_sources.sample_world.crm_server import CrmServer, CrmStore
from tests.dlt_sources.loading import query, run_source

TOKEN = "crm-test-token"


def contacts_in_truth(world: Path) -> int:
    with (world / "ground_truth" / "records.csv").open(newline="") as handle:
        return sum(1 for row in csv.DictReader(handle) if (row["source"], row["table"]) == ("crm", "contacts"))


def test_loads_every_contact_then_only_changes_merged_by_id(small_world: Path, tmp_path: Path) -> None:
    store = CrmStore(tmp_path / "crm.sqlite")
    store.seed_from_jsonl(small_world / "systems" / "crm_seed")
    with CrmServer(tmp_path / "crm.sqlite", token=TOKEN) as server:
        source = lambda: crm_source(base_url=server.base_url, access_token=TOKEN)  # noqa: E731
        first = run_source("crm", source(), tmp_path)
        assert first["contacts"] == contacts_in_truth(small_world)
        assert first["companies"] > 0
        assert run_source("crm", source(), tmp_path) == {}

        store.update("contacts", 1001, {"lifecyclestage": "evangelist", "phone": "+1 415 555 0199"})
        store.create("contacts", {"email": "brand.new@example.com", "firstname": "Brand"})
        assert run_source("crm", source(), tmp_path) == {"contacts": 2}
    assert query(tmp_path, "select count(*), count(distinct id) from raw_crm.contacts")[0] == (first["contacts"] + 1,) * 2
    assert query(tmp_path, "select properties__lifecyclestage from raw_crm.contacts where id = '1001'") == [("evangelist",)]


def test_a_bad_token_fails_with_the_api_answer(tmp_path: Path) -> None:
    with CrmServer(tmp_path / "crm.sqlite", token=TOKEN) as server:
        with pytest.raises(PipelineStepFailed, match="401"):
            run_source("crm", crm_source(base_url=server.base_url, access_token="wrong"), tmp_path)


def test_rate_limits_are_waited_out(small_world: Path, tmp_path: Path) -> None:
    CrmStore(tmp_path / "crm.sqlite").seed_from_jsonl(small_world / "systems" / "crm_seed")
    with CrmServer(tmp_path / "crm.sqlite", token=TOKEN, rate_limit=(1, 1.0)) as server:
        loaded = run_source("crm", crm_source(base_url=server.base_url, access_token=TOKEN), tmp_path)
        assert server.rate_limited > 0
    assert loaded["contacts"] == contacts_in_truth(small_world)


def test_searches_beyond_ten_thousand_results_restart_from_the_last_date(tmp_path: Path) -> None:
    store = CrmStore(tmp_path / "crm.sqlite")
    store.bulk_insert("contacts", ({"email": f"bulk{n}@example.com"} for n in range(10_250)))
    with CrmServer(tmp_path / "crm.sqlite", token=TOKEN) as server:
        run_source("crm", crm_source(base_url=server.base_url, access_token=TOKEN, object_types=("contacts",)), tmp_path)
    assert query(tmp_path, "select count(*), count(distinct id) from raw_crm.contacts")[0] == (10_250, 10_250)


def test_unknown_object_types_are_named() -> None:
    with pytest.raises(ValueError, match=r"unknown CRM object type\(s\) \['deals'\]"):
        crm_source(base_url="http://127.0.0.1:1", access_token="x", object_types=("contacts", "deals"))


def test_more_records_at_one_timestamp_than_a_search_pages_are_read_by_id(tmp_path: Path) -> None:
    """A bulk import stamps >10,000 contacts with one lastmodifieddate; those are paged by id."""
    store = CrmStore(tmp_path / "crm.sqlite")
    store.bulk_insert("contacts", ({"email": f"early{n}@example.com"} for n in range(30)))
    tied_at = 1_790_000_000_000
    store.bulk_insert("contacts", ({"email": f"tied{n}@example.com"} for n in range(20_150)), modified_at=tied_at)
    store.bulk_insert("contacts", ({"email": f"late{n}@example.com"} for n in range(40)), modified_at=tied_at + 1)
    with CrmServer(tmp_path / "crm.sqlite", token=TOKEN) as server:
        source = lambda: crm_source(base_url=server.base_url, access_token=TOKEN, object_types=("contacts",))  # noqa: E731
        run_source("crm", source(), tmp_path)
        assert query(tmp_path, "select count(*), count(distinct id) from raw_crm.contacts")[0] == (20_220, 20_220)
        store.update("contacts", 5, {"firstname": "Edited"})
        assert run_source("crm", source(), tmp_path) == {"contacts": 1}
    assert query(tmp_path, "select properties__firstname from raw_crm.contacts where id = '5'") == [("Edited",)]
