"""The review queue: grey-band pairs wait here for a person to accept or reject them.

`identity.identity_review_queue` is persistent (never dropped or rebuilt). Each matching run
adds its new grey-band pairs as `pending` and refreshes the probability and `last_seen_at` of
pairs it scored again; it never touches a decision. Pairs that later fall below the review
band stay, with their status, as history. At the next dbt run accepted pairs become links
and rejected pairs become do-not-links.

`pair_id` is the first 16 hex digits of md5('<candidate_id_l>|<candidate_id_r>'), with
l < r: the same pair always gets the same id, in SQL (`pair_id_sql`) and in Python (`pair_id`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pandas as pd

SCHEMA = "identity"
PAIRS = f"{SCHEMA}.identity_match_pairs"
QUEUE = f"{SCHEMA}.identity_review_queue"
CANDIDATES = f"{SCHEMA}.int_identity__match_candidates"

STATUSES = ("pending", "accepted", "rejected")
_DECISIONS = {"accept": "accepted", "accepted": "accepted", "reject": "rejected", "rejected": "rejected"}

DDL = (
    f"create schema if not exists {SCHEMA}",
    f"""create table if not exists {PAIRS} (
        candidate_id_l varchar not null,
        candidate_id_r varchar not null,
        component_id_l bigint,
        component_id_r bigint,
        match_probability double precision not null,
        match_weight double precision not null,
        decision varchar not null,
        matched_on varchar,
        run_at timestamp with time zone not null
    )""",
    f"""create table if not exists {QUEUE} (
        pair_id varchar not null primary key,
        candidate_id_l varchar not null,
        candidate_id_r varchar not null,
        match_probability double precision not null,
        matched_on varchar,
        status varchar not null,
        first_queued_at timestamp with time zone not null,
        last_seen_at timestamp with time zone not null,
        decided_at timestamp with time zone,
        decided_by varchar,
        decision_note varchar
    )""",
)


class ReviewError(ValueError):
    """A review decision that cannot be applied as asked."""


class UnknownPairError(ReviewError):
    def __init__(self, pair_ids: Sequence[str]) -> None:
        self.pair_ids = list(pair_ids)
        super().__init__(f"not in the review queue: {', '.join(self.pair_ids)}")


class AlreadyDecidedError(ReviewError):
    def __init__(self, decided: pd.DataFrame) -> None:
        self.pair_ids = list(decided["pair_id"])
        described = [
            f"{r.pair_id} ({r.status} by {r.decided_by or 'unknown'}"
            f"{'' if pd.isna(r.decided_at) else f' at {r.decided_at:%Y-%m-%d %H:%M}'})"
            for r in decided.itertuples(index=False)
        ]
        self.detail = ", ".join(described)
        super().__init__(f"already decided: {self.detail}; pass force=True to change a decision")


def ensure_tables(warehouse: Any) -> None:
    for statement in DDL:
        warehouse.execute(statement)


def pair_id(candidate_id_a: str, candidate_id_b: str) -> str:
    """The queue id of a pair (order of the two ids does not matter)."""
    left, right = sorted((str(candidate_id_a), str(candidate_id_b)))
    return hashlib.md5(f"{left}|{right}".encode()).hexdigest()[:16]


def pair_id_sql(left: str = "candidate_id_l", right: str = "candidate_id_r") -> str:
    """SQL for `pair_id` of columns already ordered left < right."""
    return f"substr(md5({left} || '|' || {right}), 1, 16)"


def normalize_decision(decision: str) -> str:
    try:
        return _DECISIONS[str(decision).strip().lower()]
    except KeyError:
        raise ReviewError(f"decision must be accept or reject, got {decision!r}") from None


# -- reading -----------------------------------------------------------------------------------


def list_queue(
    warehouse: Any,
    status: str | None = "pending",
    *,
    limit: int | None = None,
    pair_ids: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Queue rows, most probable first. status: pending, accepted, rejected, or None/'all'."""
    ensure_tables(warehouse)
    where, params = [], []
    if status is not None and status != "all":
        if status not in STATUSES:
            raise ReviewError(f"status must be one of {', '.join(STATUSES)} or all, got {status!r}")
        where.append("status = ?")
        params.append(status)
    if pair_ids is not None:
        ids = list(dict.fromkeys(pair_ids))
        if not ids:
            return _empty_queue(warehouse)
        where.append(f"pair_id in ({', '.join('?' for _ in ids)})")
        params.extend(ids)
    sql = f"select * from {QUEUE}"
    if where:
        sql += " where " + " and ".join(where)
    sql += " order by match_probability desc, pair_id"
    if limit is not None:
        sql += f" limit {int(limit)}"
    return warehouse.query(sql, params)


