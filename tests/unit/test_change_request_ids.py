"""A change request's id is uuid5 of its source system and request id: the form with
the namespace hashed once must give exactly the ids `uuid.uuid5` gave (every request
already recorded is found again by it, which is what makes a repeat get its one
outcome)."""

from uuid import UUID, uuid5

import pytest

from domain.change_request import change_request_id

_REQUEST_NAMESPACE = UUID("0b8e4a7e-55a6-4a4e-8c39-7f6a3d2b1c01")


@pytest.mark.parametrize(
    ("source_system", "request_id"),
    [("SH-XH", "r-1"), ("unit-system", "2026-11-28/000001"), ("系统", "请求-ä"), ("", "")],
)
def test_same_ids_as_uuid5(source_system: str, request_id: str) -> None:
    expected = uuid5(_REQUEST_NAMESPACE, f"{source_system}\x1f{request_id}")
    assert change_request_id(source_system, request_id) == expected
    assert change_request_id(source_system, request_id).version == 5


def test_an_id_recorded_before_is_found_again() -> None:
    # Pinned: the id stores already hold for this request (worked out by uuid.uuid5).
    assert change_request_id("SH-XH", "r-1") == UUID("052018da-8fc8-505a-9b7e-68eb20d5c789")
