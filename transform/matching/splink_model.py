"""The Splink model of probabilistic matching: input preparation, comparisons, blocking, training.

Everything runs in the warehouse. The comparisons are written as plain SQL that DuckDB and
PostgreSQL both understand, so one model gives the same pairs on both:

- `jaro_winkler_similarity(a, b)` is DuckDB's built-in; on PostgreSQL the same algorithm
  (byte-wise, as DuckDB's) is installed as a function in the scratch schema
  (`POSTGRES_FUNCTIONS`). Splink's own Jaro-Winkler levels do not exist for PostgreSQL.
- `levenshtein(a, b)` is built into DuckDB and comes from `fuzzystrmatch` on PostgreSQL
  (Splink's PostgresAPI creates the extension).

Determinism: u probabilities come from a fixed, seeded sample of records (ordered by
`md5(seed || candidate_id)`, the same on every engine and run) whose every pair is compared,
so Splink's engine-specific random sampling is never used; EM and the prior are plain
aggregates. Same input, same settings: same parameters and same pairs.

Scale: prediction blocks on frequency-capped keys (a key value shared by more than
`max_block_size` records does not block), always with the condition that the two records
are in different deterministic components (or one has none).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from transform.matching.settings import MatchSettings

log = logging.getLogger(__name__)

SOURCE_SCHEMA = "identity"
SOURCE_TABLE = "int_identity__match_candidates"
SOURCE = f"{SOURCE_SCHEMA}.{SOURCE_TABLE}"
SCRATCH_SCHEMA = "identity_splink"  # Splink's working tables; dropped after every run
INPUT_TABLE = "match_input"
U_SAMPLE_TABLE = "match_u_sample"

INPUT_COLUMNS = (
    "candidate_id", "component_id", "source_table", "first_name", "last_name", "email", "phone", "postcode",
    "date_of_birth", "city", "street_address",
)

# Blocking keys: name -> the columns whose values (all present) form the key.
PREDICTION_KEYS: dict[str, tuple[str, ...]] = {
    "postcode_last_name": ("postcode", "last_name"),
    "postcode_first_name": ("postcode", "first_name"),
    "first_last_city": ("first_name", "last_name", "city"),
    "phone": ("phone",),
    "email": ("email",),
    "dob_last_name": ("date_of_birth", "last_name"),
}
# EM sessions block on these (without the component condition: pairs inside one component
# are mostly true matches, which is what m probabilities are learnt from).
TRAINING_KEYS: dict[str, tuple[str, ...]] = {
    "first_last": ("first_name", "last_name"),
    "phone": ("phone",),
}
BLOCKING_KEYS = {**PREDICTION_KEYS, **TRAINING_KEYS}

COMPONENTS_DIFFER = "(l.component_id is null or r.component_id is null or l.component_id <> r.component_id)"


# -- input ------------------------------------------------------------------------------------


def _clean_text(column: str) -> str:
    """lower case, no dots/commas/quotes, single spaces, blank -> null (portable SQL)."""
    return (
        f"nullif(trim(regexp_replace(regexp_replace(lower(cast({column} as varchar)), '[.,\"()]', '', 'g'),"
        f" '[[:space:]]+', ' ', 'g')), '')"
    )


def input_table_sql(settings: MatchSettings, source: str = SOURCE) -> list[str]:
    """Statements building the scratch input: cleaned columns plus one capped key per blocking rule."""
    cap = int(settings.max_block_size)
    keys = []
    for name, columns in BLOCKING_KEYS.items():
        present = " and ".join(f"{c} is not null" for c in columns)
        value = " || '|' || ".join(f"cast({c} as varchar)" for c in columns)
        keys.append(
            f"case when {present} and count(*) over (partition by {', '.join(columns)}) <= {cap}"
            f" then {value} end as bk_{name}"
        )
    return [
        f"drop table if exists {SCRATCH_SCHEMA}.{INPUT_TABLE}",
        f"""create table {SCRATCH_SCHEMA}.{INPUT_TABLE} as
        with cleaned as (
            select
                cast(candidate_id as varchar) as candidate_id,
                cast(component_id as bigint) as component_id,
                cast(source_table as varchar) as source_table,
                {_clean_text('first_name')} as first_name,
                {_clean_text('last_name')} as last_name,
                nullif(lower(trim(cast(email as varchar))), '') as email,
                nullif(regexp_replace(cast(phone as varchar), '[[:space:]]', '', 'g'), '') as phone,
                nullif(regexp_replace(upper(cast(postcode as varchar)), '[[:space:]]', '', 'g'), '') as postcode,
                cast(date_of_birth as date) as date_of_birth,
                nullif(trim(regexp_replace(lower(cast(city as varchar)), '[[:space:]]+', ' ', 'g')), '') as city,
                {_clean_text('street_address')} as street_address
            from {source}
            where candidate_id is not null
        )
        select cleaned.*,
            {(',' + chr(10) + '            ').join(keys)}
        from cleaned""",
    ]


def u_sample_sql(settings: MatchSettings) -> list[str]:
    """A fixed pseudo-random sample of records: every pair of it is compared to estimate u."""
    rows = int(0.5 * ((8 * settings.u_max_pairs + 1) ** 0.5 + 1))
    return [
        f"drop table if exists {SCRATCH_SCHEMA}.{U_SAMPLE_TABLE}",
        f"""create table {SCRATCH_SCHEMA}.{U_SAMPLE_TABLE} as
        select * from {SCRATCH_SCHEMA}.{INPUT_TABLE}
        order by md5('{int(settings.seed)}:' || candidate_id), candidate_id
        limit {rows}""",
    ]


# -- comparisons ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    label: str
    sql: str  # condition on <col>_l / <col>_r (Splink's names for the two sides)
    m: float  # starting m probability (EM refines it when the level is seen in training pairs)
    u: float  # fallback u probability (the u sample replaces it when the level is seen there)
    tf: bool = False  # term-frequency adjustment (exact levels of names)


@dataclass(frozen=True)
class Comparison:
    column: str
    levels: tuple[Level, ...]  # strongest first; a null level and an else level are added
    description: str
    else_m: float | None = None  # starting m of `else` (default: what the levels leave of 1)

    @property
    def exact_gamma(self) -> int:
        """gamma of the strongest level (levels are numbered from `else` = 0 upwards)."""
        return len(self.levels)


def _jw(column: str, threshold: float) -> str:
    return f"jaro_winkler_similarity({column}_l, {column}_r) >= {threshold}"


def _exact(column: str) -> str:
    return f"{column}_l = {column}_r"


COMPARISONS: tuple[Comparison, ...] = (
    Comparison("first_name", (
        Level("exact", _exact("first_name"), 0.80, 0.005, tf=True),
        Level("jaro_winkler >= 0.92", _jw("first_name", 0.92), 0.08, 0.005),
        Level("jaro_winkler >= 0.80", _jw("first_name", 0.80), 0.04, 0.02),
        Level("initial", "(length(first_name_l) = 1 or length(first_name_r) = 1)"
              " and substr(first_name_l, 1, 1) = substr(first_name_r, 1, 1)", 0.03, 0.01),
    ), "first name: exact, Jaro-Winkler 0.92 / 0.80, an initial against a name"),
    Comparison("last_name", (
        Level("exact", _exact("last_name"), 0.88, 0.005, tf=True),
        # typos in surnames are rarer than similar surnames of different people: low starting m
        Level("jaro_winkler >= 0.92", _jw("last_name", 0.92), 0.03, 0.005),
        Level("jaro_winkler >= 0.80", _jw("last_name", 0.80), 0.015, 0.02),
    ), "last name: exact, Jaro-Winkler 0.92 / 0.80", else_m=0.03),
    Comparison("email", (
        Level("exact", _exact("email"), 0.85, 1e-4),
        Level("same user name", "split_part(email_l, '@', 1) = split_part(email_r, '@', 1)", 0.05, 1e-4),
        # john.smith12@ and john.smith21@ are two people: a typo keeps the digits
        Level("levenshtein <= 2, same digits", "levenshtein(email_l, email_r) <= 2"
              " and regexp_replace(email_l, '[^0-9]', '', 'g') = regexp_replace(email_r, '[^0-9]', '', 'g')", 0.05, 1e-4),
    ), "email: exact, same part before @ (domain typo), at most 2 edits that keep the digits"),
    Comparison("phone", (
        Level("exact", _exact("phone"), 0.90, 1e-4),
    ), "phone (E.164): exact"),
    Comparison("postcode", (
        Level("exact", _exact("postcode"), 0.90, 0.002),
        Level("levenshtein <= 1", "levenshtein(postcode_l, postcode_r) <= 1", 0.04, 0.02),
    ), "postcode: exact, one edit"),
    Comparison("date_of_birth", (
        Level("exact", _exact("date_of_birth"), 0.90, 1e-4),
        Level("levenshtein <= 1", "levenshtein(cast(date_of_birth_l as varchar), cast(date_of_birth_r as varchar)) <= 1", 0.05, 0.002),
    ), "date of birth: exact, one typed digit off"),
    Comparison("city", (
        Level("exact", _exact("city"), 0.90, 0.05),
    ), "city: exact"),
    Comparison("street_address", (
        Level("exact", _exact("street_address"), 0.80, 1e-4),
        Level("jaro_winkler >= 0.90", _jw("street_address", 0.90), 0.10, 0.002),
    ), "street address: exact, Jaro-Winkler 0.90"),
)


def _comparison_dict(comparison: Comparison) -> dict[str, Any]:
    column = comparison.column
    levels: list[dict[str, Any]] = [{
        "sql_condition": f"{column}_l is null or {column}_r is null",
        "label_for_charts": "null",
        "is_null_level": True,
    }]
    for level in comparison.levels:
        entry: dict[str, Any] = {
            "sql_condition": level.sql, "label_for_charts": level.label, "m_probability": level.m, "u_probability": level.u,
        }
        if level.tf:
            entry["tf_adjustment_column"] = column
            entry["tf_adjustment_weight"] = 1.0
        levels.append(entry)
    levels.append({
        "sql_condition": "ELSE",
        "label_for_charts": "else",
        "m_probability": comparison.else_m or max(0.01, 1.0 - sum(level.m for level in comparison.levels)),
        "u_probability": max(0.5, 1.0 - sum(level.u for level in comparison.levels)),
    })
    return {"output_column_name": column, "comparison_description": comparison.description, "comparison_levels": levels}


def prediction_rules() -> list[str]:
    return [f"l.bk_{name} = r.bk_{name} and {COMPONENTS_DIFFER}" for name in PREDICTION_KEYS]


def training_rules() -> list[str]:
    """EM blocking rules; they name the real columns so Splink leaves those comparisons' m alone."""
    return [
        " and ".join([f"l.bk_{name} = r.bk_{name}", *(f"l.{c} = r.{c}" for c in columns)])
        for name, columns in TRAINING_KEYS.items()
    ]


