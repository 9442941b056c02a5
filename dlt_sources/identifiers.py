"""Identifier normalization in Python, rule for rule the clean zone's (transform/macros/identifiers.sql).

The staging models normalize emails and phones in portable SQL; the identity graph then trims
every value. What runs before raw (the tombstone filter) and what reads a privacy request
(activations/governance/people.py) must reach the same values, or a person's records would slip
through or a request would not find them. A test compiles the macros and compares them with
these functions on a set of tricky numbers; another compares them with every phone the sample
world's staging models normalized.

The numbering plans and country aliases are the macros' defaults (the dbt vars `phone_regions`
and `country_aliases` override those in SQL; a deployment that overrides them must change
`PHONE_REGIONS` and `COUNTRY_ALIASES` too).
"""

from __future__ import annotations

import re

# country code -> (calling code, national trunk prefix, lengths of the national significant number)
PHONE_REGIONS: dict[str, tuple[str, str, tuple[int, ...]]] = {
    "US": ("1", "1", (10,)),
    "CA": ("1", "1", (10,)),
    "GB": ("44", "0", (9, 10)),
    "IE": ("353", "0", (7, 8, 9)),
    "DE": ("49", "0", (6, 7, 8, 9, 10, 11)),
    "FR": ("33", "0", (9,)),
    "AU": ("61", "0", (9,)),
}
COUNTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "US": ("us", "usa", "u.s.", "u.s.a.", "united states", "united states of america", "america"),
    "GB": ("gb", "uk", "u.k.", "united kingdom", "great britain", "england", "scotland", "wales"),
    "CA": ("ca", "can", "canada"),
    "DE": ("de", "deu", "germany", "deutschland"),
    "FR": ("fr", "fra", "france"),
    "IE": ("ie", "irl", "ireland"),
    "AU": ("au", "aus", "australia"),
}
_ALIAS_TO_CODE = {alias: code for code, aliases in COUNTRY_ALIASES.items() for alias in aliases}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+[.][^@\s]+$")
_LETTER = re.compile(r"[A-Za-z]")
_NOT_DIGIT = re.compile(r"[^0-9]")


def sql_trim(value: str) -> str:
    """SQL's `trim(x)` on DuckDB and PostgreSQL: spaces only, not tabs or newlines."""
    return value.strip(" ")


def normalize_email(value: object) -> str | None:
    """`normalize_email`: trimmed and lower-cased, or None when blank or not shaped like an address."""
    if value is None:
        return None
    text = sql_trim(str(value)).lower()
    return text if _EMAIL.match(text) else None


def normalize_country(value: object) -> str | None:
    """`normalize_country`: an alias or a two-letter code to ISO 3166 alpha-2, else None."""
    if value is None:
        return None
    text = sql_trim(str(value))
    code = _ALIAS_TO_CODE.get(text.lower())
    if code:
        return code
    return text.upper() if len(text) == 2 else None


def normalize_phone(value: object, country: object = None, *, default_region: str = "US") -> str | None:
    """`normalize_phone`: a number as written to E.164, or None when it cannot be one.

    A number without a country code (no leading `+` or `00`) is read in the record's country
    when it has one, else in `default_region`; a region without a numbering plan gives None.
    """
    if value is None:
        return None
    text = str(value)
    if _LETTER.search(text):
        return None
    digits = _NOT_DIGIT.sub("", text)
    trimmed = sql_trim(text)
    if trimmed.startswith("+") or trimmed.startswith("00"):
        intl = digits[2:] if trimmed.startswith("00") else digits
        seen: set[str] = set()
        for code, _trunk, lengths in PHONE_REGIONS.values():
            if code in seen:
                continue
            seen.add(code)
            if intl.startswith(code):  # the first calling code that matches decides, as in the SQL
                return "+" + intl if len(intl) - len(code) in lengths else None
        return "+" + intl if 8 <= len(intl) <= 15 else None
    region = normalize_country(country) or default_region.upper()
    plan = PHONE_REGIONS.get(region)
    if plan is None:
        return None
    code, trunk, lengths = plan
    if len(digits) in lengths and not digits.startswith(trunk):
        return "+" + code + digits
    if digits.startswith(trunk) and len(digits) - len(trunk) in lengths:
        return "+" + code + digits[len(trunk):]
    return None


def normalize_id(value: object, *, lower: bool = False) -> str | None:
    """An id as the identity graph keeps it (`trim(cast(x as text))`, device ids lower-cased); None when blank."""
    if value is None:
        return None
    text = str(value)
    if lower:
        text = text.lower()
    text = sql_trim(text)
    return text or None
