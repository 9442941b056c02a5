"""Local stand-ins for marketing destinations (an ESP, an ad platform, a webhook receiver).

Stdlib HTTP servers on loopback addresses that implement each destination's contract, with
faults that tests inject (errors, 429s, delays, connections dropped after the work is done),
a log of every request and Idempotency-Key replay; the activation sync engine's destination
clients are tested against them, and the demo runs against them. See `base` for what they share.
"""

from activations.sandbox.ads import AdsServer
from activations.sandbox.esp import EspServer
from activations.sandbox.webhook import WebhookServer

__all__ = ["AdsServer", "EspServer", "WebhookServer"]
