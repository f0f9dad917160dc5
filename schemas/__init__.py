"""The public Avro contract: `.avsc` files and the single-object codec."""

from schemas.catalog import Catalog, load_catalog
from schemas.codec import (
    BadMarker,
    CorruptBody,
    DecodeError,
    UnknownFingerprint,
)

__all__ = [
    "BadMarker",
    "Catalog",
    "CorruptBody",
    "DecodeError",
    "UnknownFingerprint",
    "load_catalog",
]
