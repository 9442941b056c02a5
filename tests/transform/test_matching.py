"""Probabilistic matching (Splink in the warehouse) and the review queue, on a generated world.

The candidate table is built here from the sample world's systems, the way the identity
models will place records: CRM contacts, loyalty customers and event attendees sit in the
component of their (true) person, except a person's second, duplicate CRM contact, which
sits in a component of its own; store orders that carry only a name and a postcode have no
component. Matching must find the duplicates and the orders, and nothing else.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import phonenumbers
import pytest
from click.testing import CliRunner

from expectations.warehouse import DuckDBWarehouse
from orchestration.cli import main
from tests.postgres_server import postgres_bin_dir, running_postgres
from transform.matching import (
    AlreadyDecidedError,
    MatchInputError,
    MatchSettings,
    MatchSettingsError,
    ReviewError,
    UnknownPairError,
    decide,
    list_queue,
    pair_id,
    run_matching,
)
from transform.matching import splink_model

WORLD_PEOPLE = 4_000
WORLD_SEED = 7
NOW = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
# The project's auto-merge threshold; a lower review bound than the project's 0.80, because
# in a world this small the only grey pairs lie in [0.5, 0.8) (see the module's report).
SETTINGS = MatchSettings(auto_merge=0.99, review=0.5)

CANDIDATE_COLUMNS = (
    "candidate_id", "component_id", "source_table", "first_name", "last_name", "email", "phone", "postcode",
    "date_of_birth", "city", "street_address",
)
CANDIDATES_DDL = """create table identity.int_identity__match_candidates (
    candidate_id varchar, component_id bigint, source_table varchar, first_name varchar, last_name varchar,
    email varchar, phone varchar, postcode varchar, date_of_birth date, city varchar, street_address varchar)"""


def _e164(raw: str | None, country: str | None) -> str | None:
    if not raw:
        return None
    try:
        parsed = phonenumbers.parse(raw, country or "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _lower(value: str | None) -> str | None:
    value = (value or "").strip().lower()
    return value or None


def _upper(value: str | None) -> str | None:
    value = (value or "").strip().upper()
    return value or None


def _date(value: str | None) -> str | None:
    try:
        return pd.Timestamp(value).date().isoformat() if value else None
    except ValueError:
        return None


def world_candidates(world: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """(candidate rows, candidate_id -> true person id) for a generated world."""
    truth: dict[str, str] = {}
    with open(world / "ground_truth" / "records.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["source"] in ("crm", "commerce", "lists") and row["person_id"]:
                truth[f"{row['source']}/{row['table']}/{row['record_key']}"] = row["person_id"]

    def component(person: str) -> int:
        return int(person[1:])

    rows: list[dict] = []
    seen_crm: set[str] = set()
    contacts = [json.loads(line) for line in (world / "systems" / "crm_seed" / "contacts.jsonl").open(encoding="utf-8")]
    for contact in sorted(contacts, key=lambda c: int(c["id"])):
        p = contact["properties"]
        cid = f"crm/contacts/{contact['id']}"
        person = truth[cid]
        duplicate = person in seen_crm
        seen_crm.add(person)
        rows.append({
            "candidate_id": cid, "component_id": component(person) + (10_000_000 if duplicate else 0),
            "source_table": "crm/contacts", "first_name": _lower(p.get("firstname")), "last_name": _lower(p.get("lastname")),
            "email": _lower(p.get("email")), "phone": _e164(p.get("phone"), p.get("country")),
            "postcode": _upper(p.get("zip")), "date_of_birth": None, "city": _lower(p.get("city")), "street_address": None,
        })
    with sqlite3.connect(world / "systems" / "pos.sqlite") as db:
        for loyalty_id, email, phone, first, last, postcode, country in db.execute(
            "select loyalty_id, email, phone, first_name, last_name, postcode, country from customers order by loyalty_id"
        ):
            cid = f"commerce/customers/{loyalty_id}"
            rows.append({
                "candidate_id": cid, "component_id": component(truth[cid]), "source_table": "commerce/customers",
                "first_name": _lower(first), "last_name": _lower(last), "email": _lower(email), "phone": _e164(phone, country),
                "postcode": _upper(postcode), "date_of_birth": None, "city": None, "street_address": None,
            })
        for order_id, first, last, postcode in db.execute(
            "select order_id, first_name, last_name, postcode from orders"
            " where channel = 'pos' and loyalty_id is null and first_name is not null order by order_id"
        ):
            rows.append({
                "candidate_id": f"commerce/orders/{order_id}", "component_id": None, "source_table": "commerce/orders",
                "first_name": _lower(first), "last_name": _lower(last), "email": None, "phone": None,
                "postcode": _upper(postcode), "date_of_birth": None, "city": None, "street_address": None,
            })
    with open(world / "landing" / "lists" / "event_attendees.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            cid = f"lists/event_attendees/{row['Attendee ID']}"
            rows.append({
                "candidate_id": cid, "component_id": component(truth[cid]), "source_table": "lists/event_attendees",
                "first_name": _lower(row["First Name"]), "last_name": _lower(row["Last Name"]),
                "email": _lower(row["Email Address"]), "phone": _e164(row["Mobile"], row["Country"]),
                "postcode": _upper(row["Zip"]), "date_of_birth": _date(row["Date of Birth"]),
                "city": _lower(row["City"]), "street_address": _lower(row["Street"]),
            })
    frame = pd.DataFrame(rows, columns=list(CANDIDATE_COLUMNS))
    frame["component_id"] = frame["component_id"].astype("Int64")
    frame["date_of_birth"] = pd.to_datetime(frame["date_of_birth"]).dt.date
    return frame, {c: truth[c] for c in frame["candidate_id"]}


def load_candidates(warehouse, frame: pd.DataFrame) -> None:  # noqa: ANN001
    warehouse.execute("create schema if not exists identity")
    warehouse.execute("drop table if exists identity.int_identity__match_candidates")
    warehouse.execute(CANDIDATES_DDL)
    rows = frame.astype(object)
    rows["component_id"] = [None if pd.isna(v) else int(v) for v in frame["component_id"]]  # psycopg2 adapts int only
    warehouse.insert_frame("identity.int_identity__match_candidates", rows)


def pair_quality(pairs: pd.DataFrame, truth: dict[str, str]) -> float:
    """Share of pairs whose two records are the same person."""
    if pairs.empty:
        return 1.0
    same = [truth[a] == truth[b] for a, b in zip(pairs["candidate_id_l"], pairs["candidate_id_r"])]
    return sum(same) / len(same)


def order_recall(frame: pd.DataFrame, pairs: pd.DataFrame, truth: dict[str, str]) -> tuple[float, int]:
    """Share of name-only store orders whose person also has a placed record (CRM, loyalty, list)
    that are paired with one of that person's placed records. (recall, orders counted)"""
    placed_people = set(truth[c] for c in frame.loc[frame["component_id"].notna(), "candidate_id"])
    orders = [c for c in frame.loc[frame["component_id"].isna(), "candidate_id"] if truth[c] in placed_people]
    placed = set(frame.loc[frame["component_id"].notna(), "candidate_id"])
    linked = defaultdict(bool)
    for a, b in zip(pairs["candidate_id_l"], pairs["candidate_id_r"]):
        for order, other in ((a, b), (b, a)):
            if other in placed and truth.get(order) == truth.get(other):
                linked[order] = True
    found = sum(linked[o] for o in orders)
    return (found / len(orders) if orders else 1.0), len(orders)


