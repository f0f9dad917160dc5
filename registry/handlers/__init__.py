"""The service layer, by concern: organisations, the development stages (lifecycle),
standing and exits, circumstances, transfers; `core` decodes a request, dispatches it
by its kind and records the one outcome.

Other modules import the public names from here: `Batch`, `Context`, `ReceivedRecord`,
`handle`, `organisation_id`.
"""

from registry.handlers.base import Batch, Context, ReceivedRecord, organisation_id
from registry.handlers.core import HANDLERS, handle, refuse_unprocessed, request_key

__all__ = [
    "HANDLERS",
    "Batch",
    "Context",
    "ReceivedRecord",
    "handle",
    "organisation_id",
    "refuse_unprocessed",
    "request_key",
]
