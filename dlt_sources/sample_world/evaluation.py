"""How well identity resolution found the people of a sample world: pairwise precision and recall.

Each source record the ground truth names (`records.csv`) is one item. Two items form a true
pair when the same person is behind both; a predicted pair when identity resolution put them
in the same customer. Records of nobody (a cash sale) are their own person; records the
platform left unresolved are their own customer. Precision is the share of predicted pairs
that are true, recall the share of true pairs that were found.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

# ground-truth (source, table) -> the table name the platform's records use
RECORD_TABLE = {("lists", "event_attendees"): ("lists", "list_members")}
SKIPPED = {("commerce", "order_lines")}  # lines belong to their order, not records of their own


@dataclass(frozen=True)
class PairwiseScore:
    records: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    def __str__(self) -> str:
        return (f"precision {self.precision:.4f} recall {self.recall:.4f} "
                f"({self.correct_pairs:,} of {self.predicted_pairs:,} predicted pairs true, "
                f"{self.true_pairs:,} true pairs, {self.records:,} records)")


def record_ref(source: str, table: str, key: str) -> str:
    """The platform's name for a ground-truth record (`crm/contacts/1001`)."""
    source, table = RECORD_TABLE.get((source, table), (source, table))
    if (source, table) == ("lists", "list_members"):
        key = f"event_attendees:{key}"
    return f"{source}/{table}/{key}"


def read_truth(ground_truth: Path, exclude_keys: Iterable[tuple[str, str, str]] = ()) -> dict[str, str]:
    """record ref -> person id (a unique placeholder for records of nobody)."""
    excluded = set(exclude_keys)
    truth: dict[str, str] = {}
    with (ground_truth / "records.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if (row["source"], row["table"]) in SKIPPED or (row["source"], row["table"], row["record_key"]) in excluded:
                continue
            ref = record_ref(row["source"], row["table"], row["record_key"])
            truth[ref] = row["person_id"] or f"nobody:{ref}"
    return truth


def bad_record_keys(ground_truth: Path) -> set[tuple[str, str, str]]:
    """Planted bad rows: quarantined, so not records of the clean zone."""
    with (ground_truth / "bad_rows.csv").open(newline="") as handle:
        return {(row["source"], row["table"], row["record_key"]) for row in csv.DictReader(handle)}


def pairwise_score(truth: Mapping[str, str], predicted: Mapping[str, str | None]) -> PairwiseScore:
    """Scores `predicted` (record ref -> customer id or None) on the records `truth` names."""
    by_person: Counter[str] = Counter()
    by_customer: Counter[str] = Counter()
    by_both: Counter[tuple[str, str]] = Counter()
    for ref, person in truth.items():
        customer = predicted.get(ref) or f"unresolved:{ref}"
        by_person[person] += 1
        by_customer[customer] += 1
        by_both[(person, customer)] += 1

    def pairs(counts: Counter) -> int:
        return sum(n * (n - 1) // 2 for n in counts.values())

    return PairwiseScore(len(truth), pairs(by_person), pairs(by_customer), pairs(by_both))


def as_the_records_show(truth: Mapping[str, str], record_identifiers: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """The truth as far as the records can show it.

    An event that carries only a device's ids (anonymous id, device id) holds no evidence of
    whose it is beyond the device, so it is scored by what the device's other records show:

    - the device's identifying records (those that also carry a user id, email, phone, ...)
      belong to one person: that person, the device's known user. A housemate browsing
      logged out on the owner's tablet leaves exactly the records the owner would; no method
      can tell them apart, and they are scored as the owner's;
    - they belong to several people (two users log in on a family tablet) or there are none
      (a device that never identifies anyone): the device's own "person".

    So the scores measure what resolution could have found. `record_identifiers` is (record
    ref, identifier type, identifier key) for every record, as in `identity.identity_identifiers`.
    """
    device_types = {"anonymous_id", "device_id"}
    by_record: dict[str, list[tuple[str, str]]] = {}
    for ref, id_type, key in record_identifiers:
        by_record.setdefault(ref, []).append((id_type, key))
    shown: dict[str, set[str]] = {}  # device key -> the people its identifying records belong to
    for ref, ids in by_record.items():
        if ref in truth and any(t not in device_types for t, _ in ids):
            for t, k in ids:
                if t in device_types:
                    shown.setdefault(k, set()).add(truth[ref])
    adjusted = dict(truth)
    for ref, ids in by_record.items():
        if ref in adjusted and ids and all(t in device_types for t, _ in ids):
            people = set().union(*(shown.get(k, set()) for _, k in ids))
            adjusted[ref] = people.pop() if len(people) == 1 else "device:" + min(k for _, k in ids)
    return adjusted
