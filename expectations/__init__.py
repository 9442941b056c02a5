"""Quality gates: Great Expectations suites as code, the gate runner, quarantine and Data Docs.

Plain Python (great_expectations, pandas and the warehouse driver): Dagster wires it in
`orchestration/quality.py`, and the `cdp quarantine` commands use it directly.
"""

import os

# GE 1.x reports usage analytics by default; this platform runs offline and sends nothing.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
