"""The columnar fast path accepts only what the request schema accepts, same values."""

from __future__ import annotations

import math
from datetime import UTC

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from api.schemas.geo import PingBatchIn
from geoengine.pings_columnar import columns_from_json
from geoengine.state import _without_device, ping_rows

GOOD = {
    "device_id": "dev-1",
    "timestamp": "2026-11-23T12:00:00Z",
    "lat": 39.7,
    "lon": -104.9,
    "accuracy_m": 8,
}


def _schema_columns(items: list) -> dict | None:
    try:
        pings = PingBatchIn.model_validate({"pings": items}).pings
    except ValidationError:
        return None
    nan = math.nan

    def ts(p) -> float:
        t = p.timestamp
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()

    return {
        "device_ids": [p.device_id for p in pings],
        "ts_s": [ts(p) for p in pings],
        "lat": [nan if p.lat is None else p.lat for p in pings],
        "lng": [nan if p.lon is None else p.lon for p in pings],
        "accuracy_m": [nan if p.accuracy_m is None else p.accuracy_m for p in pings],
        "ips": [p.ip for p in pings],
        "mocked": [p.mocked for p in pings],
    }


def test_valid_batch_becomes_columns() -> None:
    items = [GOOD, {**GOOD, "device_id": "b", "ip": "10.0.0.1", "mocked": True}]
    items.append(
        {"device_id": "c", "timestamp": "2026-11-23T12:00:01", "ip": "1.2.3.4"}
    )
    cols = columns_from_json(items)
    assert cols is not None
    assert cols.device_ids == ["dev-1", "b", "c"]
    assert cols.ts_s.tolist() == [1795435200.0, 1795435200.0, 1795435201.0]
    assert np.isnan(cols.lat[2]) and cols.accuracy_m[0] == 8.0
    assert cols.ips == [None, "10.0.0.1", "1.2.3.4"]
    assert cols.mocked.tolist() == [False, True, False]


@pytest.mark.parametrize(
    "bad",
    [
        {"lat": 91},
        {"lon": -180.5},
        {"accuracy_m": 0},
        {"lat": "39.7"},  # the schema may coerce it: the exact path decides
        {"lat": True},
        {"lat": None, "lon": None},  # neither position nor IP
        {"lon": None},  # lat without lon
        {"device_id": "bad id"},
        {"device_id": ""},
        {"timestamp": "2026-11-23 12:00"},
        {"timestamp": 1795435200},
        {"timestamp": "2026-02-30T00:00:00Z"},
        {"mocked": 1},
        {"ip": 5, "lat": None, "lon": None},
        {"extra": 1},
        {"speed_mps": 401},
        {"heading_deg": -1},
    ],
)
def test_doubtful_items_go_to_the_exact_validator(bad: dict) -> None:
    item = {**GOOD, **bad}
    assert columns_from_json([GOOD, item]) is None


def test_sizes_outside_the_schema_go_to_the_exact_validator() -> None:
    assert columns_from_json([]) is None
    assert columns_from_json([GOOD] * 10_001) is None
    assert columns_from_json([GOOD, [1, 2]]) is None


_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-500, 500),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1.5", "x", "", "2026-11-23T12:00:00+01:00", "a" * 70]),
)
_item = st.fixed_dictionaries(
    {"device_id": st.sampled_from(["d", "d 1", "a:b@c", "", 7])},
    optional={
        "timestamp": st.sampled_from(
            [
                "2026-11-23T12:00:00Z",
                "2026-11-23T12:00:00.25-05:00",
                "2026-11-23T12:00:00",
                "2026-13-23T12:00:00Z",
                "yesterday",
                12345,
            ]
        ),
        "lat": _value,
        "lon": _value,
        "accuracy_m": _value,
        "ip": _value,
        "speed_mps": _value,
        "heading_deg": _value,
        "mocked": _value,
        "other": _value,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_item, min_size=1, max_size=4))
def test_fast_path_never_accepts_what_the_schema_refuses(items: list) -> None:
    cols = columns_from_json(items)
    if cols is None:
        return  # the exact validator decides
    exact = _schema_columns(items)
    assert exact is not None, "fast path accepted an invalid batch"
    assert cols.device_ids == exact["device_ids"]
    assert cols.ips == exact["ips"]
    assert cols.mocked.tolist() == exact["mocked"]
    for name in ("ts_s", "lat", "lng", "accuracy_m"):
        np.testing.assert_array_equal(getattr(cols, name), exact[name], err_msg=name)


def test_stream_columns_read_back_as_rows_and_erase_by_device() -> None:
    doc = {
        "c": {"device_id": ["a", "b", "a"], "ts": [1.0, 2.0, 3.0]},
        "p": [{"device_id": "b", "ts": 0.5}],
        "e": [{"device_id": "a", "event_id": "x"}],
    }
    assert ping_rows(doc) == [
        {"device_id": "b", "ts": 0.5},
        {"device_id": "a", "ts": 1.0},
        {"device_id": "b", "ts": 2.0},
        {"device_id": "a", "ts": 3.0},
    ]
    assert _without_device(doc, "a")
    assert ping_rows(doc) == [
        {"device_id": "b", "ts": 0.5},
        {"device_id": "b", "ts": 2.0},
    ]
    assert doc["e"] == []
    assert not _without_device(doc, "zzz")


def test_persister_transactions_hold_whole_entries_of_bounded_size() -> None:
    from geoengine.persist import _chunks

    big = {"c": {"device_id": ["d"] * 10_000}, "p": [], "e": []}
    small = {"p": [{"device_id": "d"}], "e": [{"device_id": "d"}]}
    items = [(b"1", big), (b"2", small), (b"3", small), (b"4", big)]
    assert [[i for i, _ in c] for c in _chunks(items, 10_000)] == [
        [b"1"],
        [b"2", b"3"],
        [b"4"],
    ]
    assert [[i for i, _ in c] for c in _chunks(items[1:3], 10_000)] == [[b"2", b"3"]]
    assert _chunks([], 10) == []
