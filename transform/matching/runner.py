"""One run of probabilistic matching: candidates in, scored pairs and review-queue updates out.

    report = run_matching(warehouse, MatchSettings.from_dbt_project(), now)

reads `identity.int_identity__match_candidates`, trains and applies the Splink model in the
warehouse (scratch tables in schema `identity_splink`, dropped afterwards), replaces
`identity.identity_match_pairs` with this run's pairs at or above the review threshold, and
updates the persistent `identity.identity_review_queue`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from transform.matching import review
from transform.matching import splink_model as model
from transform.matching.settings import MatchSettings

log = logging.getLogger(__name__)


class MatchInputError(ValueError):
    """The candidate table is missing or lacks columns."""


@dataclass(frozen=True)
class MatchReport:
    candidates: int
    pairs_scored: int  # record pairs the blocking rules produced and the model scored
    auto_merge: int
    review: int
    queue_new: int  # grey-band pairs queued for the first time by this run
    queue_pending: int  # pending pairs in the queue after the run
    seconds: float
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def summary(self) -> str:
        return (
            f"{self.candidates:,} candidates, {self.pairs_scored:,} pairs scored: {self.auto_merge:,} auto-merge,"
            f" {self.review:,} for review ({self.queue_new:,} new; {self.queue_pending:,} pending) in {self.seconds:.1f} s"
        )


def run_matching(
    warehouse: Any,
    settings: MatchSettings | None = None,
    now: datetime | None = None,
    *,
    engine: Any = None,
    debug: bool = False,
) -> MatchReport:
    """Score candidate pairs, replace the pairs table, refresh the review queue.

    warehouse: an `expectations.warehouse` connection (DuckDB or PostgreSQL).
    engine: PostgreSQL only, an SQLAlchemy engine for Splink (default: lend it the
        warehouse's own connection).
    debug: let Splink log its SQL steps and training iterations.
    """
    started = time.perf_counter()
    settings = settings or MatchSettings.from_dbt_project()
    now = now or datetime.now(timezone.utc)
    _check_input(warehouse)
    review.ensure_tables(warehouse)
    candidates = _count(warehouse, f"select count(candidate_id) as n from {model.SOURCE}")
    details: dict[str, Any] = {"auto_merge_threshold": settings.auto_merge, "review_threshold": settings.review}
    pairs_scored = 0
    if candidates < 2:
        _replace_pairs(warehouse, None, settings, now)
    else:
        try:
            _drop_scratch(warehouse)
            warehouse.execute(f"create schema {model.SCRATCH_SCHEMA}")
            for statement in model.input_table_sql(settings) + model.u_sample_sql(settings):
                warehouse.execute(statement)
            sample_rows = _count(warehouse, f"select count(*) as n from {model.SCRATCH_SCHEMA}.{model.U_SAMPLE_TABLE}")
            entities = _count(warehouse, model.entities_sql())
            with model.quiet_splink(debug), model.splink_api(warehouse, engine) as api:
                trained = model.train(api, settings, entities=entities, sample_rows=sample_rows)
                predictions, scored = model.predict(
                    api, trained, settings, lambda table: _count(warehouse, f"select count(*) as n from {model.SCRATCH_SCHEMA}.{table}")
                )
                pairs_scored = scored or 0
                _replace_pairs(warehouse, f"{model.SCRATCH_SCHEMA}.{predictions.physical_name}", settings, now)
            details.update(
                entities=entities,
                prior=trained.probability_two_random_records_match,
                u_sample_records=trained.u_sample_records,
                em_sessions=trained.em_sessions,
                model=trained.settings,
            )
        finally:
            _drop_scratch(warehouse)
    decisions = warehouse.query(f"select decision, count(*) as n from {review.PAIRS} group by decision")
    by_decision = {str(d): int(n) for d, n in zip(decisions["decision"], decisions["n"])}
    queue_new = review.refresh_queue(warehouse, now)
    report = MatchReport(
        candidates=candidates,
        pairs_scored=pairs_scored,
        auto_merge=by_decision.get("auto_merge", 0),
        review=by_decision.get("review", 0),
        queue_new=queue_new,
        queue_pending=review.queue_counts(warehouse)["pending"],
        seconds=round(time.perf_counter() - started, 3),
        details=details,
    )
    log.info("probabilistic matching: %s", report.summary())
    return report


def _check_input(warehouse: Any) -> None:
    columns = warehouse.columns(model.SOURCE_SCHEMA, model.SOURCE_TABLE)
    if not columns:
        raise MatchInputError(
            f"the candidate table {model.SOURCE} does not exist: build the identity models first"
            " (dbt build --select int_identity__match_candidates)"
        )
    missing = [c for c in model.INPUT_COLUMNS if c not in columns]
    if missing:
        raise MatchInputError(f"{model.SOURCE} lacks column(s): {', '.join(missing)}")
    repeated = warehouse.query(
        f"select candidate_id from {model.SOURCE} group by candidate_id having count(*) > 1 order by candidate_id limit 5"
    )
    if not repeated.empty:
        raise MatchInputError(
            f"candidate_id must be unique in {model.SOURCE}; repeated: {', '.join(map(str, repeated['candidate_id']))}"
        )


def _count(warehouse: Any, sql: str) -> int:
    return int(warehouse.query(sql)["n"].iloc[0])


def _drop_scratch(warehouse: Any) -> None:
    warehouse.execute(f"drop schema if exists {model.SCRATCH_SCHEMA} cascade")


def _replace_pairs(warehouse: Any, predictions: str | None, settings: MatchSettings, now: datetime) -> None:
    """identity_match_pairs := this run's pairs (l < r byte-wise on every engine), in one transaction."""
    statements = [f"delete from {review.PAIRS}"]
    params: list[list[Any]] = [[]]
    if predictions is not None:
        collate = ' collate "C"' if warehouse.dialect == "postgres" else ""
        swap = f"p.candidate_id_l{collate} > p.candidate_id_r{collate}"
        statements.append(f"""
        insert into {review.PAIRS} (candidate_id_l, candidate_id_r, component_id_l, component_id_r,
                                    match_probability, match_weight, decision, matched_on, run_at)
        select
            case when {swap} then p.candidate_id_r else p.candidate_id_l end,
            case when {swap} then p.candidate_id_l else p.candidate_id_r end,
            case when {swap} then p.component_id_r else p.component_id_l end,
            case when {swap} then p.component_id_l else p.component_id_r end,
            p.match_probability,
            p.match_weight,
            case when p.match_probability >= ? then 'auto_merge' else 'review' end,
            {model.matched_on_sql()},
            ?
        from {predictions} as p
        where p.match_probability >= ?""")
        params.append([settings.auto_merge, now, settings.review])
    warehouse.execute("begin transaction")
    try:
        for statement, values in zip(statements, params):
            warehouse.execute(statement, values)
    except BaseException:
        warehouse.execute("rollback")
        raise
    warehouse.execute("commit")
