"""A webhook on new and updated annotations: the trigger the flows listen to."""
from __future__ import annotations

from labeling.api import Connection

ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")


def register_webhook(conn: Connection, project_id: int, url: str, actions: tuple[str, ...] = ACTIONS,
                     headers: dict[str, str] | None = None) -> int:
    """Register (or update) the project's webhook to this URL for these actions, sending these headers (a
    shared secret, say); returns its id. Idempotent."""
    existing = [w for w in conn.sdk.webhooks.list(project=str(project_id)) if w.url == url]
    fields = dict(url=url, actions=list(actions), is_active=True, send_payload=True, send_for_all_actions=False,
                  headers=headers or {})
    if existing:
        conn.sdk.webhooks.update(existing[0].id, **fields)
        return int(existing[0].id)
    return int(conn.sdk.webhooks.create(project=project_id, **fields).id)


def webhooks(conn: Connection, project_id: int) -> list[dict]:
    return [{"id": w.id, "url": w.url, "actions": list(w.actions or [])}
            for w in conn.sdk.webhooks.list(project=str(project_id))]
