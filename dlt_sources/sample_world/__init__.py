"""The deterministic sample world: six systems' data about invented people, plus the ground truth.

`generate_world(out_dir, people=1000, seed=7)` writes `landing/`, `systems/` and
`ground_truth/` under `out_dir` as described in docs/sample-world.md and returns the summary
(the content of `ground_truth/summary.json`). Same arguments, byte-identical files.
"""

from __future__ import annotations

from dlt_sources.sample_world.generator import BAD_KINDS, DEFAULT_END, RECORD_TABLES, generate_world

__all__ = ["BAD_KINDS", "DEFAULT_END", "RECORD_TABLES", "generate_world"]
