"""Settings of the support source."""

TICKETS_GLOB = "**/*.jsonl"
