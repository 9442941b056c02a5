"""A Great Expectations expectation for phone numbers, judged with libphonenumber.

A number is dialable when it has no letters (vanity numbers like `555-CALL-NOW` are not
accepted as data) and libphonenumber finds it a possible number for the record's country
(or the default region when the record has none), not one valid only for local dialling.
This is the same rule the clean zone's `normalize_phone` macro applies, so a row that passes
here gets an E.164 number in staging.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd
import phonenumbers
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnPairMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnPairMapMetricProvider,
    column_pair_condition_partial,
)

from dlt_sources.identifiers import COUNTRY_ALIASES  # the aliases the dbt macro and the load filter use

_ALIAS_TO_CODE = {alias: code for code, aliases in COUNTRY_ALIASES.items() for alias in aliases}


def region_of(country: Any, default: str) -> str:
    """The ISO region to read a national number in."""
    if country is None or (isinstance(country, float) and pd.isna(country)):
        return default
    text = str(country).strip().lower()
    code = _ALIAS_TO_CODE.get(text)
    if code:
        return code
    return text.upper() if len(text) == 2 else default


def is_dialable(value: Any, region: str) -> bool:
    """True for a blank value (absence is judged by other expectations) or a possible number."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return True
    text = str(value).strip()
    if not text:
        return True
    if any(ch.isalpha() for ch in text):
        return False
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_possible_number_with_reason(parsed) == phonenumbers.ValidationResult.IS_POSSIBLE


class ColumnPairValuesDialablePhone(ColumnPairMapMetricProvider):
    """Row-wise: is column_A a dialable phone number in the country named by column_B?"""

    condition_metric_name = "column_pair_values.dialable_phone"
    condition_domain_keys = (
        "batch_id", "table", "column_A", "column_B", "row_condition", "condition_parser", "ignore_row_if",
    )
    condition_value_keys = ("default_region",)

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, default_region: str = "US", **kwargs: Any) -> pd.Series:
        return pd.Series(
            [is_dialable(phone, region_of(country, default_region)) for phone, country in zip(column_A, column_B)],
            index=column_A.index,
            dtype=bool,
        )


class ExpectColumnPairValuesToBeDialablePhoneNumbers(ColumnPairMapExpectation):
    """Expect the phone numbers in column_A to be dialable in the country held in column_B.

    Args:
        column_A: the phone number column.
        column_B: the country column (ISO code or a common name); blank means `default_region`.
        default_region: ISO region for records without a country.
    """

    default_region: str = "US"
    ignore_row_if: str = "neither"  # a blank phone passes here; a blank country means default_region

    map_metric = "column_pair_values.dialable_phone"
    success_keys = ("column_A", "column_B", "default_region", "ignore_row_if", "mostly")
    args_keys = ("column_A", "column_B")
    library_metadata: ClassVar[dict[str, Any]] = {
        "maturity": "experimental",
        "tags": ["phone", "column pair map expectation"],
        "contributors": ["opencdp"],
        "requirements": ["phonenumbers"],
    }