def splink_settings(settings: MatchSettings) -> dict[str, Any]:
    """The Splink settings dictionary (dedupe of the one candidate table)."""
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "candidate_id",
        "probability_two_random_records_match": 1e-4,  # replaced by the estimate from components
        "comparisons": [_comparison_dict(c) for c in COMPARISONS],
        "blocking_rules_to_generate_predictions": prediction_rules(),
        "additional_columns_to_retain": ["component_id", "source_table"],
        "retain_matching_columns": True,  # gamma_* for matched_on
        "retain_intermediate_calculation_columns": False,
        "max_iterations": int(settings.em_max_iterations),
        "em_convergence": 0.0001,
    }


def matched_on_sql() -> str:
    """`matched_on` from a predictions table's gamma columns: `name` exact, `name~` a fuzzier level."""
    parts = [
        f"case when gamma_{c.column} = {c.exact_gamma} then '{c.column}'"
        f" when gamma_{c.column} > 0 then '{c.column}~' end"
        for c in COMPARISONS
    ]
    return f"concat_ws(',', {', '.join(parts)})"


# -- PostgreSQL support -----------------------------------------------------------------------

# DuckDB's jaro_winkler_similarity (rapidfuzz), byte for byte: matching window
# max(len)/2 - 1, greedy matches scanning the second string, transpositions / 2, a prefix
# bonus of 0.1 per common leading byte (at most 4) when the Jaro similarity exceeds 0.7.
POSTGRES_FUNCTIONS = (
    f"""
create or replace function {SCRATCH_SCHEMA}.jaro_winkler_similarity(s1 text, s2 text) returns float8
language plpgsql immutable strict parallel safe as $$
declare
    p bytea := convert_to(s1, 'UTF8');
    t bytea := convert_to(s2, 'UTF8');
    plen int := length(convert_to(s1, 'UTF8'));
    tlen int := length(convert_to(s2, 'UTF8'));
    bound int;
    pflag boolean[];
    tflag boolean[];
    matches int := 0;
    trans int := 0;
    prefix int := 0;
    i int;
    j int;
    k int;
    c int;
    sim float8;
begin
    if plen = 0 or tlen = 0 then
        return 0::float8;
    end if;
    while prefix < least(plen, tlen, 4) and get_byte(p, prefix) = get_byte(t, prefix) loop
        prefix := prefix + 1;
    end loop;
    if plen = 1 and tlen = 1 then
        sim := case when get_byte(p, 0) = get_byte(t, 0) then 1::float8 else 0::float8 end;
    else
        bound := greatest(plen, tlen) / 2 - 1;
        pflag := array_fill(false, array[plen]);
        tflag := array_fill(false, array[tlen]);
        for j in 0 .. tlen - 1 loop
            c := get_byte(t, j);
            for i in greatest(0, j - bound) .. least(plen - 1, j + bound) loop
                if not pflag[i + 1] and get_byte(p, i) = c then
                    pflag[i + 1] := true;
                    tflag[j + 1] := true;
                    matches := matches + 1;
                    exit;
                end if;
            end loop;
        end loop;
        if matches = 0 then
            return 0::float8;
        end if;
        k := 0;
        for j in 0 .. tlen - 1 loop
            if tflag[j + 1] then
                while not pflag[k + 1] loop
                    k := k + 1;
                end loop;
                if get_byte(p, k) <> get_byte(t, j) then
                    trans := trans + 1;
                end if;
                k := k + 1;
            end if;
        end loop;
        trans := trans / 2;
        sim := ((matches::float8 / plen::float8 + matches::float8 / tlen::float8)
                + (matches::float8 - trans::float8) / matches::float8) / 3::float8;
    end if;
    if sim > 0.7::float8 then
        sim := sim + (prefix::float8 * 0.1::float8) * (1::float8 - sim);
    end if;
    return sim;
end
$$""",
)


