"""Privacy and governance: the append-only audit log and the retention of raw data.

Plain Python (no Dagster): `orchestration/governance.py` wires it into assets and a schedule.
"""
