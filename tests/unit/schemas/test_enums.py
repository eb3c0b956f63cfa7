"""The contract enums' fast `value` getter answers what `Enum`'s own descriptor answers."""

from __future__ import annotations

import enum
import json

import pytest

from schemas import LaneMode, RouteLane
from schemas.enums import ContractEnum
from tests import factories

CONTRACT_ENUMS = ContractEnum.__subclasses__()
ENUM_VALUE = enum.Enum.__dict__["value"]


def test_every_contract_enum_is_covered() -> None:
    assert len(CONTRACT_ENUMS) >= 15
    assert all(issubclass(cls, enum.StrEnum) for cls in CONTRACT_ENUMS)


@pytest.mark.parametrize("cls", CONTRACT_ENUMS, ids=lambda cls: cls.__name__)
def test_value_is_what_the_enum_descriptor_reads(cls: type[ContractEnum]) -> None:
    for member in cls:
        assert member.value == ENUM_VALUE.__get__(member, cls)
        assert type(member.value) is str
        assert cls(member.value) is member


def test_records_serialise_enum_fields_as_their_values() -> None:
    decision = factories.accepted(lane=RouteLane.shared, lane_mode=LaneMode.degraded_shared)
    data = json.loads(decision.to_wire())
    assert (data["outcome"], data["lane"], data["lane_mode"]) == ("accepted", "shared", "degraded_shared")
    assert data["model"] == decision.model == data["request"]["model"]
