"""Where a change came from: the request and the unit system that sent it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provenance:
    request_id: str
    source_system: str

    def fields(self) -> dict[str, str]:
        return {"request_id": self.request_id, "source_system": self.source_system}
