"""The two-way CRM sync against the local CRM server: the real dlt pull, reconcile and push,
over a warehouse whose identity and profile tables the tests write themselves (the full loop
through dbt runs in tests/test_end_to_end.py)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from activations.config import ActivationConfigError
from activations.crm.client import CrmDestination
from activations.crm.config import load_crm_sync_config, parse_crm_sync_config
from activations.crm.sync import crm_value, desired_contacts, push, reconcile
from activations.destinations.base import DestinationAuthError, DestinationUnavailable
from dlt_sources.crm import crm_source
from dlt_sources.sample_world.crm_server import CrmServer, CrmStore
from expectations.warehouse import DuckDBWarehouse
from tests.dlt_sources.loading import run_source

TOKEN = "crm-sync-token"
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
CONFIG = load_crm_sync_config()


def customer(customer_id: str, email: str | None, *, first: str | None = None, revenue: float | None = None,
             segment: str | None = None, consent: bool = True, observed: datetime = T0) -> dict:
    return {"customer_id": customer_id, "email": email, "phone": None, "first_name": first, "last_name": None,
            "revenue_usd": revenue, "rfm_segment": segment, "last_seen_at": T0, "consent_email": consent,
            "first_name_observed_at": observed if first else None, "last_name_observed_at": None,
            "phone_observed_at": None}


class Loop:
    """A CRM, a warehouse, and the loop's steps: pull (dlt), reconcile, push."""

    def __init__(self, tmp_path: Path, server: CrmServer, store: CrmStore) -> None:
        self.tmp_path, self.server, self.store = tmp_path, server, store
        self.runs = 0
        self.warehouse = None

    def client(self, **options) -> CrmDestination:
        options.setdefault("sleep", lambda seconds: None)
        options.setdefault("max_retries", 2)
        return CrmDestination("crm", self.server.base_url, options.pop("token", TOKEN), fields=CONFIG.written,
                              **options)

    def pull(self) -> dict[str, int]:
        self.close()
        loaded = run_source("crm", crm_source(base_url=self.server.base_url, access_token=TOKEN,
                                              resources=("contacts",),
                                              extra_contact_properties=tuple(CONFIG.pulled_properties)),
                            self.tmp_path)
        self.warehouse = DuckDBWarehouse(self.tmp_path / "wh.duckdb")
        self.warehouse.execute("create schema if not exists staging")
        self.warehouse.execute(
            "create or replace view staging.stg_crm__contacts as select cast(id as varchar) as contact_id,"
            " created_at, coalesce(archived, false) as is_archived from raw_crm.contacts")
        return loaded

    def profiles(self, rows: list[dict], records: dict[str, str]) -> None:
        """The profiles, and which customer each CRM contact resolved to (identity's work)."""
        w = self.warehouse
        for schema in ("profiles", "identity", "activation"):
            w.execute(f"create schema if not exists {schema}")
        w.con.register("_profiles", pd.DataFrame(rows))
        w.execute("create or replace table profiles.customer_profiles as select * from _profiles")
        w.con.register("_records", pd.DataFrame({"source_name": "crm", "table_name": "contacts",
                                                 "record_key": list(records), "customer_id": list(records.values())},
                                                columns=["source_name", "table_name", "record_key", "customer_id"]))
        w.execute("create or replace table identity.customer_records as select * from _records")
        w.execute("create or replace table identity.identity_customers as select customer_id, 'active' as status"
                  " from profiles.customer_profiles")
        w.execute("create or replace table profiles.customer_consent as select customer_id, 'email' as channel,"
                  " consent_email as granted from profiles.customer_profiles")

    def cycle(self, **options):
        self.runs += 1
        self.pull()
        reconciled = reconcile(self.warehouse, CONFIG, run_id=f"run{self.runs}")
        return reconciled, self.push(**options)

    def push(self, **options):
        client = self.client(**options)
        client.ensure_properties()
        report, plan = push(self.warehouse, CONFIG, client, run_id=f"run{self.runs}")
        return report, plan

    def contact(self, contact_id: str) -> dict:
        return self.store.get("contacts", contact_id, properties=list(CONFIG.fields))["properties"]

    def writes(self) -> list[str]:
        return [r.path for r in self.server.requests if r.method == "POST" and "/batch/" in r.path
                and not r.path.endswith("/batch/read")]

    def close(self) -> None:
        if self.warehouse is not None:
            self.warehouse.close()
            self.warehouse = None


