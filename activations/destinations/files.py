"""Files: each batch of changes written as a CSV or Parquet file in a folder.

`<folder>/<audience>/<batch id>.<upsert|remove>.<csv|parquet>` with one row per customer: the
customer id, the operation (`add`, `update`, `remove`) and the fields. A batch sent again (a
sync resumed after a crash) rewrites the same file, so nothing is written twice. Files appear
whole or not at all: each is written beside its final name and renamed into place.

A removal with reason `erased` (the person asked to be forgotten) writes no file: their rows
are cut out of every file already written for the audience instead, so the folder no longer
holds anything about them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from activations.destinations.base import check_batch_size, check_name, config_error
from activations.engine import Change, RecordResult

FORMATS = ("csv", "parquet")


class FileDestination:
    MAX_BATCH_SIZE = 1_000_000
    fields = None  # any field

    def __init__(self, name: str, folder: Path | str, *, file_format: str = "csv", batch_size: int = 100_000) -> None:
        self.name = check_name(name)
        if file_format not in FORMATS:
            raise config_error(name, f"file format must be one of {', '.join(FORMATS)}, got {file_format!r}")
        self.folder = Path(folder)
        self.file_format = file_format
        self.batch_size = check_batch_size(name, batch_size, self.MAX_BATCH_SIZE, "file export")

    def send(self, audience: str, operation: str, changes: Sequence[Change], idempotency_key: str) -> list[RecordResult]:
        erased = {c.customer_id for c in changes if operation == "remove" and c.reason == "erased"}
        if erased:
            self._forget(audience, erased)
            rest = [c for c in changes if c.customer_id not in erased]
            if rest:
                self.send(audience, operation, rest, idempotency_key)
            return [RecordResult(c.customer_id, True) for c in changes]
        rows = [{"customer_id": c.customer_id, "operation": c.operation, **c.fields} for c in changes]
        frame = pd.DataFrame(rows)
        target = self.folder / audience / f"{idempotency_key}.{operation}.{self.file_format}"
        target.parent.mkdir(parents=True, exist_ok=True)
        self._write(frame, target)
        return [RecordResult(c.customer_id, True) for c in changes]

    def _write(self, frame: pd.DataFrame, target: Path) -> None:
        partial = target.with_name(f".{target.name}.partial")
        if self.file_format == "csv":
            frame.to_csv(partial, index=False)
        else:
            frame.to_parquet(partial, index=False)
        os.replace(partial, target)

    def _forget(self, audience: str, customer_ids: set[str]) -> None:
        """Rewrites the audience's files without the rows of `customer_ids` (a file left empty goes)."""
        folder = self.folder / audience
        if not folder.is_dir():
            return
        for path in sorted(folder.glob(f"*.{self.file_format}")):
            frame = pd.read_csv(path, dtype=str) if self.file_format == "csv" else pd.read_parquet(path)
            kept = frame[~frame["customer_id"].astype(str).isin(customer_ids)]
            if len(kept) == len(frame):
                continue
            if kept.empty:
                path.unlink()
            else:
                self._write(kept, path)
