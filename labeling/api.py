"""One connection to Label Studio: the SDK client, plus plain JSON paging where the SDK adds only overhead.

Task lists carrying brush RLE are large; reading them as plain JSON (no model objects) is what keeps pulls
close to the raw listing speed.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

from labeling.settings import LabelStudioSettings

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class LabelStudioError(RuntimeError):
    """Label Studio answered with an error."""


@dataclass
class Connection:
    settings: LabelStudioSettings
    sdk: Any
    http: httpx.Client

    @classmethod
    def open(cls, settings: LabelStudioSettings, timeout: float = 300.0) -> "Connection":
        http = httpx.Client(base_url=settings.url, headers=settings.headers(), timeout=timeout)
        return cls(settings, settings.client(timeout=timeout), http)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise LabelStudioError(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else None


def task_page(conn: Connection, project_id: int, query: dict | None, page_size: int,
              all_fields: bool, page: int = 1) -> dict:
    params: dict[str, Any] = {"project": project_id, "page": page, "page_size": page_size}
    if query:
        params["query"] = json.dumps(query)
    if all_fields:
        params["fields"] = "all"
    return conn.request("GET", "/api/tasks", params=params)


def iter_tasks(conn: Connection, project_id: int, query: dict | None = None, page_size: int = 500,
               all_fields: bool = False) -> Iterator[dict]:
    """Every task of a project matching the Data Manager query, page by page, as plain dicts."""
    page, seen = 1, 0
    while True:
        data = task_page(conn, project_id, query, page_size, all_fields, page)
        yield from data["tasks"]
        seen += len(data["tasks"])
        if not data["tasks"] or seen >= data["total"]:
            return
        page += 1


def to_server_time(value: str | datetime) -> str:
    """A timestamp in the exact format the Data Manager's Datetime filters parse (UTC, microseconds)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return moment.astimezone(timezone.utc).strftime(DATETIME_FORMAT)


def filters(*items: dict, conjunction: str = "and") -> dict:
    return {"conjunction": conjunction, "items": list(items)}


def filter_item(field: str, operator: str, kind: str, value: Any) -> dict:
    return {"filter": f"filter:tasks:{field}", "operator": operator, "type": kind, "value": value}
