"""Settings of the email-platform source."""

EMAIL_GLOB = "**/*.jsonl"
