"""A webhook on new and updated annotations: the trigger the flows listen to."""
from __future__ import annotations

from labeling.api import Connection

ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")


def register_webhook(conn: Connection, project_id: int, url: str, actions: tuple[str, ...] = ACTIONS) -> int:
    """Register (or update) the project's webhook to this URL for these actions; returns its id. Idempotent."""
    existing = [w for w in conn.sdk.webhooks.list(project=str(project_id)) if w.url == url]
    if existing:
        conn.sdk.webhooks.update(existing[0].id, url=url, actions=list(actions), is_active=True,
                                 send_payload=True, send_for_all_actions=False)
        return int(existing[0].id)
    hook = conn.sdk.webhooks.create(url=url, project=project_id, actions=list(actions), send_payload=True,
                                    send_for_all_actions=False, is_active=True)
    return int(hook.id)


def webhooks(conn: Connection, project_id: int) -> list[dict]:
    return [{"id": w.id, "url": w.url, "actions": list(w.actions or [])}
            for w in conn.sdk.webhooks.list(project=str(project_id))]