def _duckdb(path: Path) -> DuckDBWarehouse:
    path.parent.mkdir(parents=True, exist_ok=True)
    return DuckDBWarehouse(path)


def _pairs(warehouse) -> pd.DataFrame:  # noqa: ANN001
    return warehouse.query("select * from identity.identity_match_pairs order by candidate_id_l, candidate_id_r")


def _queue(warehouse) -> pd.DataFrame:  # noqa: ANN001
    return warehouse.query("select * from identity.identity_review_queue order by pair_id")



# -- settings ------------------------------------------------------------------------------------


def test_settings_come_from_dbt_project() -> None:
    settings = MatchSettings.from_dbt_project()
    assert (settings.auto_merge, settings.review) == (0.99, 0.80)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("{auto_merge: 0.99, review: 0}", "vars.identity.probabilistic.review must be in (0, 1]"),
        ("{auto_merge: 1.5, review: 0.8}", "vars.identity.probabilistic.auto_merge must be in (0, 1]"),
        ("{auto_merge: 0.8, review: 0.9}", "vars.identity.probabilistic.review (0.9) must not exceed"),
        ("{auto_merge: 0.99}", "vars.identity.probabilistic.review is missing"),
        ("{auto_merge: high, review: 0.8}", "vars.identity.probabilistic.auto_merge must be a number"),
        ("{auto_merge: 0.99, review: 0.8, reveiw: 0.7}", "unknown key(s) in vars.identity.probabilistic: reveiw"),
        ("{auto_merge: 0.99, review: 0.8, fragment_share: 0}", "vars.identity.probabilistic.fragment_share must be in"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, section: str, message: str) -> None:
    project = tmp_path / "dbt_project.yml"
    project.write_text(f"name: x\nvars:\n  identity:\n    probabilistic: {section}\n")
    with pytest.raises(MatchSettingsError) as raised:
        MatchSettings.from_dbt_project(project)
    assert message in str(raised.value)


