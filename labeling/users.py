"""Label Studio Community accounts (annotators) through the server's own HTTP endpoints.

Community Edition has no API that sets a password: ``POST /api/users/`` makes an account without one (it cannot
log in). So an account is made the way a person makes one, by signing up with the organisation's invite link
(``GET /api/invite`` as the admin gives its token; ``/user/signup/?token=...``, a CSRF-protected form). That
joins the admin's organisation (the server's first and only one), so the new user sees its projects. The user's
API token is read with a logged-in session: ``/user/login/`` then ``GET /api/current-user/token`` (a legacy
token: our server enables them when it creates the organisation, see labeling/server.py).

Passwords go only into the form bodies: never into a log line, a repr or an exception message.
"""
from __future__ import annotations

import html
import re

import httpx

from labeling.api import Connection, LabelStudioError

CSRF_COOKIE = "csrftoken"
_ERRORS = re.compile(r'class="[^"]*(?:error|errorlist)[^"]*"[^>]*>\s*(?:<li>)?([^<]{3,200})', re.I)


def user_emails(conn: Connection) -> dict[int, str]:
    """Every member of the admin's organisation: user id -> e-mail (lower-cased)."""
    return {int(u["id"]): str(u.get("email", "")).strip().lower() for u in conn.request("GET", "/api/users/")}


def find_user(conn: Connection, email: str) -> int | None:
    """The id of the member of the admin's organisation with this e-mail (case-insensitive), or None."""
    wanted = email.strip().lower()
    return next((user_id for user_id, known in user_emails(conn).items() if known == wanted), None)


def ensure_user(conn: Connection, email: str, password: str, first_name: str = "", last_name: str = "") -> int:
    """The id of the account with this e-mail in the admin's organisation, signing it up first if there is none.

    Rerun-safe: an existing member is returned as it is (its password is not changed); names are set when given.
    """
    user_id = find_user(conn, email)
    if user_id is None:
        _sign_up(conn.settings.url, _invite_token(conn), email, password)
        user_id = find_user(conn, email)
        if user_id is None:
            raise LabelStudioError(f"signed up {email}, but it is not a member of the admin's organisation")
    names = {k: v for k, v in (("first_name", first_name), ("last_name", last_name)) if v}
    if names:
        conn.request("PATCH", f"/api/users/{user_id}/", json=names)
    return user_id


def user_token(url: str, email: str, password: str, timeout: float = 30.0) -> str:
    """The user's API token (use it as ``Authorization: Token ...``), read through a logged-in session."""
    with _browser_like(url, timeout) as web:
        _submit(web, "/user/login/", {"email": email, "password": password}, f"log in as {email}")
        response = web.get("/api/current-user/token")
        if response.status_code != 200:
            raise LabelStudioError(f"GET /api/current-user/token as {email} answered {response.status_code}")
        return str(response.json()["token"])


def _invite_token(conn: Connection) -> str:
    return str(conn.request("GET", "/api/invite")["token"])


def _sign_up(url: str, invite: str, email: str, password: str) -> None:
    with _browser_like(url, 30.0) as web:
        _submit(web, f"/user/signup/?token={invite}", {"email": email, "password": password}, f"sign up {email}")


def _browser_like(url: str, timeout: float) -> httpx.Client:
    """A cookie-keeping client without the admin's token: the server sees a person at a browser."""
    return httpx.Client(base_url=url.rstrip("/"), timeout=timeout, follow_redirects=False)


def _submit(web: httpx.Client, path: str, fields: dict[str, str], what: str) -> None:
    """GET the form (sets the CSRF cookie), POST it; Django answers a redirect on success, the form on failure."""
    page = web.get(path)
    csrf = web.cookies.get(CSRF_COOKIE)
    if page.status_code != 200 or not csrf:
        raise LabelStudioError(f"{what}: GET {path.split('?')[0]} answered {page.status_code}"
                               f"{'' if csrf else ' without a CSRF cookie'}")
    response = web.post(path, data={**fields, "csrfmiddlewaretoken": csrf},
                        headers={"X-CSRFToken": csrf, "Referer": f"{web.base_url}{path.split('?')[0]}"})
    if response.status_code in (301, 302, 303):
        return
    found = (html.unescape(m.strip()) for m in _ERRORS.findall(response.text))
    reasons = "; ".join(dict.fromkeys(m for m in found if m))
    raise LabelStudioError(f"{what} failed ({response.status_code}){': ' + reasons if reasons else ''}")
