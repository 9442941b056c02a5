"""The vocabulary the suites are written in: one `Rule` per expectation, one `TableSuite` per raw table.

A rule wraps one Great Expectations 1.x expectation with what the platform needs around it:

- `severity`: `critical` rules fail the blocking gate when more than `tolerate` of the load's
  rows break them (GE's `mostly = 1 - tolerate`); `warning` rules only warn.
- `reason`: the quarantine reason written for each failing row (the sample world's defect
  kinds: `malformed_email`, `missing_id`, ...).
- `row_level`: whether failing rows are quarantined. Load-level rules (uniqueness within the
  load, row-count band) report but quarantine nothing.
- `pii`: sample failing values are masked in check metadata and Data Docs.

Rules read raw columns, or *derived* columns: portable SQL expressions computed by the query
that fetches the load (e.g. "the first non-blank of userId and anonymousId").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from great_expectations.expectations.expectation import Expectation

CRITICAL = "critical"
WARNING = "warning"
SEVERITIES = (CRITICAL, WARNING)

# Timestamps this far in the future are clock skew, not defects.
FUTURE_TOLERANCE = timedelta(days=1)
# Nothing the platform ingests predates this.
TIMESTAMP_FLOOR = datetime(2000, 1, 1)

# Address shape, as the clean zone's normalize_email judges it (surrounding spaces allowed, blank allowed).
EMAIL_REGEX = r"^\s*$|^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$"
ISO_DATE_REGEX = r"^\s*$|^\s*\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])\s*$"
# A number written as text (HubSpot keeps every property as a string); blank allowed.
NUMBER_TEXT_REGEX = r"^\s*$|^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$"
NEGATIVE_TEXT_REGEX = r"^\s*-\s*(\d*\.)?\d*[1-9]"


@dataclass(frozen=True)
class Context:
    """What a rule may depend on at validation time."""

    now: datetime  # timezone-aware UTC
    default_phone_region: str = "US"


ExpectationFactory = Callable[[Context, float], "Expectation"]


def _expectations() -> Any:
    """`great_expectations.expectations`, imported when a suite is built, not when one is read:
    GE takes seconds to import, and every Dagster step process reads the suites."""
    import great_expectations as gx

    return gx.expectations


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    severity: str
    tolerate: float
    reason: str
    columns: tuple[str, ...]  # raw columns read; all must exist for the rule to run
    build: ExpectationFactory = field(repr=False, compare=False)
    value_column: str | None = None  # the column whose value is reported for a failing row
    derived: Mapping[str, str] = field(default_factory=dict)  # name -> SQL expression over the raw row
    row_level: bool = True
    pii: bool = False

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"rule {self.name!r}: severity must be one of {SEVERITIES}, not {self.severity!r}")
        if not 0.0 <= self.tolerate < 1.0:
            raise ValueError(f"rule {self.name!r}: tolerate must be a fraction in [0, 1), not {self.tolerate!r}")

    @property
    def mostly(self) -> float:
        return 1.0 - self.tolerate

    def expectation(self, context: Context) -> "Expectation":
        expectation = self.build(context, self.mostly)
        expectation.meta = {
            "rule": self.name,
            "severity": self.severity,
            "reason": self.reason,
            "tolerate": self.tolerate,
            "description": self.description,
        }
        return expectation


@dataclass(frozen=True)
class TableSuite:
    """The expectations of one raw table, and how to find the rows of a load in it.

    `columns` lists the columns every load of the table must deliver, with their dlt data
    type; a load without one of them fails the gate (a dropped column). `parent` names the
    root table of a dlt child table: its rows are tied to a load through `_dlt_parent_id`.
    """

    source: str
    table: str
    key: str  # SQL expression of the row key (what quarantine records and staging excludes by)
    columns: Mapping[str, str]
    rules: tuple[Rule, ...]
    asset: str = ""  # the raw asset the table belongs to; defaults to the table
    parent: str | None = None
    description: str = ""
    row_count_band: tuple[float, float] | None = (0.1, 10.0)  # vs the median of recent loads
    variant_tolerate: float = 0.01  # type changes (dlt variant columns) are warnings up to here
    unparsed_tolerate: float = 0.01  # lines that are not JSON: a warning up to here, critical beyond

    @property
    def asset_table(self) -> str:
        return self.asset or self.parent or self.table

    @property
    def name(self) -> str:
        return f"{self.source}.{self.table}"

    def __post_init__(self) -> None:
        names = [rule.name for rule in self.rules]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"suite {self.source}.{self.table}: rule names repeated: {', '.join(duplicated)}")


def _text(column: str) -> str:
    return f"nullif(trim(cast({column} as varchar)), '')"


def _slug(*columns: str) -> str:
    return "__".join(column.replace(".", "_") for column in columns)


# -- constructors, one per kind of check ---------------------------------------------------------


def _dialable_phone(column: str, region_column: str, default_region: str, mostly: float) -> Expectation:
    from expectations.phone import ExpectColumnPairValuesToBeDialablePhoneNumbers

    return ExpectColumnPairValuesToBeDialablePhoneNumbers(
        column_A=column, column_B=region_column, default_region=default_region, mostly=mostly,
    )


def present(column: str, *, severity: str = CRITICAL, tolerate: float = 0.0, reason: str = "missing_id", pii: bool = False) -> Rule:
    """The value is there and not blank."""
    derived = f"_present__{_slug(column)}"
    return Rule(
        name=f"{column}_present", description=f"`{column}` is present and not blank",
        severity=severity, tolerate=tolerate, reason=reason, columns=(column,), value_column=column,
        derived={derived: _text(column)}, pii=pii,
        build=lambda ctx, mostly: _expectations().ExpectColumnValuesToNotBeNull(column=derived, mostly=mostly),
    )


def any_present(*columns: str, name: str, severity: str = CRITICAL, tolerate: float = 0.0, reason: str = "missing_id", pii: bool = False) -> Rule:
    """At least one of the columns holds a non-blank value (an identifier the record can be tied by)."""
    derived = f"_any__{name}"
    expression = "coalesce(" + ", ".join(_text(c) for c in columns) + ")"
    return Rule(
        name=name, description="one of " + ", ".join(f"`{c}`" for c in columns) + " is present",
        severity=severity, tolerate=tolerate, reason=reason, columns=tuple(columns), value_column=derived,
        derived={derived: expression}, pii=pii,
        build=lambda ctx, mostly: _expectations().ExpectColumnValuesToNotBeNull(column=derived, mostly=mostly),
    )


def email_format(column: str, *, severity: str = CRITICAL, tolerate: float = 0.10) -> Rule:
    """Shaped like an address (`local@domain.tld`, no spaces inside); blank passes."""
    return Rule(
        name=f"{column}_email_format", description=f"`{column}` is shaped like an email address",
        severity=severity, tolerate=tolerate, reason="malformed_email", columns=(column,), value_column=column, pii=True,
        build=lambda ctx, mostly: _expectations().ExpectColumnValuesToMatchRegex(column=column, regex=EMAIL_REGEX, mostly=mostly),
    )


def phone_format(column: str, *, country: str | None = None, severity: str = CRITICAL, tolerate: float = 0.10) -> Rule:
    """A dialable number in the record's country (libphonenumber); blank passes."""
    region_column = country or f"_no_country__{_slug(column)}"
    derived = {} if country else {region_column: "cast(null as varchar)"}
    return Rule(
        name=f"{column}_phone_format", description=f"`{column}` is a dialable phone number",
        severity=severity, tolerate=tolerate, reason="malformed_phone",
        columns=(column, country) if country else (column,), value_column=column, derived=derived, pii=True,
        build=lambda ctx, mostly: _dialable_phone(column, region_column, ctx.default_phone_region, mostly),
    )


