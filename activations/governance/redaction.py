"""Redaction: what may be shown of a data value in logs, Dagster metadata, exception messages and Data Docs.

Personal data (emails, phones, names, street addresses, free text a person wrote) is data in
the warehouse, not something to log. What the platform reports about data is counts, keys
that are not personal (record keys, dlt row ids and customer ids are pseudonymous surrogates)
and, where a sample helps, the sample's shape only: `j***@g***.com`, `+* (***) ***-**23`,
`J***`. One setting, `CDP_ALLOW_PII_IN_METADATA` (read in `orchestration/settings.py`),
lets a deployment that needs real samples (a test environment on made-up data) show them.

- `mask(value)`: a value shown by its shape (what a sample of a personal column becomes);
- `scrub(text)`: free text (a server's error answer, an exception message) with every part
  shaped like an email address or a phone number masked; names cannot be recognized in free
  text, so code never puts a value it knows to be personal into a message in the first place;
- `Redactor(allow_samples)`: the two above, or the values themselves when samples are allowed.
  Every place that reports a sample or passes free text on to a log takes one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SETTING = "CDP_ALLOW_PII_IN_METADATA"

# a token holding an `@` (an address, or a malformed one such as `jane.doe@@gmail.com`)
_EMAIL = re.compile(r"[^\s<>()\[\]{}\"'`,;|]*@[^\s<>()\[\]{}\"'`,;|]*")
# 7 to 15 digits with the separators phone numbers are written with, standing on their own
_PHONE = re.compile(r"(?<![\w.:\-])\+?\(?\d(?:[ ().\-]{0,2}\d){6,14}(?!\w)(?!\.\d)")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")  # an ISO date or timestamp is not a phone number
_DIGITS_SHOWN = 2
_PHONE_DIGITS = 5  # a value with this many digits or more is masked digit by digit


def mask(value: Any) -> str:
    """A personal value shown only by its shape: `j***@g***.com`, `***-***-**34`, `J***`.

    An address keeps the first character of its local part and of its domain and the
    top-level domain; a value with five digits or more keeps its punctuation and last two
    digits; anything else keeps its first character."""
    text = "" if value is None else str(value)
    if "@" in text:
        local, _, domain = text.partition("@")
        head, dot, tld = domain.rpartition(".")
        shown_domain = f"{head[:1]}***{dot}{tld}" if dot else f"{domain[:1]}***"
        return f"{local[:1]}***@{shown_domain}"
    if sum(ch.isdigit() for ch in text) >= _PHONE_DIGITS:
        seen = 0
        out = []
        for ch in reversed(text):
            if ch.isdigit():
                seen += 1
                out.append(ch if seen <= _DIGITS_SHOWN else "*")
            else:
                out.append(ch)
        return "".join(reversed(out))
    return f"{text[:1]}***" if text else ""


def scrub(text: Any) -> str:
    """Free text with every email-shaped token and phone-shaped number in it masked.

    ISO dates and timestamps, counts, load ids (`1730000000.123456`) and uuids are left as
    they are."""
    if text is None:
        return ""
    text = _EMAIL.sub(lambda match: mask(match.group()), str(text))
    return _PHONE.sub(_phone, text)


def _phone(match: re.Match[str]) -> str:
    found = match.group()
    return found if _DATE.match(found) else mask(found)


@dataclass(frozen=True)
class Redactor:
    """What a report may show of data values. `allow_samples=False` (the default) masks them."""

    allow_samples: bool = False

    def sample(self, value: Any) -> str:
        """A sample of a personal column: the value when samples are allowed, else its shape."""
        if self.allow_samples:
            return "" if value is None else str(value)
        return mask(value)

    def text(self, text: Any) -> str:
        """Free text that may quote data (an error message): as is when allowed, else scrubbed."""
        if self.allow_samples:
            return "" if text is None else str(text)
        return scrub(text)


REDACT = Redactor()  # the default: nothing personal shown


def parse_setting(value: str | None) -> bool:
    """`CDP_ALLOW_PII_IN_METADATA`'s value: 1/true/yes/on allow samples, 0/false/no/off or unset do not."""
    text = (value or "").strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"{SETTING} must be one of 1, true, yes, on, 0, false, no, off (or unset), got {value!r}")
