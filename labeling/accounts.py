"""A campaign's annotator accounts: made when missing, each with a generated password and its own API token,
written only to an owner-only (0600) JSON file that the lead hands out; never printed or logged.

Rerun-safe: an account already in the file keeps its password (its token is read again, so a reset token is
picked up). An account that existed before the campaign (made by ``grainloop labelstudio user add``) keeps the
password its owner chose, which grainloop does not know: the file records it without password or token. The
password is written to the file before the account is signed up, so a crash in between loses nothing.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from foundation.atomic import write_atomic
from labeling.api import Connection
from labeling.users import ensure_user, find_user, user_token

ACCOUNTS_FILE = "accounts.json"
OWNER_ONLY = 0o600
PASSWORD_BYTES = 18  # secrets.token_urlsafe: 24 characters (Label Studio takes 8 to 128)


@dataclass(frozen=True)
class Account:
    email: str
    user_id: int | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    note: str = ""


def read_accounts(path: Path) -> dict[str, Account]:
    """The accounts file (e-mail -> Account); {} when there is none."""
    path = Path(path)
    if not path.is_file():
        return {}
    return {e: Account(**a) for e, a in json.loads(path.read_text()).items()}


def write_accounts(path: Path, accounts: dict[str, Account]) -> Path:
    """Owner-only from the first byte (foundation.atomic sets the mode before writing)."""
    data = {e: asdict(a) for e, a in sorted(accounts.items())}
    out = write_atomic(path, json.dumps(data, indent=2), mode=OWNER_ONLY)
    os.chmod(out, OWNER_ONLY)
    return out


def ensure_accounts(conn: Connection, emails: tuple[str, ...], path: Path) -> dict[str, Account]:
    """Every annotator's account on the server and in the file at ``path``; returns them by e-mail."""
    accounts = read_accounts(path)
    for email in emails:
        known = accounts.get(email)
        if known is None:
            existing = find_user(conn, email)
            if existing is not None:
                accounts[email] = Account(email, existing, note="existed before the campaign: signs in with its "
                                                                 "own password")
                continue
            known = accounts[email] = Account(email, password=secrets.token_urlsafe(PASSWORD_BYTES))
            write_accounts(path, accounts)
        if known.password is None:
            continue
        user_id = ensure_user(conn, email, known.password)
        token = user_token(conn.settings.url, email, known.password)
        accounts[email] = Account(email, user_id, known.password, token, known.note)
    write_accounts(path, accounts)
    return {e: accounts[e] for e in emails}