# -- input edge cases ------------------------------------------------------------------------------


def test_a_missing_candidate_table_is_a_clear_error(tmp_path: Path) -> None:
    with _duckdb(tmp_path / "w.duckdb") as warehouse, pytest.raises(MatchInputError) as raised:
        run_matching(warehouse, SETTINGS, NOW)
    assert "identity.int_identity__match_candidates does not exist" in str(raised.value)


def test_a_candidate_table_without_a_column_is_a_clear_error(tmp_path: Path) -> None:
    with _duckdb(tmp_path / "w.duckdb") as warehouse:
        warehouse.execute("create schema identity")
        warehouse.execute("create table identity.int_identity__match_candidates (candidate_id varchar, component_id bigint)")
        with pytest.raises(MatchInputError, match="lacks column"):
            run_matching(warehouse, SETTINGS, NOW)


def test_repeated_candidate_ids_are_a_clear_error(tmp_path: Path) -> None:
    frame = pd.DataFrame([{c: None for c in CANDIDATE_COLUMNS} | {"candidate_id": "crm/contacts/1"}] * 2)
    with _duckdb(tmp_path / "w.duckdb") as warehouse:
        load_candidates(warehouse, frame)
        with pytest.raises(MatchInputError, match="candidate_id must be unique .* repeated: crm/contacts/1"):
            run_matching(warehouse, SETTINGS, NOW)


def test_an_empty_candidate_table_gives_empty_outputs_and_keeps_the_queue(tmp_path: Path) -> None:
    with _duckdb(tmp_path / "w.duckdb") as warehouse:
        load_candidates(warehouse, pd.DataFrame(columns=list(CANDIDATE_COLUMNS)))
        run_matching(warehouse, SETTINGS, NOW)  # creates the output tables
        warehouse.execute(
            "insert into identity.identity_match_pairs values ('a', 'b', 1, 2, 0.9, 3.0, 'review', 'phone', ?)", [NOW]
        )
        warehouse.execute(
            "insert into identity.identity_review_queue (pair_id, candidate_id_l, candidate_id_r, match_probability,"
            " status, first_queued_at, last_seen_at) values (?, 'a', 'b', 0.9, 'pending', ?, ?)",
            [pair_id("a", "b"), NOW, NOW],
        )
        report = run_matching(warehouse, SETTINGS, NOW + timedelta(days=1))
        assert (report.candidates, report.pairs_scored, report.auto_merge, report.review, report.queue_new) == (0, 0, 0, 0, 0)
        assert report.queue_pending == 1
        assert _pairs(warehouse).empty
        assert len(_queue(warehouse)) == 1


