"""The webhook receiver's pure parts: debouncing, and what it accepts (over real HTTP on 127.0.0.1)."""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from flows.webhook import TOKEN_HEADER, Debouncer, ReceiverConfig, WebhookReceiver
from tests.helpers import wait_for


def test_a_burst_fires_once_with_its_count_and_a_later_event_fires_again():
    calls, done = [], threading.Event()
    debouncer = Debouncer(1.0, lambda n: (calls.append(n), done.set()))
    for _ in range(5):
        debouncer.poke()
        time.sleep(0.02)
    assert calls == []  # still inside the quiet period
    assert done.wait(3) and wait_for(lambda: calls == [5])
    debouncer.poke()
    assert wait_for(lambda: calls == [5, 1])


def test_cancel_drops_pending_events():
    calls = []
    debouncer = Debouncer(0.1, calls.append)
    debouncer.poke()
    debouncer.cancel()
    time.sleep(0.3)
    assert calls == []


def _post(url: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture()
def receiver():
    calls: list[int] = []
    rec = WebhookReceiver(ReceiverConfig(port=0, debounce_s=1.5), calls.append, secret="s3cret-value")
    rec.start()
    yield rec, calls
    rec.stop()


def test_the_receiver_answers_at_once_and_counts_only_annotation_events(receiver):
    rec, calls = receiver
    ok = {TOKEN_HEADER: "s3cret-value"}
    event = json.dumps({"action": "ANNOTATION_CREATED", "annotation": {"id": 1}}).encode()
    t0 = time.monotonic()
    assert _post(rec.url, event, ok) == (200, {"accepted": True})
    assert time.monotonic() - t0 < 1.0 and calls == []  # nothing runs inside the request
    assert _post(rec.url, json.dumps({"action": "ANNOTATION_UPDATED"}).encode(), ok)[1]["accepted"]
    status, body = _post(rec.url, json.dumps({"action": "PROJECT_UPDATED"}).encode(), ok)
    assert status == 200 and body["accepted"] is False
    assert _post(rec.url, event, {TOKEN_HEADER: "wrong"})[0] == 401
    assert _post(rec.url, event)[0] == 401
    assert _post(rec.url, b"not json", ok)[0] == 400
    assert _post(rec.url.replace("/webhook", "/other"), event, ok)[0] == 404
    assert wait_for(lambda: calls == [2])  # the two annotation events, in one trigger
    with urllib.request.urlopen(rec.url.replace("/webhook", "/health"), timeout=5) as r:
        assert json.loads(r.read()) == {"status": "UP", "triggered": [2]}


def test_without_a_secret_any_caller_on_the_host_is_accepted(monkeypatch):
    monkeypatch.delenv("GRAINLOOP_WEBHOOK_SECRET", raising=False)
    rec = WebhookReceiver(ReceiverConfig(port=0, debounce_s=10), lambda n: None)
    rec.start()
    try:
        assert _post(rec.url, json.dumps({"action": "ANNOTATION_CREATED"}).encode())[0] == 200
    finally:
        rec.stop()


def _raw(url: str, head: str, body: bytes = b"") -> tuple[int, float]:
    """Send a hand-made POST (any Content-Length, true or not); (status, seconds to the answer)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    t0 = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(f"POST {parts.path} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + body)
        answer = s.recv(4096).decode("latin-1")
    return int(answer.split()[1]), time.monotonic() - t0


@pytest.mark.parametrize("head, status", [
    ("Content-Length: -1\r\n", 400),  # read to EOF before: the request hung until the client gave up
    ("Content-Length: +5\r\n", 400),
    ("Content-Length: 5x\r\n", 400),
    ("Content-Length: 2\r\nContent-Length: 3\r\n", 400),
    (f"Content-Length: {(1 << 20) + 1}\r\n", 413),  # announced, never sent: refused before reading
    ("Content-Length: 99999999999999999999\r\n", 413),
    ("Transfer-Encoding: chunked\r\n", 411),
])
def test_bad_or_oversized_bodies_are_refused_without_reading_them(receiver, head, status):
    rec, calls = receiver
    assert _raw(rec.url, f"{TOKEN_HEADER}: s3cret-value\r\n{head}")[0] == status
    assert calls == [] and rec.debouncer._count == 0


def test_a_body_over_the_limit_is_refused_and_one_at_the_limit_is_read():
    rec = WebhookReceiver(ReceiverConfig(port=0, debounce_s=10, max_body=64), lambda n: None, secret="")
    rec.start()
    try:
        event = json.dumps({"action": "ANNOTATION_CREATED"}).encode().ljust(64)
        assert _raw(rec.url, f"Content-Length: {len(event)}\r\n", event)[0] == 200
        assert _raw(rec.url, f"Content-Length: {len(event) + 1}\r\n", event + b" ")[0] == 413
    finally:
        rec.stop()