# -- running Splink in the warehouse ----------------------------------------------------------


@contextmanager
def quiet_splink(debug: bool = False) -> Iterator[None]:
    """Splink logs every SQL step and training iteration at INFO; keep that for debugging."""
    logger = logging.getLogger("splink")
    level = logger.level
    if not debug:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def splink_api(warehouse: Any, engine: Any = None) -> Iterator[Any]:
    """A Splink database API working in the scratch schema of the warehouse itself.

    DuckDB: a cursor of the warehouse connection (same database; its own session, so
    Splink's `SET schema` does not leak). PostgreSQL: the given SQLAlchemy engine, or one
    that lends Splink the warehouse's own connection (whose password we never see); the
    session's search_path and jit settings are restored afterwards.
    """
    if warehouse.dialect == "duckdb":
        from splink import DuckDBAPI

        cursor = warehouse.con.cursor()
        try:
            cursor.execute("set enable_progress_bar = false")
            yield DuckDBAPI(connection=cursor, output_schema=SCRATCH_SCHEMA)
        finally:
            cursor.close()
        return
    if warehouse.dialect == "postgres":
        from sqlalchemy import create_engine
        from sqlalchemy.pool import StaticPool

        from splink.internals.postgres.database_api import PostgresAPI

        own_engine = engine is None
        if own_engine:
            con = warehouse.con
            engine = create_engine(
                "postgresql+psycopg2://", creator=lambda: con, poolclass=StaticPool, pool_reset_on_return=None
            )
        try:
            api = PostgresAPI(engine, schema=SCRATCH_SCHEMA)
            # Splink's comparison queries look expensive to the planner, whose JIT then spends
            # seconds compiling a query that runs in milliseconds
            api._execute_sql_against_backend("set jit = off")
            for statement in POSTGRES_FUNCTIONS:
                api._execute_sql_against_backend(statement)
            yield api
        finally:
            if own_engine:
                warehouse.execute("reset search_path")
                warehouse.execute("reset jit")
        return
    raise ValueError(f"probabilistic matching does not support the {warehouse.dialect!r} warehouse")