def not_future(column: str, *, severity: str = CRITICAL, tolerate: float = 0.05, tolerance: timedelta = FUTURE_TOLERANCE) -> Rule:
    """Not later than now plus a tolerance for clock skew."""
    return Rule(
        name=f"{column}_not_future", description=f"`{column}` is not more than {tolerance} in the future",
        severity=severity, tolerate=tolerate, reason="future_timestamp", columns=(column,), value_column=column,
        build=lambda ctx, mostly: _expectations().ExpectColumnValuesToBeBetween(
            column=column, max_value=ctx.now + tolerance, mostly=mostly),
    )


def not_before_floor(column: str, *, severity: str = CRITICAL, tolerate: float = 0.02, floor: datetime = TIMESTAMP_FLOOR) -> Rule:
    """Not earlier than the floor (a zero or epoch date is a broken clock, not history)."""
    return Rule(
        name=f"{column}_not_before_floor", description=f"`{column}` is not before {floor:%Y-%m-%d}",
        severity=severity, tolerate=tolerate, reason="ancient_timestamp", columns=(column,), value_column=column,
        build=lambda ctx, mostly: _expectations().ExpectColumnValuesToBeBetween(
            column=column, min_value=floor.replace(tzinfo=ctx.now.tzinfo), mostly=mostly),
    )


