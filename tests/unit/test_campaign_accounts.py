"""Campaign accounts (labeling/accounts.py) with the server faked: generated passwords in an owner-only file, kept
on a rerun, a pre-existing account listed without a password; and gold annotations scored per class."""
from __future__ import annotations

import stat
from types import SimpleNamespace

import numpy as np

from foundation.schema import binary_schema
from labeling import accounts as acc
from labeling.campaign_server import gold_scores
from labeling.regions import brush_results


class FakeServer:
    def __init__(self, existing: dict[str, int]):
        self.users, self.passwords, self.tokens = dict(existing), {}, 0

    def find_user(self, conn, email):
        return self.users.get(email)

    def ensure_user(self, conn, email, password):
        if email not in self.users:
            self.users[email], self.passwords[email] = 100 + len(self.users), password
        return self.users[email]

    def user_token(self, url, email, password):
        assert self.passwords[email] == password, "logged in with another password"
        self.tokens += 1
        return f"tok-{email}-{self.tokens}"


def test_accounts_are_made_once_with_generated_passwords_in_an_owner_only_file(tmp_path, monkeypatch):
    fake = FakeServer({"old@lab.test": 7})
    for name in ("find_user", "ensure_user", "user_token"):
        monkeypatch.setattr(acc, name, getattr(fake, name))
    conn = SimpleNamespace(settings=SimpleNamespace(url="http://ls"))
    path = tmp_path / "c1" / acc.ACCOUNTS_FILE
    first = acc.ensure_accounts(conn, ("ana@lab.test", "old@lab.test"), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ana, old = first["ana@lab.test"], first["old@lab.test"]
    assert len(ana.password) >= 20 and ana.token.startswith("tok-ana") and ana.user_id == 101
    assert old.user_id == 7 and old.password is None and old.token is None and "existed before" in old.note
    assert ana.password not in repr(ana) and ana.token not in repr(ana)

    again = acc.ensure_accounts(conn, ("ana@lab.test", "old@lab.test", "ben@lab.test"), path)
    assert again["ana@lab.test"].password == ana.password  # kept, and it still logs in
    assert again["ana@lab.test"].token != ana.token  # read again: a reset token is picked up
    assert set(acc.read_accounts(path)) == {"ana@lab.test", "old@lab.test", "ben@lab.test"}
    assert fake.users["ben@lab.test"] == again["ben@lab.test"].user_id


def test_gold_annotations_are_scored_per_class_and_skips_are_left_out():
    schema = binary_schema()
    truth = np.zeros((20, 30), np.uint8)
    truth[0:10, 0:10] = 1
    drawn = np.zeros_like(truth)
    drawn[0:10, 5:15] = 1
    task = {"id": 9, "annotations": [
        {"id": 1, "completed_by": 3, "created_username": "ana@lab.test, 3", "result": brush_results(drawn, schema)},
        {"id": 2, "completed_by": 4, "was_cancelled": True, "result": []},
        {"id": 3, "completed_by": 5, "result": "garbage"}]}
    scores = gold_scores(task, truth, schema)
    assert [(s.annotation_id, s.annotator) for s in scores] == [(1, "ana@lab.test"), (3, "5")]
    assert scores[0].iou["grain"] == 50 / 150 and scores[1].iou == {}