@dataclass
class TrainedModel:
    """What training produced: Splink settings with every parameter, and a few facts about it."""

    settings: dict[str, Any]
    probability_two_random_records_match: float
    u_sample_records: int
    em_sessions: int


def train(db_api: Any, settings: MatchSettings, *, entities: int, sample_rows: int) -> TrainedModel:
    """u from the fixed sample, the prior from the number of entities, m by EM on the training rules."""
    from splink import Linker

    model = splink_settings(settings)
    if sample_rows >= 2:
        # every pair of the sample is compared (proportion 1): no engine-specific random sampling
        sample_linker = Linker(U_SAMPLE_TABLE, copy.deepcopy(model), db_api, set_up_basic_logging=False)
        sample_linker.training.estimate_u_using_random_sampling(max_pairs=sample_rows * (sample_rows - 1) / 2 + 1)
        model = sample_linker.misc.save_model_to_json()
        sample_linker.table_management.invalidate_cache()  # the cache belongs to db_api: nothing may leak
    prior = prior_from_entities(entities, settings.fragment_share)
    model["probability_two_random_records_match"] = prior
    linker = Linker(INPUT_TABLE, model, db_api, set_up_basic_logging=False)
    sessions = 0
    for rule in training_rules():
        before = copy.deepcopy(linker._settings_obj)
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
            sessions += 1
        except Exception as exc:  # noqa: BLE001 - no pairs under a rule (a tiny input) is not fatal
            # a failed session can leave the settings half-changed (its rule's comparisons removed)
            linker._settings_obj = before
            log.info("EM session on %s skipped, m probabilities kept: %s", rule, exc)
    trained = linker.misc.save_model_to_json()
    linker.table_management.invalidate_cache()
    # EM re-estimates the prior of its blocked pairs only; the prior of the scored pairs stays ours
    trained["probability_two_random_records_match"] = prior
    return TrainedModel(_rounded(trained), prior, sample_rows, sessions)


