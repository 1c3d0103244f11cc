"""test_limits.py — relay slots: max_running_tasks of the node and of an account, against a
real ferryd, nginx-rtmp and an ffmpeg publisher. A task due to run when no slot is free waits
(idle, reason WaitingForSlot, the limit named in its history) and starts when a slot frees."""

import copy
import os
import time

import pytest

from conftest import ACCOUNTS, ALICE_TOKEN, BOB_TOKEN, FERRYD_SETTINGS
from harness import Api, Ferryd, live_task, wait_until, whole_seconds_from_now


@pytest.fixture
def limited(tmp_path):
    """A ferryd whose node runs at most 2 relays and whose account alice at most 1."""
    accounts = copy.deepcopy(ACCOUNTS)
    accounts["alice"]["max_running_tasks"] = 1
    d = Ferryd(str(tmp_path / "ferryd"), accounts, dict(FERRYD_SETTINGS, max_running_tasks=2))
    d.start()
    yield d
    rc, _ = d.terminate()
    assert rc == 0
    assert not d.sanitizer_reports()


def relay(api, nginx, dst):
    start = whole_seconds_from_now(0)
    return api.create_task(**live_task(nginx, start, start + 600, dst=dst))["id"]


def waits(api, nginx, tid, dst, words):
    """The task waits for a slot: idle, WaitingForSlot with the limit in its history, and
    nothing reaches its destination."""
    wait_until(lambda: api.task(tid).get("reason") == "WaitingForSlot", 10,
               what="task %s waiting for a slot" % tid)
    t = api.task(tid)
    assert t["state"] == "idle", t
    lines = api.history(tid, "WaitingForSlot")
    assert len(lines) == 1 and words in lines[0]["detail"], lines
    time.sleep(2)
    assert not nginx.is_published("dst", dst)
    assert len(api.history(tid, "WaitingForSlot")) == 1  # told once, not at every retry


def test_relay_slots_of_the_node_and_of_an_account(limited, nginx, publisher):
    alice, bob = Api(limited.port, ALICE_TOKEN), Api(limited.port, BOB_TOKEN)
    publisher("cam")
    nginx.wait_published("src", "cam")

    a = relay(alice, nginx, "a")
    alice.wait_state(a, "running", 15)
    b = relay(alice, nginx, "b")
    waits(alice, nginx, b, "b", "account alice runs its max_running_tasks of 1")

    c = relay(bob, nginx, "c")  # another account is not held back by alice's limit
    bob.wait_state(c, "running", 15)
    d = relay(bob, nginx, "d")
    waits(bob, nginx, d, "d", "this node runs its max_running_tasks of 2")

    # alice's relay ends: her waiting task takes the slot (it waited first), bob's waits on
    st, _ = alice.delete("/v1/tasks/" + a)
    assert st in (200, 204)
    t0 = time.monotonic()
    alice.wait_state(b, "running", 15)
    nginx.wait_published("dst", "b")
    took = time.monotonic() - t0
    assert took < 8, "slot freed -> waiting task running took %.1f s" % took
    time.sleep(1)
    assert bob.task(d)["state"] == "idle" and not nginx.is_published("dst", "d")

    # a paused relay frees its slot too
    st, _ = bob.post("/v1/tasks/%s/pause" % c)
    assert st == 200
    bob.wait_state(d, "running", 15)
    nginx.wait_published("dst", "d")
    assert nginx.publish_count("dst", "b") == 1 and nginx.publish_count("dst", "d") == 1
    assert limited.running()


@pytest.fixture
def metered(tmp_path):
    """A ferryd where alice's relays may take 100 kb/s from a source (bob: the default)."""
    accounts = copy.deepcopy(ACCOUNTS)
    accounts["alice"]["max_ingest_kbps"] = 100
    d = Ferryd(str(tmp_path / "ferryd"), accounts, dict(FERRYD_SETTINGS))
    d.start()
    yield d
    rc, _ = d.terminate()
    assert rc == 0
    assert not d.sanitizer_reports()


def test_a_source_over_the_accounts_ingest_limit_is_cut_off(metered, nginx, publisher):
    """alice may take 100 kb/s from a source; the test stream sends far more. Her relay
    ends after the first 5 s window with the rate and the limit in its error; bob's relay
    of the same stream, under the default limit, goes on."""
    alice, bob = Api(metered.port, ALICE_TOKEN), Api(metered.port, BOB_TOKEN)
    publisher("cam")
    nginx.wait_published("src", "cam")
    start = whole_seconds_from_now(0)
    a = alice.create_task(**live_task(nginx, start, start + 600, dst="a", retry_count=0))["id"]
    b = bob.create_task(**live_task(nginx, start, start + 600, dst="b"))["id"]
    alice.wait_state(a, "running", 15)
    bob.wait_state(b, "running", 15)
    done, _ = alice.wait_state(a, "offline", 20)
    err = done["last_error"]
    assert "over max_ingest_kbps 100" in err and "the source sends" in err, done
    sent = int(err.split("the source sends ")[1].split(" kb/s")[0])
    assert sent > 100, err
    assert bob.task(b)["state"] == "running"
    assert nginx.is_published("dst", "b") and not nginx.is_published("dst", "a")
