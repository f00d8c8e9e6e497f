"""The release's leaderboard file and table: registered entries recorded once per (model, version, test split),
rows ranked by the primary metric with outside entries beside them, missing metrics shown as missing."""
import pytest

from dataset.leaderboard import (LEADERBOARD, REGISTERED, LeaderboardError, outside_entry, read_leaderboard,
                                 registered_entry)
from dataset.leaderboard_report import LEADERBOARD_MD, LEADERBOARD_PNG, MISSING, ranked, table_rows, write_reports

KEYS = ("mean_fg_iou", "grains/f1")


def _result(iou: float, f1: float | None = None) -> dict:
    metrics = {"mean_fg_iou": iou, "iou/grain": iou, "iou/background": 0.9, "dice/grain": 0.1}
    return {"kind": "model", "images": 3, "metrics": metrics | ({} if f1 is None else {"grains/f1": f1})}


def _never() -> dict:
    raise AssertionError("scored again")


def test_a_registered_version_is_scored_once_per_test_split(tmp_path):
    row, reused = registered_entry(tmp_path, "m@v1", "m", "1", "aaa", lambda: _result(0.5, 0.4), KEYS)
    assert not reused and row["source"] == REGISTERED and row["iou/grain"] == 0.5 and "dice/grain" not in row
    again, reused = registered_entry(tmp_path, "m@v1", "m", "1", "aaa", _never, KEYS)
    assert reused and again == read_leaderboard(tmp_path)[0]
    registered_entry(tmp_path, "other@v1", "other", "1", "aaa", lambda: _result(0.3), KEYS)  # another model
    new, reused = registered_entry(tmp_path, "m@v1", "m", "1", "bbb", lambda: _result(0.7), KEYS)  # rewritten
    assert not reused and [(r["entry"], r["release_sha256"]) for r in read_leaderboard(tmp_path)] == [
        ("other@v1", "aaa"), ("m@v1", "bbb")]


def test_a_registered_entry_does_not_take_an_outside_entry_name(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.png").write_bytes(b"x")
    outside_entry(tmp_path, "m@v1", tmp_path / "sub", lambda: {**_result(0.9), "kind": "instance"}, KEYS)
    with pytest.raises(LeaderboardError, match="outside entry"):
        registered_entry(tmp_path, "m@v1", "m", "1", "aaa", _never, KEYS)


def test_rows_rank_by_the_primary_metric_and_the_files_are_written(tmp_path):
    registered_entry(tmp_path, "m@v1", "m", "1", "aaa", lambda: _result(0.5, 0.4), KEYS)
    registered_entry(tmp_path, "m@v2", "m", "2", "aaa", lambda: _result(0.8, 0.6), KEYS)
    (tmp_path / "sub").mkdir()
    outside_entry(tmp_path, "lab-x", tmp_path / "sub", lambda: {**_result(0.6), "kind": "class"}, KEYS)
    rows = read_leaderboard(tmp_path)
    assert [r["entry"] for r in ranked(rows, "mean_fg_iou")] == ["m@v2", "lab-x", "m@v1"]
    header, cells = table_rows(rows, "mean_fg_iou", ("grains/f1",))
    assert header == ["rank", "entry", "source", "images", "mean_fg_iou", "grains/f1", "iou/background", "iou/grain"]
    assert cells[1][:6] == ["2", "lab-x", "outside", "3", "0.6", MISSING]  # a class map has no grain metrics
    md, png = write_reports(tmp_path, rows, "mean_fg_iou", ("grains/f1",), KEYS, "Leaderboard — v1")
    assert (md.name, png.name) == (LEADERBOARD_MD, LEADERBOARD_PNG) and (tmp_path / LEADERBOARD).exists()
    assert "| 1 | m@v2 | registered | 3 | 0.8 | 0.6 | 0.9 | 0.8 |" in md.read_text()
    assert png.read_bytes()[:4] == b"\x89PNG"
