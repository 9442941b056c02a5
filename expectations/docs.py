"""Great Expectations Data Docs: a local static site with every validated load.

The GE project lives in `<root>/gx` (a file data context). Each validation result is stored
there after personal data in it has been masked, and only its page and the index are
re-rendered, so a run costs the same however long the history grows.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)


class DataDocs:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._context: Any = None

    @contextmanager
    def _locked(self) -> Iterator[Any]:
        # Several processes (Dagster's multiprocess executor) may publish at once.
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if self._context is None:
                    context = gx.get_context(mode="file", project_root_dir=str(self.root))
                    context.variables.progress_bars = ProgressBarsConfig(globally=False)
                    self._context = context
                yield self._context
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def index_of(root: Path) -> Path:
        """The site's index page under a Data Docs root."""
        return Path(root) / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"

    @property
    def index(self) -> Path:
        return self.index_of(self.root)

    def publish(self, suite: gx.ExpectationSuite, result: Any, *, load_id: str, now: datetime) -> str:
        """Stores a (masked) validation result and renders its page. Returns the page's URL."""
        with self._locked() as context:
            stored = context.suites.add_or_update(suite)
            identifier = ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=stored.name),
                run_id=RunIdentifier(run_name=load_id, run_time=now),
                batch_identifier=f"{stored.name}-{load_id}",
            )
            context.validation_results_store.set(identifier, result)
            context.build_data_docs(resource_identifiers=[identifier])
            urls = context.get_docs_sites_urls(resource_identifier=identifier)
        return urls[0]["site_url"] if urls else self.index.as_uri()