@pytest.fixture
def loop(tmp_path: Path):
    store = CrmStore(tmp_path / "crm.sqlite")
    store.create("contacts", {"email": "ann@example.com", "firstname": "Ann", "lifecyclestage": "lead"})  # id 1
    store.create("contacts", {"email": "bob@example.com", "firstname": "Bob"})  # id 2
    with CrmServer(tmp_path / "crm.sqlite", token=TOKEN) as server:
        world = Loop(tmp_path, server, store)
        world.pull()
        world.profiles([customer("A", "ann@example.com", first="Ann", revenue=120.5, segment="champions"),
                        customer("B", "bob@example.com", first="Robert", revenue=10, segment="new",
                                 observed=datetime.now(timezone.utc) + timedelta(days=1)),
                        customer("C", "cat@example.com", revenue=99.0, segment="loyal"),
                        customer("D", "dan@example.com", consent=False),
                        customer("E", None, revenue=5.0)],
                       {"1": "A", "2": "B"})
        yield world
        world.close()


def test_a_first_push_writes_platform_fields_and_creates_only_consented_identified_customers(loop: Loop) -> None:
    _, (report, plan) = loop.cycle()
    assert report.added == 3 and report.failed == 0
    assert plan.creates == 1
    assert plan.not_created == {"no email consent": 1, "no email": 1}
    ann = loop.contact("1")
    assert (ann["cdp_customer_id"], ann["cdp_rfm_segment"], crm_value(ann["cdp_lifetime_value"], "number")) == \
        ("A", "champions", "120.5")
    assert ann["lifecyclestage"] == "lead"  # CRM-owned: untouched
    # B's name is newer on the platform than the CRM's: the last writer wins
    assert loop.contact("2")["firstname"] == "Robert"
    created = loop.store.get_by_email("contacts", "cat@example.com")
    assert created["properties"]["cdp_customer_id"] == "C"
    assert loop.store.get_by_email("contacts", "dan@example.com") is None
    ledger = loop.warehouse.query("select customer_id, acknowledgement from activation.activation_ledger"
                                  " where status = 'sent' order by customer_id")
    acks = {c: json.loads(a) for c, a in zip(ledger["customer_id"], ledger["acknowledgement"])}
    assert acks["C"]["created"] is True and acks["C"]["contact_id"] == created["id"]
    assert acks["A"]["updated_at"] == loop.store.get("contacts", "1")["updatedAt"]


def test_two_cycles_with_no_outside_change_write_nothing_the_second_time(loop: Loop) -> None:
    loop.cycle()
    before = len(loop.writes())
    reconciled, (report, _) = loop.cycle()
    assert len(loop.writes()) == before
    assert report.requests == 0 and (report.added, report.updated, report.removed) == (0, 0, 0)
    assert reconciled.crm_edits == 0 and reconciled.own_writes == 3 and reconciled.conflicts == []
    edits = loop.warehouse.query("select origin, count(*) as n from crm_sync.contact_edits group by origin")
    assert dict(zip(edits["origin"], edits["n"])) == {"crm": 2, "platform": 3}
    # the contact the platform created is recognized as its own, created by it
    _, (report, _) = loop.cycle()
    assert report.requests == 0