# -- one run on a generated world -------------------------------------------------------------------


@dataclass
class FirstRun:
    path: Path  # the warehouse after one run (closed: copy it before changing it)
    frame: pd.DataFrame
    truth: dict[str, str]
    report: object
    pairs: pd.DataFrame
    queue: pd.DataFrame


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    from dlt_sources.sample_world import generate_world

    root = tmp_path_factory.mktemp("matching")
    generate_world(root / "world", people=WORLD_PEOPLE, seed=WORLD_SEED)
    frame, truth = world_candidates(root / "world")
    path = root / "cdp.duckdb"
    with _duckdb(path) as warehouse:
        load_candidates(warehouse, frame)
        report = run_matching(warehouse, SETTINGS, NOW)
        return FirstRun(path, frame, truth, report, _pairs(warehouse), _queue(warehouse))


def test_auto_merge_pairs_are_precise(first_run: FirstRun) -> None:
    pairs = first_run.pairs
    auto = pairs[pairs["decision"] == "auto_merge"]
    assert len(auto) > 1000
    assert pair_quality(auto, first_run.truth) >= 0.99  # measured: 1.0
    assert first_run.report.auto_merge == len(auto)
    # the contract: ordered ids, no self pairs, no pairs inside one component, decisions by threshold
    assert (pairs["candidate_id_l"] < pairs["candidate_id_r"]).all()
    same_component = pairs["component_id_l"].notna() & (pairs["component_id_l"] == pairs["component_id_r"])
    assert not same_component.any()
    assert (pairs["match_probability"] >= SETTINGS.review).all()
    assert ((pairs["match_probability"] >= SETTINGS.auto_merge) == (pairs["decision"] == "auto_merge")).all()
    assert set(pairs["decision"]) == {"auto_merge", "review"}
    assert pairs["matched_on"].str.len().gt(0).all()
    assert (auto["matched_on"].str.contains("postcode")).mean() > 0.9
    assert (pairs["run_at"] == pd.Timestamp(NOW)).all()


def test_name_and_postcode_orders_and_crm_duplicates_are_found(first_run: FirstRun) -> None:
    auto = first_run.pairs[first_run.pairs["decision"] == "auto_merge"]
    recall, orders = order_recall(first_run.frame, auto, first_run.truth)
    assert orders > 500
    # measured 0.985: the orders missed belong to people whose CRM contact has no name
    assert recall >= 0.95
    duplicates = first_run.frame.loc[first_run.frame["component_id"] >= 10_000_000, "candidate_id"]
    linked = set(auto["candidate_id_l"]) | set(auto["candidate_id_r"])
    assert len(duplicates) > 40
    assert duplicates.isin(linked).mean() >= 0.9  # measured 1.0


def test_grey_band_pairs_wait_in_the_queue(first_run: FirstRun) -> None:
    report, pairs, queue = first_run.report, first_run.pairs, first_run.queue
    grey = pairs[pairs["decision"] == "review"]
    assert report.review == len(grey) > 0
    assert report.queue_new == report.queue_pending == len(queue) == len(grey)
    assert set(queue["status"]) == {"pending"}
    assert set(queue["pair_id"]) == {pair_id(a, b) for a, b in zip(grey["candidate_id_l"], grey["candidate_id_r"])}
    assert pair_id("x/2", "x/1") == pair_id("x/1", "x/2")
    assert (queue["first_queued_at"] == pd.Timestamp(NOW)).all() and queue["decided_at"].isna().all()
    assert report.pairs_scored >= len(pairs)
    assert report.candidates == len(first_run.frame)


def test_splink_leaves_no_tables_behind(first_run: FirstRun) -> None:
    with _duckdb(first_run.path) as warehouse:
        tables = warehouse.query("select table_schema, table_name from information_schema.tables")
    assert set(tables["table_schema"]) == {"identity"}
    assert not tables["table_name"].str.startswith("__splink").any()