def _rounded(model: dict[str, Any], digits: int = 10) -> dict[str, Any]:
    """Parameters to `digits` significant digits: parallel sums in EM differ in the last bits
    from run to run; rounding makes the predictions bit-for-bit repeatable."""
    model = copy.deepcopy(model)
    model.pop("linker_uid", None)
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            for key in ("m_probability", "u_probability"):
                if isinstance(level.get(key), float):
                    level[key] = float(f"{level[key]:.{digits}g}")
    model["probability_two_random_records_match"] = float(f"{model['probability_two_random_records_match']:.{digits}g}")
    return model


def entities_sql() -> str:
    """Entities: deterministic components, plus every candidate without one."""
    return (
        f"select count(distinct component_id) + sum(case when component_id is null then 1 else 0 end) as n"
        f" from {SCRATCH_SCHEMA}.{INPUT_TABLE}"
    )


def prior_from_entities(entities: int, fragment_share: float) -> float:
    """P(a scored pair is one person): the prior of the pairs the model scores.

    Only pairs across entities (components, or candidates without one) are scored. If a share
    f of the E entities are pieces of a person found in another entity, about f * E of the
    E * (E - 1) / 2 entity pairs are true: prior = 2 f / (E - 1). Counting entities rather than
    candidate pairs keeps the prior independent of how many candidates (attribute variants)
    a component holds.
    """
    if entities < 2:
        return 0.5
    return min(max(2.0 * fragment_share / (entities - 1), 1e-12), 0.5)


def predict(db_api: Any, trained: TrainedModel, settings: MatchSettings, count_rows: Any) -> tuple[Any, int | None]:
    """(Splink dataframe of the pairs at or above the review threshold, pairs the blocking rules produced).

    count_rows(physical table name) -> int counts Splink's blocked-pairs table before Splink drops it.
    """
    from splink import Linker

    linker = Linker(INPUT_TABLE, copy.deepcopy(trained.settings), db_api, set_up_basic_logging=False)
    run_pipeline = db_api.sql_pipeline_to_splink_dataframe
    blocked: list[int] = []

    def observed(pipeline: Any, *args: Any, **kwargs: Any) -> Any:
        frame = run_pipeline(pipeline, *args, **kwargs)
        if getattr(frame, "templated_name", "") == "__splink__blocked_id_pairs":
            blocked.append(count_rows(frame.physical_name))
        return frame

    db_api.sql_pipeline_to_splink_dataframe = observed  # this api instance only
    try:
        predictions = linker.inference.predict(threshold_match_probability=settings.review)
    finally:
        del db_api.sql_pipeline_to_splink_dataframe
    return predictions, (blocked[-1] if blocked else None)
