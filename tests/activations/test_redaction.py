"""The redaction helper: what a log line, a metadata sample or an error message may show of a value."""

from __future__ import annotations

import pytest

from activations.governance.redaction import REDACT, Redactor, mask, parse_setting, scrub


@pytest.mark.parametrize(("value", "shown"), [
    ("jane.doe@gmail.com", "j***@g***.com"),
    ("janet.bryant60@@yahoo.com", "j***@@***.com"),
    ("jane.doe@", "j***@***"),
    ("+1 (415) 555-0123", "+* (***) ***-**23"),
    ("+14155550123", "+*********23"),
    ("Jane", "J***"),
    ("4328 Lake Ave", "4***"),
    ("", ""),
    (None, ""),
])
def test_mask_keeps_only_the_shape(value: object, shown: str) -> None:
    assert mask(value) == shown


def test_scrub_masks_emails_and_phones_in_free_text() -> None:
    text = ("400 Bad Request: jane.doe@gmail.com looks fake; call +1 (415) 555-0123 or 415.555.0199, "
            "or +44 7700 900123.")
    scrubbed = scrub(text)
    assert scrubbed == ("400 Bad Request: j***@g***.com looks fake; call +* (***) ***-**23 or ***.***.**99, "
                        "or +** **** ****23.")
    for value in ("jane.doe", "gmail.com", "555-0123", "555.0199", "900123"):
        assert value not in scrubbed


def test_scrub_leaves_what_is_not_personal() -> None:
    text = ("load 1730000000.123456 at 2026-11-01 12:34:56+00:00 (2026-11-01T12:34:56Z), run "
            "ab4338ae-6110-4a55-b00f-94846cd28411, customer cus_5f1a2b3c, 1,234,567 rows, 0.25 %, HTTP 429, "
            "order 123456")
    assert scrub(text) == text


def test_scrub_takes_any_value() -> None:
    assert scrub(None) == ""
    assert scrub(ValueError("no contact for ana@example.com")) == "no contact for a***@e***.com"


def test_the_redactor_masks_unless_samples_are_allowed() -> None:
    assert REDACT == Redactor() and not REDACT.allow_samples
    assert REDACT.sample("jane.doe@gmail.com") == "j***@g***.com"
    assert REDACT.text("refused jane.doe@gmail.com") == "refused j***@g***.com"
    allowed = Redactor(allow_samples=True)
    assert allowed.sample("jane.doe@gmail.com") == "jane.doe@gmail.com"
    assert allowed.sample(None) == ""
    assert allowed.text("refused jane.doe@gmail.com") == "refused jane.doe@gmail.com"


@pytest.mark.parametrize(("value", "allowed"), [
    (None, False), ("", False), ("0", False), ("false", False), ("No", False), ("off", False),
    ("1", True), ("true", True), ("YES", True), (" on ", True),
])
def test_the_setting_is_read_as_a_flag(value: str | None, allowed: bool) -> None:
    assert parse_setting(value) is allowed


def test_a_setting_that_is_not_a_flag_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"CDP_ALLOW_PII_IN_METADATA must be one of .* got 'maybe'"):
        parse_setting("maybe")


def test_a_destinations_error_message_scrubs_the_servers_answer_and_keeps_it_as_detail() -> None:
    """A refused request's message reaches logs and Dagster; the detail (for the ledger) is kept as answered."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from activations.destinations.base import DestinationRequestError, HttpClient

    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.dumps({"detail": "jane.doe@gmail.com looks fake or invalid, phone +1 415-555-0123"}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = HttpClient("esp_out", f"http://127.0.0.1:{server.server_address[1]}", {}, max_retries=0, timeout=5)
        with pytest.raises(DestinationRequestError) as raised:
            client.request("POST", "/members", json={})
    finally:
        server.shutdown()
        server.server_close()
    message = str(raised.value)
    assert "400 Bad Request: j***@g***.com looks fake or invalid, phone +* ***-***-**23" in message
    assert "jane.doe" not in message and "555-0123" not in message
    assert raised.value.detail == "jane.doe@gmail.com looks fake or invalid, phone +1 415-555-0123"