def test_a_rerun_repeats_the_pairs_and_keeps_decisions(first_run: FirstRun, tmp_path: Path) -> None:
    path = tmp_path / "cdp.duckdb"
    shutil.copyfile(first_run.path, path)
    later = NOW + timedelta(days=1)
    with _duckdb(path) as warehouse:
        grey = list_queue(warehouse, "pending")
        accepted, rejected = grey["pair_id"].iloc[0], grey["pair_id"].iloc[1]
        decide(warehouse, [accepted], "accept", by="ana", note="same person", now=NOW)
        decide(warehouse, [rejected], "reject", by="ana", note="two people", now=NOW)

        # same candidates: the same pairs and probabilities, bit for bit; decisions untouched
        report = run_matching(warehouse, SETTINGS, later)
        again = _pairs(warehouse)
        pd.testing.assert_frame_equal(again.drop(columns="run_at"), first_run.pairs.drop(columns="run_at"))
        queue = _queue(warehouse).set_index("pair_id")
        assert report.queue_new == 0 and report.queue_pending == len(grey) - 2
        assert queue.loc[accepted, "status"] == "accepted" and queue.loc[rejected, "status"] == "rejected"
        assert queue.loc[rejected, "decided_by"] == "ana" and queue.loc[rejected, "decision_note"] == "two people"
        assert (queue["last_seen_at"] == pd.Timestamp(later)).all()
        assert (queue["first_queued_at"] == pd.Timestamp(NOW)).all()

        # a stricter review bound: the grey pairs drop out of this run, but stay queued as history
        latest = later + timedelta(days=1)
        report = run_matching(warehouse, MatchSettings(auto_merge=0.99, review=0.95), latest)
        assert report.review == 0 and report.queue_new == 0
        assert _pairs(warehouse)["decision"].eq("auto_merge").all()
        history = _queue(warehouse).set_index("pair_id")
        assert len(history) == len(queue)
        assert history.loc[accepted, "status"] == "accepted" and history.loc[rejected, "status"] == "rejected"
        assert (history["last_seen_at"] == pd.Timestamp(later)).all()


def test_decisions_check_their_input(first_run: FirstRun, tmp_path: Path) -> None:
    path = tmp_path / "cdp.duckdb"
    shutil.copyfile(first_run.path, path)
    with _duckdb(path) as warehouse:
        first, second = list_queue(warehouse, "pending", limit=2)["pair_id"]
        with pytest.raises(UnknownPairError, match="not in the review queue: nope"):
            decide(warehouse, [first, "nope"], "accept", by="ana")
        with pytest.raises(ReviewError, match="accept or reject"):
            decide(warehouse, [first], "maybe", by="ana")
        assert list_queue(warehouse, "pending", pair_ids=[first])["status"].tolist() == ["pending"]  # nothing written
        dry = decide(warehouse, [first], "accepted", by="ana", dry_run=True)
        assert dry.pair_ids == [first] and list_queue(warehouse, "accepted").empty
        decide(warehouse, [first], "accepted", by="ana", note="ok")
        with pytest.raises(AlreadyDecidedError, match=f"already decided: {first} \\(accepted by ana"):
            decide(warehouse, [first, second], "reject", by="bo")
        assert list_queue(warehouse, "rejected").empty
        forced = decide(warehouse, [first, second], "reject", by="bo", note="checked", force=True)
        assert forced.changed_from == {first: "accepted"}
        assert set(list_queue(warehouse, "rejected")["pair_id"]) == {first, second}


# -- the cdp command ------------------------------------------------------------------------------------


