"""Who a privacy request is about: parsing, normalizing and resolving an identifier to a person."""

from __future__ import annotations

from pathlib import Path

import pytest

from activations.governance.people import (
    Identifier,
    IdentifierError,
    UnknownIdentifierError,
    normalize,
    parse,
    resolve,
)
from expectations.warehouse import DuckDBWarehouse
from tests.activations import privacy_warehouse
from tests.activations.privacy_warehouse import ANA_EMAIL

ANA_RECORDS = (("commerce", "orders", "o1"), ("crm", "contacts", "501"), ("email", "email_events", "m1"),
               ("events", "events", "e1"), ("events", "events", "e2"))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory):
    path = privacy_warehouse.build(tmp_path_factory.mktemp("people") / "wh.duckdb")
    with DuckDBWarehouse(path, read_only=True) as warehouse:
        yield warehouse


@pytest.mark.parametrize(("text", "expected"), [
    ("  Ana@Example.COM ", Identifier("email", ANA_EMAIL)),
    ("email: ANA@example.com", Identifier("email", ANA_EMAIL)),
    ("+1 (415) 555-0134", Identifier("phone", "+14155550134")),
    ("phone:(415) 555-0134", Identifier("phone", "+14155550134")),  # the default region: US
    ("cus_ana", Identifier("customer_id", "cus_ana")),
    ("user_id:u_ana", Identifier("user_id", "u_ana")),
    ("crm_contact_id: 501 ", Identifier("crm_contact_id", "501")),
])
def test_parse_reads_the_type_and_normalizes_the_value_as_the_clean_zone_does(text: str, expected: Identifier) -> None:
    assert parse(text) == expected
    assert str(parse(text)) == expected.key


def test_a_phone_is_read_in_the_region_given() -> None:
    assert parse("phone:020 7946 0018", default_region="GB").value == "+442079460018"
    assert normalize("phone", "0171 1234567", default_region="DE") == "+491711234567"


@pytest.mark.parametrize(("text", "message"), [
    ("ana", "say what 'ana' is: type:value"),
    ("u_123", "say what 'u_123' is"),
    ("email:ana.example.com", "not an email address: 'ana.example.com'"),
    ("phone:call-me-maybe", "not a phone number (letters)"),
    ("phone:12", "not a possible phone number: '12'"),
    ("email:  ", "an empty email"),
])
def test_parse_names_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(IdentifierError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


@pytest.mark.parametrize("identifier", [" ANA@example.com", "phone:415-555-0134", "user_id:u_ana", "cus_ana",
                                        "crm_contact_id:501"])
def test_resolve_finds_the_person_by_any_identifier(warehouse, identifier: str) -> None:
    person = resolve(warehouse, identifier)
    assert person.customer_id == "cus_ana" and person.status == "active"
    assert person.customer_ids == ("cus_ana", "cus_ana_old")  # current first
    # identifiers of the merged-away id (the user id) are hers too
    assert person.identifier_values() == sorted(["501", ANA_EMAIL, "+14155550134", "dev-shared", "u_ana"])
    assert person.identifier_values("email", "phone") == sorted([ANA_EMAIL, "+14155550134"])
    assert person.records == ANA_RECORDS


def test_a_merged_away_customer_id_leads_to_the_current_one(warehouse) -> None:
    person = resolve(warehouse, Identifier("customer_id", "cus_ana_old"))
    assert person.customer_id == "cus_ana"
    assert person.customer_ids == ("cus_ana", "cus_ana_old")
    assert person.records == ANA_RECORDS


def test_an_identifier_shared_by_two_people_names_them_and_asks_for_a_customer_id(warehouse) -> None:
    with pytest.raises(IdentifierError, match=r"the device_id given belongs to 2 people \(cus_ana, cus_bob\): "
                                              r"name one by customer_id"):
        resolve(warehouse, "device_id:dev-shared")


def test_an_unknown_type_lists_the_types_the_warehouse_knows(warehouse) -> None:
    with pytest.raises(IdentifierError, match="unknown identifier type 'loyalty_id'; types: customer_id, "
                                              "crm_contact_id, device_id, email, phone, user_id"):
        resolve(warehouse, "loyalty_id:LOY1")


@pytest.mark.parametrize(("identifier", "message"), [
    ("email:nobody@example.com", "no person has the email given"),
    ("phone:+14155550199", "no person has the phone given"),
    ("customer_id:cus_nobody", "no customer has the id cus_nobody"),
])
def test_an_unknown_value_is_an_unknown_identifier(warehouse, identifier: str, message: str) -> None:
    with pytest.raises(UnknownIdentifierError, match=message):
        resolve(warehouse, identifier)


def test_a_warehouse_without_an_identity_graph_says_so(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "empty.duckdb") as empty:
        with pytest.raises(UnknownIdentifierError, match="no identity graph yet"):
            resolve(empty, ANA_EMAIL)
