"""A small HTTP receiver for Label Studio's annotation webhooks that starts a deployment run, debounced.

Label Studio posts one request per saved annotation; a person finishing ten images in a row must start one
cycle, not ten. Each accepted event (re)starts a quiet-period timer; when it runs out, ``trigger`` is called
once with the number of events it covers. The request itself only records the event and answers 200: nothing
is trained, pulled or even scheduled inside it. The trigger runs in the timer's thread and, in production, only
asks the Prefect API for a deployment run (``deployment_trigger``): the served deployment does the work.

With ``GRAINLOOP_WEBHOOK_SECRET`` set, a request must carry it in the ``X-Grainloop-Token`` header (Label Studio
sends the header registered with the webhook); the secret is never logged.
"""
from __future__ import annotations

import hmac
import json
import os
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

from labeling.webhooks import ACTIONS

SECRET_ENV = "GRAINLOOP_WEBHOOK_SECRET"
TOKEN_HEADER = "X-Grainloop-Token"


@dataclass(frozen=True)
class ReceiverConfig:
    host: str = "127.0.0.1"
    port: int = 8765  # 0: any free port
    path: str = "/webhook"
    debounce_s: float = 30.0  # quiet time after the last event before the trigger fires
    actions: tuple[str, ...] = ACTIONS
    max_body: int = 1 << 20  # bytes: a larger body is refused (413) unread
    read_timeout_s: float = 30.0  # a client that stops sending is dropped


class BodyError(ValueError):
    """A request body refused before it is read: ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def content_length(values: list[str], limit: int) -> int:
    """The body length the Content-Length header(s) announce. No header: 0. Not a plain decimal number (negative,
    signed, garbage), or two that differ: BodyError 400; over ``limit``: BodyError 413."""
    found = {v.strip() for v in values}
    if not found:
        return 0
    if len(found) > 1:
        raise BodyError(400, "conflicting Content-Length headers")
    text = found.pop()
    if not (text.isascii() and text.isdigit()):
        raise BodyError(400, f"bad Content-Length {text[:40]!r}")
    if int(text) > limit:
        raise BodyError(413, f"the body is over {limit} bytes")
    return int(text)


class Debouncer:
    """Calls ``fire(n)`` once, ``delay`` seconds after the last of n ``poke()`` calls (thread-safe)."""

    def __init__(self, delay: float, fire: Callable[[int], None]):
        self.delay, self.fire = delay, fire
        self._lock, self._timer, self._count = threading.Lock(), None, 0
        self.fired: list[int] = []  # the event count of each call, for status and tests

    def poke(self) -> None:
        with self._lock:
            self._count += 1
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.delay, self._run)
            self._timer.daemon = True
            self._timer.start()

    def _run(self) -> None:
        with self._lock:
            count, self._count, self._timer = self._count, 0, None
        if count:
            self.fired.append(count)
            self.fire(count)

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._count = None, 0


def _handler(receiver: "WebhookReceiver") -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = receiver.cfg.read_timeout_s

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            try:
                if self.headers.get("Transfer-Encoding"):
                    raise BodyError(411, "send a Content-Length, not a chunked body")
                body = self.rfile.read(content_length(self.headers.get_all("Content-Length") or [],
                                                      receiver.cfg.max_body))
            except BodyError as exc:
                self.close_connection = True  # the unread body must not be taken for the next request
                self._answer(exc.status, {"error": str(exc)})
                return
            self._answer(*receiver.accept(self.path, self.headers.get(TOKEN_HEADER), body))

        def do_GET(self) -> None:  # noqa: N802
            ok = self.path == "/health"
            self._answer(200 if ok else 404, {"status": "UP", "triggered": receiver.debouncer.fired} if ok else {})

        def _answer(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:  # quiet: requests are counted, not printed
            pass

    return Handler


class WebhookReceiver:
    """``start()`` serves in a background thread and returns the URL to register with Label Studio."""

    def __init__(self, cfg: ReceiverConfig, trigger: Callable[[int], None], secret: Optional[str] = None):
        self.cfg, self.secret = cfg, secret if secret is not None else os.environ.get(SECRET_ENV) or None
        self.debouncer = Debouncer(cfg.debounce_s, trigger)
        self._server: Optional[ThreadingHTTPServer] = None

    def accept(self, path: str, token: Optional[str], body: bytes) -> tuple[int, dict]:
        """The answer to one POST: (status, body). Counts the event when it is an annotation event."""
        if path.split("?")[0] != self.cfg.path:
            return 404, {"error": f"unknown path {path!r}"}
        if self.secret and not hmac.compare_digest(token or "", self.secret):
            return 401, {"error": f"missing or wrong {TOKEN_HEADER} header"}
        try:
            action = json.loads(body or b"{}").get("action")
        except (ValueError, AttributeError):
            return 400, {"error": "the body is not a JSON object"}
        if action not in self.cfg.actions:
            return 200, {"accepted": False, "reason": f"action {action!r} is not one of {list(self.cfg.actions)}"}
        self.debouncer.poke()
        return 200, {"accepted": True}

    def start(self) -> str:
        self._server = ThreadingHTTPServer((self.cfg.host, self.cfg.port), _handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True, name="grainloop-webhook").start()
        return self.url

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the receiver is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.cfg.path}"

    def stop(self) -> None:
        self.debouncer.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def deployment_trigger(deployment: str, parameters: dict) -> Callable[[int], None]:
    """A trigger that asks Prefect for one run of ``deployment`` ("flow-name/deployment-name") and returns at
    once; the served deployment (or a worker) runs it."""

    def trigger(events: int) -> None:
        from prefect.deployments import run_deployment

        run_deployment(deployment, parameters=parameters, timeout=0, as_subflow=False,
                       tags=["webhook"], flow_run_name=f"webhook: {events} annotation event(s)")

    return trigger
