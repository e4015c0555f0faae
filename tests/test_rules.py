"""Rules the checks apply, judged directly: tracestate mutation (W3C §3.3.1.3) and the dup
profile's two histograms."""
from __future__ import annotations

import grpc
import pytest
from hypothesis import given, strategies as st

from otelconform.profiles import get_profile
from otelconform.tracestate import forwarding_error

SENT = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,tenant1@vendor=t1"


@pytest.mark.parametrize("forwarded", [
    [SENT],
    ["rojo=00f067aa0ba902b7", "congo=t61rcWkgMzE,tenant1@vendor=t1"],  # several headers combine
    [" rojo=00f067aa0ba902b7 ,congo=t61rcWkgMzE,, tenant1@vendor=t1"],  # OWS and empty members
    ["mine=1,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,tenant1@vendor=t1"],  # own entry added in front
    ["congo=updated,rojo=00f067aa0ba902b7,tenant1@vendor=t1"],  # own entry updated and moved
    ["rojo=00f067aa0ba902b7,congo=updated,tenant1@vendor=t1"],  # updated in place (SHOULD move)
    ["tenant1@vendor=t1,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"],  # own entry re-emitted in front
])
def test_legal_forwarding(forwarded):
    assert forwarding_error(SENT, forwarded) is None


@pytest.mark.parametrize("forwarded, problem", [
    ([], "no tracestate was forwarded"),
    (["tenant1@vendor=t1,congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"], "order"),
    (["rojo=00f067aa0ba902b7,tenant1@vendor=t1"], "dropped"),
    (["a=1,b=2," + SENT], "adds or changes 2 entries"),
    (["congo=x,rojo=y,tenant1@vendor=t1"], "adds or changes 2 entries"),
    (["rojo=1,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,tenant1@vendor=t1"], "repeats a key"),
])
def test_illegal_forwarding(forwarded, problem):
    error = forwarding_error(SENT, forwarded)
    assert error is not None and problem in error, error


@given(st.permutations(SENT.split(",")))
def test_only_one_moved_entry_is_tolerated(order):
    sent = SENT.split(",")
    moved_one = order[1:] == [e for e in sent if e != order[0]]
    assert (forwarding_error(SENT, [",".join(order)]) is None) == moved_one


# One Echo call ending OK, as a Java-style dual emitter writes it (legacy histogram with legacy
# attributes, current histogram with current ones) and as Go otelgrpc's rpc/dup does (both
# histograms with the union of both sets).
LEGACY_POINT = {"rpc.system": "grpc", "rpc.service": "conformance.v1.Conformance", "rpc.method": "Echo",
                "rpc.grpc.status_code": 0}
CURRENT_POINT = {"rpc.system.name": "grpc", "rpc.method": "conformance.v1.Conformance/Echo",
                 "rpc.response.status_code": "OK"}
UNION_POINT = {**LEGACY_POINT, **CURRENT_POINT}
del UNION_POINT["rpc.grpc.status_code"]


@pytest.mark.parametrize("legacy, current", [(LEGACY_POINT, CURRENT_POINT), (UNION_POINT, UNION_POINT)],
                         ids=["separate-sets", "union"])
def test_dup_profile_accepts_both_ways_of_dual_emission(legacy, current):
    profile = get_profile("dup")
    by_name = {spec["name"]: spec for spec in profile.server_durations}
    assert profile.point_errors(by_name["rpc.server.duration"], legacy, "Echo", grpc.StatusCode.OK) == []
    assert profile.point_errors(by_name["rpc.server.call.duration"], current, "Echo", grpc.StatusCode.OK) == []


def test_dup_profile_still_rejects_wrong_points():
    profile = get_profile("dup")
    by_name = {spec["name"]: spec for spec in profile.server_durations}
    assert profile.point_errors(by_name["rpc.server.duration"], CURRENT_POINT, "Echo", grpc.StatusCode.OK)
    assert profile.point_errors(by_name["rpc.server.call.duration"], LEGACY_POINT, "Echo", grpc.StatusCode.OK)
    wrong_code = {**LEGACY_POINT, "rpc.grpc.status_code": 5}
    assert profile.point_errors(by_name["rpc.server.duration"], wrong_code, "Echo", grpc.StatusCode.OK)
