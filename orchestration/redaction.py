"""Errors that reach Dagster carry no data values unless CDP_ALLOW_PII_IN_METADATA allows them.

An asset's exception is stored in the run's event log and shown in the UI. Some quote data:
DuckDB's cast errors quote the value that did not convert (and dbt passes them on), dlt's
normalizer quotes rows, a server's answer can quote the record it refused. `redacted_errors`
re-raises such an exception as a `dg.Failure` whose description is the whole formatted
traceback (every chained exception included) scrubbed by the redactor, with the original
chain left out of what Dagster stores. With samples allowed, the exception goes on as it was.
"""

import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from activations.governance.redaction import Redactor


@contextmanager
def redacted_errors(redactor: Redactor) -> Iterator[None]:
    try:
        yield
    except dg.RetryRequested:
        raise
    except Exception as error:  # noqa: BLE001 - re-raised, scrubbed
        if redactor.allow_samples:
            raise
        text = "".join(traceback.format_exception(error))
        raise dg.Failure(description=redactor.text(text)) from None
