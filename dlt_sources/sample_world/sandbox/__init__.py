"""Local stand-ins for marketing destinations (an ESP, an ad platform, a webhook receiver).

Stdlib HTTP servers on loopback addresses that implement each destination's contract, with
faults that tests inject (errors, 429s, delays, connections dropped after the work is done),
a log of every request and Idempotency-Key replay: what the activation destination clients
are to be tested against (issue 6). See `base` for what they share.
"""

from dlt_sources.sample_world.sandbox.ads import AdsServer
from dlt_sources.sample_world.sandbox.esp import EspServer
from dlt_sources.sample_world.sandbox.webhook import WebhookServer

__all__ = ["AdsServer", "EspServer", "WebhookServer"]
