"""Connect a project to an ML backend through Label Studio's API (``/api/ml``), as its settings page would.

One connection per backend: grainloop's own connections carry a marker in their description, so a rerun (on
another port, say) updates the earlier one instead of adding a second, and extra copies are removed. Label Studio
health-checks the URL and calls its ``/setup`` while saving, so the backend must be up first. The project then
shows predictions to annotators (``show_collab_predictions``) and its ``model_version`` is the connection's
title: Label Studio asks the backend when a task is opened in the labeling stream only while the two are equal,
and when a task without predictions is opened in the Data Manager.
"""
from __future__ import annotations

from dataclasses import dataclass

from labeling.api import Connection

MARKER = "grainloop ML backend"  # the description of the connections grainloop makes


@dataclass(frozen=True)
class BackendLink:
    url: str  # where Label Studio reaches the backend
    title: str  # the connection's name; also the project's model_version (the version the backend predicts)
    timeout_s: float = 100.0  # Label Studio's time-out for one /predict call

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"an ML backend URL must be http(s)://, got {self.url!r}")
        if not self.title.strip():
            raise ValueError("an ML backend connection needs a title")


def connections(conn: Connection, project_id: int) -> list[dict]:
    """The project's ML backend connections (Label Studio checks each one's health on this request)."""
    return list(conn.request("GET", "/api/ml", params={"project": project_id}) or [])


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def connect_backend(conn: Connection, project_id: int, link: BackendLink) -> int:
    """Connect (or update) the backend for the project and make the project ask it; returns the connection id.
    Rerun-safe: the connection to this URL, else grainloop's earlier one, is updated; no second one is made."""
    found = connections(conn, project_id)
    mine = [c for c in found if _same_url(c.get("url", ""), link.url)]
    mine += [c for c in found if c.get("description") == MARKER and c not in mine]
    body = {"url": link.url, "project": project_id, "title": link.title, "description": MARKER,
            "is_interactive": False, "auto_update": True, "timeout": link.timeout_s}
    if mine:
        backend_id = int(mine[0]["id"])
        conn.request("PATCH", f"/api/ml/{backend_id}", json=body)
        for extra in mine[1:]:
            conn.request("DELETE", f"/api/ml/{extra['id']}")
    else:
        backend_id = int(conn.request("POST", "/api/ml", json=body)["id"])
    conn.request("PATCH", f"/api/projects/{project_id}",
                 json={"show_collab_predictions": True, "model_version": link.title})
    return backend_id


def disconnect_backend(conn: Connection, project_id: int, url: str) -> int:
    """Remove the project's connections to this URL; returns how many."""
    gone = [c for c in connections(conn, project_id) if _same_url(c.get("url", ""), url)]
    for c in gone:
        conn.request("DELETE", f"/api/ml/{c['id']}")
    return len(gone)