def timestamps(column: str, *, severity: str = CRITICAL, tolerate: float = 0.05) -> tuple[Rule, Rule]:
    return not_future(column, severity=severity, tolerate=tolerate), not_before_floor(column, severity=severity, tolerate=tolerate)


def non_negative(column: str, *, severity: str = CRITICAL, tolerate: float = 0.10) -> Rule:
    """Amounts and quantities are zero or more (refunds are a status, not a negative total)."""
    return Rule(
        name=f"{column}_non_negative", description=f"`{column}` is not negative",
        severity=severity, tolerate=tolerate, reason="negative_amount", columns=(column,), value_column=column,
        build=lambda ctx, mostly: _expectations().ExpectColumnValuesToBeBetween(column=column, min_value=0, mostly=mostly),
    )


def accepted(column: str, values: tuple[str, ...], *, severity: str = WARNING, tolerate: float = 0.01) -> Rule:
    """A categorical field holds one of its known values."""
    return Rule(
        name=f"{column}_accepted", description=f"`{column}` is one of " + ", ".join(values),
        severity=severity, tolerate=tolerate, reason="unknown_category", columns=(column,), value_column=column,
        build=lambda ctx, mostly: _expectations().ExpectColumnValuesToBeInSet(column=column, value_set=list(values), mostly=mostly),
    )


def number_text(column: str, *, severity: str = CRITICAL, tolerate: float = 0.02) -> Rule:
    """A number kept as text (HubSpot's property strings) reads as a number; blank passes."""
    return Rule(
        name=f"{column}_number_text", description=f"`{column}` is a number",
        severity=severity, tolerate=tolerate, reason="wrong_type", columns=(column,), value_column=column,
        build=lambda ctx, mostly: _expectations().ExpectColumnValuesToMatchRegex(column=column, regex=NUMBER_TEXT_REGEX, mostly=mostly),
    )


def non_negative_text(column: str, *, severity: str = CRITICAL, tolerate: float = 0.10) -> Rule:
    """A number kept as text is not negative (text that is no number is `number_text`'s to report)."""
    return Rule(
        name=f"{column}_non_negative", description=f"`{column}` is not negative",
        severity=severity, tolerate=tolerate, reason="negative_amount", columns=(column,), value_column=column,
        build=lambda ctx, mostly: _expectations().ExpectColumnValuesToNotMatchRegex(
            column=column, regex=NEGATIVE_TEXT_REGEX, mostly=mostly),
    )


def iso_date(column: str, *, severity: str = CRITICAL, tolerate: float = 0.02, pii: bool = True) -> Rule:
    """A date written as text is an ISO date (`YYYY-MM-DD`); blank passes."""
    return Rule(
        name=f"{column}_iso_date", description=f"`{column}` is an ISO date",
        severity=severity, tolerate=tolerate, reason="wrong_type", columns=(column,), value_column=column, pii=pii,
        build=lambda ctx, mostly: _expectations().ExpectColumnValuesToMatchRegex(column=column, regex=ISO_DATE_REGEX, mostly=mostly),
    )


def unique_in_load(column: str, *, severity: str = WARNING, tolerate: float = 0.02) -> Rule:
    """The key is unique within the load (re-deliveries are tolerated up to `tolerate`; staging deduplicates)."""
    return Rule(
        name=f"{column}_unique_in_load", description=f"`{column}` is unique within the load",
        severity=severity, tolerate=tolerate, reason="duplicate_key", columns=(column,), value_column=column, row_level=False,
        build=lambda ctx, mostly: _expectations().ExpectColumnValuesToBeUnique(column=column, mostly=mostly),
    )


def no_variant(column: str, variant: str, *, tolerate: float) -> Rule:
    """Generated for every dlt variant column: values that did not fit the column's type."""
    return Rule(
        name=f"{variant}_empty", description=f"`{column}` values have its type (dlt put others in `{variant}`)",
        severity=WARNING, tolerate=tolerate, reason="wrong_type", columns=(variant,), value_column=variant,
        pii=True,  # a value of any column that changed type: a phone number loaded as a number, say
        build=lambda ctx, mostly: _expectations().ExpectColumnValuesToBeNull(column=variant, mostly=mostly),
    )


def row_count_between(low: int, high: int) -> Rule:
    """Generated from the history of loads: this load's size within a band around their median."""
    return Rule(
        name="row_count_in_band", description=f"the load has between {low:,} and {high:,} rows (recent loads' band)",
        severity=WARNING, tolerate=0.0, reason="row_count", columns=(), row_level=False,
        build=lambda ctx, mostly: _expectations().ExpectTableRowCountToBeBetween(min_value=low, max_value=high),
    )
