"""`grainloop labelstudio up | down | status` behind the CLI: the server recorded in the settings file."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from labeling.server import ServerConfig, is_healthy, is_ours, start, stop
from labeling.settings import LabelStudioSettings, read_file, save_settings


@dataclass(frozen=True)
class Status:
    running: bool
    healthy: bool
    url: str | None
    pid: int | None
    data_dir: str | None

    def describe(self) -> str:
        if not self.url:
            return "no Label Studio recorded; run `grainloop labelstudio up`"
        state = "running" if self.running and self.healthy else "recorded but not answering" if self.running \
            else "not running"
        return f"Label Studio {state} at {self.url} (pid {self.pid}, data {self.data_dir})"


def status(settings_file: Path) -> Status:
    data = read_file(settings_file)
    pid, url = data.get("pid"), data.get("url")
    running = bool(pid) and is_ours(int(pid))
    return Status(running, bool(url) and is_healthy(url), url, pid, data.get("data_dir"))


def up(config: ServerConfig, settings_file: Path) -> tuple[LabelStudioSettings, bool]:
    """Start the server and record it; reuse the recorded one if it is running. (settings, started?)"""
    current = status(settings_file)
    if current.running and current.healthy:
        data = read_file(settings_file)
        return LabelStudioSettings(data["url"], data["token"], data["pid"]), False
    settings = start(config)
    save_settings(settings, settings_file)
    return settings, True


def down(settings_file: Path) -> bool:
    """Stop the server this settings file recorded, by its PID; False if it was not running."""
    data = read_file(settings_file)
    pid = data.get("pid")
    stopped = bool(pid) and stop(int(pid))
    if data.get("url") and data.get("token"):
        settings = LabelStudioSettings(data["url"], data["token"], None,
                                       *(Path(data[k]) if data.get(k) else None for k in ("data_dir", "document_root")))
        save_settings(replace(settings, pid=None), settings_file)
    return stopped
