"""Customer-list uploads: mapping validation errors name the file and column; good lists load."""

from __future__ import annotations

from pathlib import Path

import dlt
import duckdb
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from dlt_sources.lists import ListUploadError, lists_source
from dlt_sources.lists.helpers import parse_mapping

GOOD_MAPPING = """
name: vip_guests
key: Guest ID
columns:
  Guest ID: {external_id: eventbrite}
  E-mail: email
  Phone: phone
  Given: first_name
  Family: last_name
  Born: date_of_birth
  Tier: {trait: tier}
  Opt-in: {consent: email}
"""
GOOD_CSV = "Guest ID,E-mail,Phone,Given,Family,Born,Tier,Opt-in,Notes\nG1,Ann@Example.com,+1 415 555 0101,Ann,Lee,1990-02-03,gold,yes,likes tea\nG2,bo@example.com,,Bo,Ng,,silver,no,\n"


def load(folder: Path, tmp_path: Path) -> dlt.Pipeline:
    pipeline = dlt.pipeline(
        "lists_test",
        destination=dlt.destinations.duckdb(str(tmp_path / "wh.duckdb")),
        dataset_name="raw_lists",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    pipeline.run(lists_source(bucket_url=str(folder)))
    return pipeline


def write(folder: Path, name: str, csv_text: str, mapping: str | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.csv").write_text(csv_text)
    if mapping is not None:
        (folder / f"{name}.yaml").write_text(mapping)


def members(tmp_path: Path) -> list[tuple]:
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        return con.execute(
            "select member_key, email, phone, first_name, date_of_birth, traits::varchar, consent::varchar, unmapped::varchar "
            "from raw_lists.list_members order by member_key"
        ).fetchall()


def member_keys(tmp_path: Path) -> list[str]:
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        return [row[0] for row in con.execute("select member_key from raw_lists.list_members order by 1").fetchall()]


def test_a_mapped_list_loads_with_identifiers_traits_consent_and_unmapped_columns(tmp_path: Path) -> None:
    folder = tmp_path / "lists"
    write(folder, "vip", GOOD_CSV, GOOD_MAPPING)
    load(folder, tmp_path)
    rows = members(tmp_path)
    assert [row[0] for row in rows] == ["vip_guests:G1", "vip_guests:G2"]
    assert rows[0][1:5] == ("Ann@Example.com", "+1 415 555 0101", "Ann", "1990-02-03")
    assert '"tier":"gold"' in rows[0][5].replace(" ", "")
    assert '"email":"yes"' in rows[0][6].replace(" ", "")
    assert "likes tea" in rows[0][7]
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        ids = con.execute("select system, external_id from raw_lists.list_members__external_ids order by 2").fetchall()
    assert ids == [("eventbrite", "G1"), ("eventbrite", "G2")]


def test_uploading_a_list_again_replaces_its_members_and_keeps_other_lists(tmp_path: Path) -> None:
    folder = tmp_path / "lists"
    write(folder, "vip", GOOD_CSV, GOOD_MAPPING)
    write(folder, "other", "Email\nzed@example.com\n", "columns:\n  Email: email\n")
    load(folder, tmp_path)
    write(folder, "vip", "Guest ID,E-mail,Phone,Given,Family,Born,Tier,Opt-in\nG3,cy@example.com,,Cy,Oh,,gold,yes\n", GOOD_MAPPING)
    load(folder, tmp_path)
    assert member_keys(tmp_path) == ["other:row2", "vip_guests:G3"]


@pytest.mark.parametrize(
    ("mapping", "csv_text", "message"),
    [
        (GOOD_MAPPING.replace("Born: date_of_birth", "Born: birthday"), GOOD_CSV, "vip.yaml: column 'Born' has unknown type 'birthday'"),
        (GOOD_MAPPING + "owner: me\n", GOOD_CSV, "vip.yaml: unknown key(s) ['owner']"),
        (GOOD_MAPPING.replace("Tier: {trait: tier}", "Tier: {colour: tier}"), GOOD_CSV, "column 'Tier' has unknown type 'colour'"),
        (GOOD_MAPPING.replace("Opt-in: {consent: email}", "Opt-in: {consent: carrier_pigeon}"), GOOD_CSV, "consent channel 'carrier_pigeon'"),
        (GOOD_MAPPING, GOOD_CSV.replace("Phone,", "Mobile,"), "vip.csv: column(s) ['Phone'] named in vip.yaml are not in the file"),
        (GOOD_MAPPING.replace("key: Guest ID", "key: Ticket"), GOOD_CSV, "key column 'Ticket' is not one of the mapped columns"),
        (GOOD_MAPPING, GOOD_CSV.replace("G2,", "G1,"), "vip.csv: key column 'Guest ID' value 'G1' repeats (rows 2 and 3)"),
        (GOOD_MAPPING, GOOD_CSV.replace("G2,", ","), "vip.csv: row 3 has no value in key column 'Guest ID'"),
        (GOOD_MAPPING, GOOD_CSV + "G9,too,many,fields,here,x,y,z,w,v\n", "vip.csv: row 4 has 10 fields, the header has 9"),
        (GOOD_MAPPING, "", "vip.csv: the file is empty"),
        (None, GOOD_CSV, "vip.csv: no column mapping beside it (expected vip.yaml)"),
        ("columns: [a, b", GOOD_CSV, "vip.yaml: not valid YAML"),
    ],
)
def test_bad_uploads_fail_naming_the_file_and_column_and_keep_what_was_loaded(
    tmp_path: Path, mapping: str | None, csv_text: str, message: str
) -> None:
    folder = tmp_path / "lists"
    write(folder, "first", "Email\nkept@example.com\n", "columns:\n  Email: email\n")
    load(folder, tmp_path)
    write(folder, "vip", csv_text, mapping)
    with pytest.raises(PipelineStepFailed) as failure:
        load(folder, tmp_path)
    cause = failure.value.__cause__
    while cause is not None and not isinstance(cause, ListUploadError):
        cause = cause.__cause__ or cause.__context__
    assert isinstance(cause, ListUploadError), failure.value
    assert message in str(cause)
    assert member_keys(tmp_path) == ["first:row2"]


def test_unreadable_bytes_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "bin.csv").write_bytes(b"\xff\xfe\x00garbage\x81")
    (folder / "bin.yaml").write_text("columns:\n  Email: email\n")
    with pytest.raises(PipelineStepFailed, match=r"bin\.csv: not UTF-8 text"):
        load(folder, tmp_path)


def test_parquet_lists_load(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "lists"
    folder.mkdir()
    pq.write_table(pa.table({"mail": ["a@example.com", "b@example.com"], "score": [1, 2]}), folder / "scores.parquet")
    (folder / "scores.yaml").write_text("columns:\n  mail: email\n  score: {trait: score}\n")
    load(folder, tmp_path)
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        rows = con.execute("select member_key, email from raw_lists.list_members order by 1").fetchall()
    assert rows == [("scores:row1", "a@example.com"), ("scores:row2", "b@example.com")]


def test_two_columns_cannot_claim_one_identifier() -> None:
    with pytest.raises(ListUploadError, match="columns 'A' and 'B' are both mapped to 'email'"):
        parse_mapping("columns:\n  A: email\n  B: email\n", mapping_file="x.yaml", data_file="x.csv")
