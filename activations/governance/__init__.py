"""Privacy and governance: the append-only audit log, the retention of raw data, PII masking.

Plain Python (no Dagster): `orchestration/governance.py` wires it into assets and a schedule.
"""
