"""Settings of the events source."""

EVENTS_GLOB = "**/*.jsonl"