def test_hand_edits_between_cycles_follow_ownership(loop: Loop) -> None:
    loop.cycle()
    # in the CRM: sales edits a platform-owned field, a CRM-owned one, and a shared one
    loop.store.update("contacts", "1", {"cdp_rfm_segment": "vip (sales)", "lifecyclestage": "customer",
                                        "firstname": "Annie"})
    reconciled, (report, plan) = loop.cycle()
    assert [(c["contact_id"], c["field"], c["resolution"], c["crm_value"]) for c in reconciled.conflicts] == \
        [("1", "cdp_rfm_segment", "overwrite", "vip (sales)")]
    assert reconciled.crm_edits == 1
    ann = loop.contact("1")
    assert ann["cdp_rfm_segment"] == "champions"  # overwritten back
    assert ann["lifecyclestage"] == "customer"  # the CRM's own field stays
    assert ann["firstname"] == "Annie"  # the CRM's edit is newer than the platform's evidence
    assert report.updated == 1 and plan.crm_kept == 1
    assert loop.server.requests[-1].path.endswith("/batch/update")
    # and the loop is quiet again
    _, (report, _) = loop.cycle()
    assert report.requests == 0


def test_keep_leaves_a_crm_edit_until_the_platform_value_changes(loop: Loop, tmp_path: Path) -> None:
    global CONFIG
    saved = CONFIG
    document = {"crm_sync": {"fields": {**{name: _spec(spec) for name, spec in saved.fields.items()}},
                             "on_crm_edit": "keep"}}
    CONFIG = parse_crm_sync_config(document)
    try:
        loop.cycle()
        loop.store.update("contacts", "1", {"cdp_rfm_segment": "vip (sales)"})
        reconciled, (report, plan) = loop.cycle()
        assert [c["resolution"] for c in reconciled.conflicts] == ["keep"]
        assert report.requests == 0 and plan.kept_conflicts == 1
        assert loop.contact("1")["cdp_rfm_segment"] == "vip (sales)"
        profiles = loop.warehouse.query("select * from profiles.customer_profiles")
        profiles.loc[profiles["customer_id"] == "A", "rfm_segment"] = "at_risk"
        loop.profiles(profiles.to_dict("records"), {"1": "A", "2": "B"})
        _, (report, _) = loop.cycle()
        assert report.updated == 1 and loop.contact("1")["cdp_rfm_segment"] == "at_risk"
    finally:
        CONFIG = saved


def _spec(spec) -> dict:
    out = {"owner": spec.owner, "type": spec.type}
    if spec.source:
        out["from"] = spec.source
        out["optional"] = spec.optional
    return out


def test_a_contact_deleted_in_the_crm_is_not_created_again(loop: Loop) -> None:
    loop.cycle()
    created = loop.store.get_by_email("contacts", "cat@example.com")["id"]
    loop.store.archive("contacts", created)
    loop.store.archive("contacts", "1")
    loop.close()
    run_source("crm", crm_source(base_url=loop.server.base_url, access_token=TOKEN, resources=("archived_contacts",)),
               loop.tmp_path)
    reconciled, (report, plan) = loop.cycle()
    assert reconciled.archived == 2
    assert report.added == 0 and report.requests == 0
    assert plan.not_created.get("their contact was deleted in the CRM") == 2
    assert loop.store.get_by_email("contacts", "cat@example.com") is None
    # the sync state no longer holds them (crm_sync.deleted_contacts does): a later cycle creates none
    _, (report, plan) = loop.cycle()
    assert report.added == 0 and plan.not_created.get("their contact was deleted in the CRM") == 2


def test_a_contact_restored_in_the_crm_after_its_deletion_counts_as_live(loop: Loop) -> None:
    """Staging's rule: archived unless the pull brought back a version newer than the deletion."""
    from activations.crm.sync import archived_contact_ids

    loop.cycle()
    loop.store.archive("contacts", "2")
    loop.close()
    run_source("crm", crm_source(base_url=loop.server.base_url, access_token=TOKEN, resources=("archived_contacts",)),
               loop.tmp_path)
    loop.pull()
    assert archived_contact_ids(loop.warehouse) == {"2"}
    loop.warehouse.execute("update raw_crm.contacts set updated_at = now() + interval 1 day where id = '2'")
    assert archived_contact_ids(loop.warehouse) == set()
    reconciled = reconcile(loop.warehouse, CONFIG, run_id="restored")
    assert reconciled.archived == 0
    assert desired_contacts(loop.warehouse, CONFIG).desired["B"]["contact_id"] == "2"