@pytest.fixture
def cli_home(first_run: FirstRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(first_run.path, home / "cdp.duckdb")
    monkeypatch.setenv("CDP_HOME", str(home))
    for name in ("CDP_TARGET", "CDP_WAREHOUSE_PATH"):
        monkeypatch.delenv(name, raising=False)
    return home


def _cdp(*args: str):  # noqa: ANN202
    return CliRunner().invoke(main, ["identity", "review", *args])


def test_cli_lists_the_queue_with_both_records(first_run: FirstRun, cli_home: Path) -> None:
    result = _cdp("list", "--limit", "3")
    assert result.exit_code == 0, result.output
    top = first_run.queue.sort_values(["match_probability", "pair_id"], ascending=[False, True]).iloc[0]
    assert top["pair_id"] in result.output and top["candidate_id_l"] in result.output
    assert f"showing 3 of {len(first_run.queue)}" in result.output
    assert "postcode" in result.output  # matched_on
    result = _cdp("list", "--status", "accepted")
    assert result.exit_code == 0 and "no accepted pairs in the review queue" in result.output


def test_cli_accepts_and_rejects(first_run: FirstRun, cli_home: Path) -> None:
    first, second, third = first_run.queue.sort_values("pair_id")["pair_id"].iloc[:3]
    result = _cdp("accept", first, "--by", "ana", "--note", "same person")
    assert result.exit_code == 0, result.output
    assert f"marked 1 pair(s) accepted: {first}" in result.output
    result = _cdp("reject", second, third, "--by", "ana", "--note", "two people", "--dry-run")
    assert result.exit_code == 0 and "would mark 2 pair(s) rejected" in result.output
    result = _cdp("reject", second, third, "--by", "ana", "--note", "two people")
    assert result.exit_code == 0, result.output

    listed = _cdp("list", "--status", "all")
    assert listed.exit_code == 0
    assert "accepted" in listed.output and "(ana: two people)" in listed.output
    with DuckDBWarehouse(cli_home / "cdp.duckdb") as warehouse:
        queue = _queue(warehouse).set_index("pair_id")
    assert queue.loc[first, "status"] == "accepted" and queue.loc[first, "decided_by"] == "ana"
    assert queue.loc[[second, third], "status"].tolist() == ["rejected", "rejected"]

    result = _cdp("accept", second, "--by", "bo", "--note", "second look")
    assert result.exit_code == 1
    assert f"already decided: {second} (rejected by ana" in result.output and "--force" in result.output
    result = _cdp("accept", second, "--by", "bo", "--note", "second look", "--force")
    assert result.exit_code == 0 and "1 changed from an earlier decision" in result.output


def test_cli_unknown_pair_ids_are_errors(first_run: FirstRun, cli_home: Path) -> None:
    known = first_run.queue["pair_id"].iloc[0]
    result = _cdp("accept", known, "0123456789abcdef", "--by", "ana", "--note", "x")
    assert result.exit_code == 2
    assert "not in the review queue: 0123456789abcdef" in result.output
    result = _cdp("reject", "--by", "ana", "--note", "x")
    assert result.exit_code == 2 and "Missing argument" in result.output
    with DuckDBWarehouse(cli_home / "cdp.duckdb") as warehouse:
        assert set(_queue(warehouse)["status"]) == {"pending"}  # the known id was not decided either


def test_cli_without_a_warehouse_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_HOME", str(tmp_path / "nowhere"))
    monkeypatch.delenv("CDP_TARGET", raising=False)
    monkeypatch.delenv("CDP_WAREHOUSE_PATH", raising=False)
    result = _cdp("list")
    assert result.exit_code == 1 and "no warehouse at" in result.output


# -- PostgreSQL ------------------------------------------------------------------------------------


JARO_WINKLER_CASES = [
    ("martha", "marhta"), ("dixon", "dicksonx"), ("crate", "trace"), ("dwayne", "duane"), ("a", "a"), ("a", "b"),
    ("ab", "ba"), ("0", "00"), ("r", "robert"), ("jon", "john"), ("jellyfish", "smellyfish"), ("abc", ""),
    ("josé", "jose"), ("zoë", "zoe"), ("müller", "mueller"), ("o'brien", "obrien"), ("kristen", "kirsten"),
    ("x" * 70 + "abc", "x" * 70 + "acb"), ("12 main st", "12 main street"), ("aaaa", "aaab"), ("abcd", "dcba"),
]


@pytest.mark.postgres
@pytest.mark.skipif(postgres_bin_dir() is None, reason="PostgreSQL server binaries are not installed")
def test_postgres_gives_the_same_pairs_as_duckdb(small_world: Path, tmp_path: Path) -> None:
    from dlt_sources.sample_world import names

    from expectations.warehouse import PostgresWarehouse

    frame, truth = world_candidates(small_world)
    settings = MatchSettings(auto_merge=0.9999, review=0.5)  # a strict auto-merge, so the queue gets pairs
    cases = JARO_WINKLER_CASES + [(a.lower(), b.lower()) for a, b in zip(names.FIRST_NAMES, names.FIRST_NAMES[1:])]
    cases += [(a.lower(), b.lower()) for a, b in zip(names.LAST_NAMES, reversed(names.LAST_NAMES))]
    with _duckdb(tmp_path / "cdp.duckdb") as duck:
        load_candidates(duck, frame)
        duck_report = run_matching(duck, settings, NOW)
        duck_pairs, duck_queue = _pairs(duck), _queue(duck)
        duck_jw = [duck.query("select jaro_winkler_similarity(?, ?) as s", [a, b])["s"].iloc[0] for a, b in cases]
    assert duck_report.auto_merge > 0 and duck_report.review > 50

    with running_postgres() as server, PostgresWarehouse(server.url) as pg:
        load_candidates(pg, frame)
        pg_report = run_matching(pg, settings, NOW)
        pg_pairs, pg_queue = _pairs(pg), _queue(pg)
        # the warehouse connection Splink borrowed is as it was
        assert pg.query("show search_path")["search_path"].iloc[0] == '"$user", public'
        assert pg.query("show jit")["jit"].iloc[0] == "on"
        assert not pg.table_exists(splink_model.SCRATCH_SCHEMA, splink_model.INPUT_TABLE)

        # the queue works on PostgreSQL too: a decision survives a re-run
        rejected = pg_queue["pair_id"].iloc[0]
        decide(pg, [rejected], "reject", by="ana", note="two people", now=NOW)
        with pytest.raises(AlreadyDecidedError):
            decide(pg, [rejected], "accept", by="bo")
        rerun = run_matching(pg, settings, NOW + timedelta(days=1))
        assert rerun.queue_new == 0 and rerun.queue_pending == len(pg_queue) - 1
        requeued = _queue(pg).set_index("pair_id")
        assert requeued.loc[rejected, "status"] == "rejected" and requeued.loc[rejected, "decision_note"] == "two people"
        assert (requeued["last_seen_at"] == pd.Timestamp(NOW + timedelta(days=1))).all()

        # the installed Jaro-Winkler is DuckDB's, value for value
        pg.execute(f"create schema if not exists {splink_model.SCRATCH_SCHEMA}")
        for statement in splink_model.POSTGRES_FUNCTIONS:
            pg.execute(statement)
        pg_jw = [
            pg.query(f"select {splink_model.SCRATCH_SCHEMA}.jaro_winkler_similarity(?, ?) as s", [a, b])["s"].iloc[0]
            for a, b in cases
        ]
    assert pg_jw == duck_jw

    assert (pg_report.candidates, pg_report.pairs_scored, pg_report.auto_merge, pg_report.review) == (
        duck_report.candidates, duck_report.pairs_scored, duck_report.auto_merge, duck_report.review)
    key = ["candidate_id_l", "candidate_id_r", "decision", "matched_on"]
    pd.testing.assert_frame_equal(pg_pairs[key], duck_pairs[key])
    assert (pg_pairs["match_probability"] - duck_pairs["match_probability"]).abs().max() < 1e-12
    assert (pg_pairs["match_weight"] - duck_pairs["match_weight"]).abs().max() < 1e-9
    assert pg_queue["pair_id"].tolist() == duck_queue["pair_id"].tolist()
    assert pair_quality(pg_pairs, truth) >= 0.99
