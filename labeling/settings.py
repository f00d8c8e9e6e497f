"""Where the Label Studio server is and how to reach it: URL and API token.

The token comes from the environment (``GRAINLOOP_LS_URL``, ``GRAINLOOP_LS_TOKEN``) or from the git-ignored
settings file that ``grainloop labelstudio up`` writes (``.grainloop/labelstudio.json``); the environment wins.
The token never appears in a repr, a log line or an exception message.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foundation.atomic import write_atomic

URL_ENV = "GRAINLOOP_LS_URL"
TOKEN_ENV = "GRAINLOOP_LS_TOKEN"
SETTINGS_ENV = "GRAINLOOP_LS_SETTINGS"
DEFAULT_SETTINGS = Path(".grainloop") / "labelstudio.json"


class SettingsError(RuntimeError):
    """No usable Label Studio settings."""


@dataclass(frozen=True)
class LabelStudioSettings:
    url: str
    token: str = field(repr=False)
    pid: int | None = None
    data_dir: Path | None = None
    document_root: Path | None = None

    def client(self, timeout: float = 300.0):
        """An SDK 2.x client for this server (imported lazily: the SDK is heavy)."""
        from label_studio_sdk.client import LabelStudio

        return LabelStudio(base_url=self.url, api_key=self.token, timeout=timeout)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def to_dict(self) -> dict[str, Any]:
        paths = {"data_dir": self.data_dir, "document_root": self.document_root}
        return {"url": self.url, "token": self.token, "pid": self.pid,
                **{k: str(v) if v else None for k, v in paths.items()}}


def settings_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get(SETTINGS_ENV) or DEFAULT_SETTINGS)


def read_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise SettingsError(f"{path} is not valid JSON ({e.msg}); remove it and run "
                            "`grainloop labelstudio up`") from None


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> LabelStudioSettings:
    """Settings from the file, overridden field by field by the environment."""
    env = os.environ if env is None else env
    path = path or settings_path(env)
    data = read_file(path)
    url, token = env.get(URL_ENV) or data.get("url"), env.get(TOKEN_ENV) or data.get("token")
    if not url or not token:
        raise SettingsError(f"no Label Studio URL/token: set {URL_ENV} and {TOKEN_ENV}, "
                            f"or run `grainloop labelstudio up` (writes {path})")
    paths = {k: Path(data[k]) if data.get(k) else None for k in ("data_dir", "document_root")}
    return LabelStudioSettings(url.rstrip("/"), token, data.get("pid"), **paths)


def save_settings(settings: LabelStudioSettings, path: Path) -> None:
    """Write the settings file readable by its owner only (it holds the token)."""
    write_atomic(path, json.dumps(settings.to_dict(), indent=2), mode=0o600)