def test_a_contact_deleted_between_pull_and_push_fails_alone_and_is_not_created_again(loop: Loop) -> None:
    loop.cycle()
    profiles = loop.warehouse.query("select * from profiles.customer_profiles")
    profiles.loc[profiles["customer_id"].isin(["A", "B"]), "rfm_segment"] = "at_risk"
    loop.profiles(profiles.to_dict("records"), {"1": "A", "2": "B"})
    loop.store.archive("contacts", "1")  # after the pull: the push still thinks Ann's contact is there
    loop.runs += 1
    report, _ = loop.push()
    assert (report.updated, report.failed) == (1, 1)
    assert loop.contact("2")["cdp_rfm_segment"] == "at_risk"
    failed = loop.warehouse.query("select customer_id, error from activation.activation_ledger where status = 'failed'")
    assert list(failed["customer_id"]) == ["A"] and "deleted in the CRM" in failed["error"][0]
    # the next pull lists the deletion: Ann's contact leaves the state and is not created again
    loop.close()
    run_source("crm", crm_source(base_url=loop.server.base_url, access_token=TOKEN, resources=("archived_contacts",)),
               loop.tmp_path)
    reconciled, (report, plan) = loop.cycle()
    assert reconciled.archived == 1 and report.requests == 0 and report.failed == 0
    assert plan.not_created.get("their contact was deleted in the CRM") == 1
    assert loop.store.get_by_email("contacts", "ann@example.com") is None


def test_one_value_the_crm_refuses_fails_only_its_own_record(loop: Loop) -> None:
    loop.cycle()
    profiles = loop.warehouse.query("select * from profiles.customer_profiles")
    profiles["revenue_usd"] = profiles["revenue_usd"].astype(object)
    profiles.loc[profiles["customer_id"] == "A", "revenue_usd"] = "a lot"  # not a number
    profiles.loc[profiles["customer_id"] == "B", "revenue_usd"] = "11"
    profiles["revenue_usd"] = profiles["revenue_usd"].map(lambda v: None if v is None or v != v else str(v))
    loop.profiles(profiles.to_dict("records"), {"1": "A", "2": "B"})
    _, (report, _) = loop.cycle()
    assert (report.updated, report.failed) == (1, 1)
    updates = [r.path for r in loop.server.requests if r.path.endswith("/batch/update")]
    assert len(updates) == 1 + 1 + 2  # the first push, the refused batch, then one by one
    assert crm_value(loop.contact("2")["cdp_lifetime_value"], "number") == "11"
    failed = loop.warehouse.query("select customer_id, error from activation.activation_ledger where status = 'failed'")
    assert list(failed["customer_id"]) == ["A"] and "a lot was not a valid number" in failed["error"][0]


def test_a_suppressed_customer_has_the_platform_fields_cleared(loop: Loop) -> None:
    loop.cycle()
    loop.warehouse.execute("insert into activation.suppressions values ('A', 'asked to be left alone', now())")
    _, (report, _) = loop.cycle()
    assert report.removed == 1
    ann = loop.contact("1")
    assert ann.get("cdp_customer_id") in (None, "") and ann["firstname"] == "Ann" and ann["email"] == "ann@example.com"


def test_the_crm_down_mid_push_resumes_with_nothing_lost_or_doubled(loop: Loop) -> None:
    loop.pull()
    reconcile(loop.warehouse, CONFIG, run_id="r1")
    loop.server.fail("/batch/upsert", status=503, times=10)  # creates fail; updates went through first
    with pytest.raises(DestinationUnavailable):
        loop.push(batch_size=100)
    pending = loop.warehouse.query("select count(*) as n from activation.outbox")["n"][0]
    assert pending == 1
    loop.server.clear_faults()
    loop.runs += 1
    report, _ = loop.push()
    assert report.recovered_batches == 1
    assert len([c for c in loop.store.all_rows("contacts")]) == 3  # C created once
    _, (report, _) = loop.cycle()
    assert report.requests == 0


