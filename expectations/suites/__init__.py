"""Every raw table's suite, by source. One module per source: read it to see what is checked."""

from __future__ import annotations

from expectations.rules import TableSuite
from expectations.suites import commerce, crm, email, events, lists, support

SUITES_BY_SOURCE: dict[str, tuple[TableSuite, ...]] = {
    "events": events.SUITES,
    "crm": crm.SUITES,
    "commerce": commerce.SUITES,
    "email": email.SUITES,
    "support": support.SUITES,
    "lists": lists.SUITES,
}


def suites_for(source: str) -> tuple[TableSuite, ...]:
    try:
        return SUITES_BY_SOURCE[source]
    except KeyError:
        raise KeyError(f"no expectation suites for source {source!r}; known: {', '.join(SUITES_BY_SOURCE)}") from None