def _empty_queue(warehouse: Any) -> pd.DataFrame:
    return warehouse.query(f"select * from {QUEUE} where 1 = 0")


def queue_counts(warehouse: Any) -> dict[str, int]:
    ensure_tables(warehouse)
    frame = warehouse.query(f"select status, count(*) as n from {QUEUE} group by status")
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({str(s): int(n) for s, n in zip(frame["status"], frame["n"])})
    return counts


def candidate_records(warehouse: Any, candidate_ids: Iterable[str]) -> pd.DataFrame:
    """The candidates' attributes (for a reviewer), when the candidate table exists."""
    ids = list(dict.fromkeys(str(c) for c in candidate_ids))
    schema, table = CANDIDATES.split(".")
    if not ids or not warehouse.table_exists(schema, table):
        return pd.DataFrame()
    chunks = [ids[i:i + 1000] for i in range(0, len(ids), 1000)]
    return pd.concat(
        [warehouse.query(f"select * from {CANDIDATES} where candidate_id in ({', '.join('?' for _ in c)})", c) for c in chunks],
        ignore_index=True,
    )


# -- deciding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionResult:
    decision: str  # accepted | rejected
    pair_ids: list[str]  # the pairs that got (or, on a dry run, would get) the decision
    changed_from: dict[str, str]  # pair id -> status it had, when forced over a decision
    dry_run: bool


def decide(
    warehouse: Any,
    pair_ids: Iterable[str],
    decision: str,
    by: str,
    note: str | None = None,
    *,
    force: bool = False,
    dry_run: bool = False,
    now: datetime | None = None,
) -> DecisionResult:
    """Accept or reject queued pairs. Unknown ids and (without force) decided pairs are errors;
    nothing is written unless every id is valid."""
    status = normalize_decision(decision)
    ids = list(dict.fromkeys(str(p).strip() for p in pair_ids))
    if not ids:
        raise ReviewError("name at least one pair id")
    if not by or not str(by).strip():
        raise ReviewError("say who decides (by)")
    rows = list_queue(warehouse, status=None, pair_ids=ids)
    known = set(rows["pair_id"])
    missing = [p for p in ids if p not in known]
    if missing:
        raise UnknownPairError(missing)
    decided = rows[rows["status"] != "pending"]
    if not decided.empty and not force:
        raise AlreadyDecidedError(decided.sort_values("pair_id"))
    changed_from = {r.pair_id: r.status for r in decided.itertuples(index=False)}
    result = DecisionResult(status, ids, changed_from, dry_run)
    if dry_run:
        return result
    now = now or datetime.now(timezone.utc)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        condition = "" if force else " and status = 'pending'"
        warehouse.execute(
            f"update {QUEUE} set status = ?, decided_at = ?, decided_by = ?, decision_note = ?"
            f" where pair_id in ({', '.join('?' for _ in chunk)}){condition}",
            [status, now, str(by).strip(), note, *chunk],
        )
    return result


# -- the matching run's side --------------------------------------------------------------------


def refresh_queue(warehouse: Any, now: datetime) -> int:
    """After a run wrote PAIRS: queue new grey-band pairs, refresh pairs seen again. Returns pairs added.

    Decided rows keep their status; a pending pair now above auto_merge stays pending (the
    merge happens anyway; a rejection still wins, as a do-not-link).
    """
    ensure_tables(warehouse)
    before = int(warehouse.query(f"select count(*) as n from {QUEUE}")["n"].iloc[0])
    warehouse.execute(
        f"update {QUEUE} set match_probability = seen.match_probability, matched_on = seen.matched_on, last_seen_at = ?"
        f" from (select {pair_id_sql()} as seen_pair_id, match_probability, matched_on from {PAIRS}) as seen"
        f" where {QUEUE}.pair_id = seen.seen_pair_id",
        [now],
    )
    warehouse.execute(
        f"""insert into {QUEUE} (pair_id, candidate_id_l, candidate_id_r, match_probability, matched_on, status,
                                first_queued_at, last_seen_at)
        select {pair_id_sql()}, candidate_id_l, candidate_id_r, match_probability, matched_on, 'pending', ?, ?
        from {PAIRS}
        where decision = 'review'
          and not exists (select 1 from {QUEUE} as queued where queued.pair_id = {pair_id_sql(f'{PAIRS}.candidate_id_l', f'{PAIRS}.candidate_id_r')})""",
        [now, now],
    )
    after = int(warehouse.query(f"select count(*) as n from {QUEUE}")["n"].iloc[0])
    return after - before