def test_rate_limits_are_waited_out_and_a_bad_token_is_named(loop: Loop, tmp_path: Path) -> None:
    with pytest.raises(DestinationAuthError, match="'crm'"):
        loop.client(token="wrong").ensure_properties()
    with CrmServer(tmp_path / "crm.sqlite", token=TOKEN, rate_limit=(1, 0.5)) as limited:
        loop.server = limited
        _, (report, _) = loop.cycle(sleep=__import__("time").sleep)
        assert limited.rate_limited > 0
    assert report.added == 3 and report.failed == 0


def test_desired_state_keeps_an_unlinked_created_contact(loop: Loop) -> None:
    """A created contact identity has not tied to its customer yet is still that customer's."""
    loop.cycle()
    created = loop.store.get_by_email("contacts", "cat@example.com")["id"]
    plan = desired_contacts(loop.warehouse, CONFIG)
    assert plan.desired["C"]["contact_id"] == created and plan.creates == 0


@pytest.mark.parametrize(("change", "message"), [
    ({"cdp_rfm_segment": {"owner": "boss", "from": "rfm_segment"}}, "owner must be one of"),
    ({"lifecyclestage": {"owner": "crm", "from": "lifecycle_stage"}}, "takes no `from`"),
    ({"email": {"owner": "platform", "from": "email"}}, "email is the contact's identity"),
    ({"hs_object_id": {"owner": "platform", "from": "customer_id"}}, "HubSpot maintains hs_object_id"),
    ({"cdp_x": {"owner": "platform"}}, "needs `from`"),
    ({"firstname": {"owner": "both", "from": "first_name", "on_crm_edit": "keep"}}, "last-writer rule"),
])
def test_a_bad_sync_file_names_the_field(change: dict, message: str) -> None:
    fields = {"email": {"owner": "crm"}, **change}
    with pytest.raises(ActivationConfigError, match=message):
        parse_crm_sync_config({"crm_sync": {"fields": fields}})


def test_a_bad_batch_size_and_create_rule_are_all_reported() -> None:
    with pytest.raises(ActivationConfigError) as error:
        parse_crm_sync_config({"crm_sync": {"batch_size": 500, "fields": {"email": {"owner": "crm"}},
                                            "create_contacts": {"require": ["fax"], "consent": ["pigeon"]}}})
    assert [problem.split(":")[0].split(" must")[0] for problem in error.value.problems] == [
        "batch_size", "create_contacts.require", "create_contacts.require", "create_contacts.consent"]


def test_crm_values_compare_by_property_type() -> None:
    assert crm_value("12.50", "number") == crm_value(12.5, "number") == "12.5"
    assert crm_value(120, "number") == "120"
    assert crm_value("2026-01-01T00:00:00Z", "datetime") == crm_value(1767225600000, "datetime") == \
        crm_value(pd.Timestamp("2026-01-01"), "datetime") == "2026-01-01T00:00:00.000Z"
    assert crm_value("", "string") is None and crm_value(None, "number") is None


def test_the_sync_tables_dbt_creates_match_the_reconcile_step() -> None:
    """transform/macros/crm_sync.sql creates the tables staging reads; reconcile defines them too."""
    from activations.crm.sync import DDL

    sql = (Path(__file__).parents[2] / "transform" / "macros" / "crm_sync.sql").read_text()

    def columns(body: str) -> list[tuple[str, ...]]:
        return [tuple(line.strip().rstrip(",").split()) for line in body.strip().splitlines() if line.strip()]

    python = {statement.split("(", 1)[0].split()[-1].split(".")[1]: statement.split("(", 1)[1].rsplit(")", 1)[0]
              for statement in DDL if statement.startswith("create table")}
    for relation, table in (("crm_contact_edits_relation", "contact_edits"),
                            ("crm_field_history_relation", "contact_field_history")):
        dbt_body = sql.split(f"{relation}() ~ ' (", 1)[1].split(")')", 1)[0]
        assert columns(dbt_body) == columns(python[table]), table
