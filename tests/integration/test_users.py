"""Annotator accounts on the real Label Studio: signed up into the admin's organisation, rerun-safe, each with
its own API token that sees the project and whose annotations are attributed to that user."""
from __future__ import annotations

import secrets
import uuid

import numpy as np
import pytest

from labeling.api import Connection, LabelStudioError
from labeling.regions import mask_to_results
from labeling.settings import LabelStudioSettings
from labeling.users import ensure_user, find_user, user_token
from tests.integration.helpers import imported_project, task_shape

pytestmark = pytest.mark.slow


def _email(who: str) -> str:
    return f"{who}-{uuid.uuid4().hex[:8]}@grainloop.test"


def test_two_annotators_see_the_project_and_annotate_as_themselves(conn, docroot, server):
    project, tasks, _ = imported_project(conn, docroot, 2)
    annotators = []
    for who in ("ann", "bob"):
        email, password = _email(who), secrets.token_urlsafe(16)
        user_id = ensure_user(conn, email, password, first_name=who.title(), last_name="Annotator")
        assert ensure_user(conn, email.upper(), password) == user_id  # rerun-safe, e-mail case-insensitive
        token = user_token(server.settings.url, email, password)
        assert token != server.settings.token
        annotators.append((user_id, token))
    assert annotators[0][0] != annotators[1][0]
    members = {u["id"]: u for u in conn.request("GET", "/api/users/")}
    assert members[annotators[0][0]]["first_name"] == "Ann" and members[annotators[1][0]]["last_name"] == "Annotator"

    made = {}
    for (user_id, token), task in zip(annotators, tasks):
        with Connection.open(LabelStudioSettings(server.settings.url, token)) as mine:
            assert mine.request("GET", "/api/current-user/whoami")["id"] == user_id
            listed = mine.request("GET", "/api/tasks", params={"project": project.id, "page_size": 100})
            assert sorted(t["id"] for t in listed["tasks"]) == [t["id"] for t in tasks]
            mask = np.zeros(task_shape(task), np.uint8)
            mask[5:15, 8:20] = 1
            result = mask_to_results(mask, project.schema, polygon_above=0)
            made[user_id] = mine.request("POST", f"/api/tasks/{task['id']}/annotations/", json={"result": result})
    for user_id, annotation in made.items():
        assert conn.request("GET", f"/api/annotations/{annotation['id']}/")["completed_by"] == user_id
    assert len({a["completed_by"] for a in made.values()}) == 2


def test_wrong_password_and_weak_password_are_clear_errors_without_the_password(conn, server):
    email, password = _email("cy"), secrets.token_urlsafe(16)
    ensure_user(conn, email, password)
    wrong = "not-" + secrets.token_hex(8)
    with pytest.raises(LabelStudioError, match="log in") as failed:
        user_token(server.settings.url, email, wrong)
    assert wrong not in str(failed.value)
    weak = "q7Z"
    with pytest.raises(LabelStudioError, match="8") as refused:  # "a password 8-128 characters in length"
        ensure_user(conn, _email("dee"), weak)
    assert weak not in str(refused.value)
    assert find_user(conn, email) is not None
