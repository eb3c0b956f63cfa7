"""Derived event ids are exactly uuid5 of their origin: replays and older records keep their ids."""

import pickle
import uuid

from hypothesis import given
from hypothesis import strategies as st

from schemas.event_ids import ID_NAMESPACE, derived_event_id, queue_timeout_event_id


@given(st.text(max_size=80), st.text(max_size=40))
def test_derived_id_is_uuid5_of_the_origin(origin: str, kind: str) -> None:
    derived = derived_event_id(origin, kind)
    expected = uuid.uuid5(ID_NAMESPACE, f"{origin}|{kind}")
    assert derived == expected and hash(derived) == hash(expected)
    assert str(derived) == str(expected) and derived.version == 5 and derived.variant == uuid.RFC_4122
    assert pickle.loads(pickle.dumps(derived)) == expected


def test_a_known_id_never_changes() -> None:
    # Written to the logs by earlier versions: a change here would split one fact into two rows.
    assert str(queue_timeout_event_id("t-1")) == "6ccf7fa2-3e66-55db-b841-a5c7dcfaaa49"
