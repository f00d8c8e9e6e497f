"""Pure labeling logic: tiling maths, policies, agreement, watermark paging, settings (no server)."""
from __future__ import annotations

import numpy as np
import pytest

from labeling.policy import Candidate, agreement, check_policy, choose
from labeling.pull import advance, page_queries
from labeling.settings import SettingsError, load_settings
from labeling.tiles import TilingConfig, axis_starts, merge_tiles, tile_boxes


def test_axis_starts_cover_with_overlap():
    for length in (100, 2048, 2049, 5000, 20000):
        starts = axis_starts(length, 2048, 256)
        assert starts[0] == 0 and starts[-1] + min(length, 2048) == length
        assert all(b - a <= 2048 - 256 for a, b in zip(starts, starts[1:]))


def test_small_image_is_one_tile_and_tiles_merge_back():
    assert len(tile_boxes(2048, 1000, TilingConfig())) == 1
    config = TilingConfig(64, 16)
    image = np.random.default_rng(0).integers(0, 5, (150, 220)).astype(np.uint8)
    boxes = tile_boxes(150, 220, config)
    assert len(boxes) == 3 * 5
    assert np.array_equal(merge_tiles({b: b.crop(image) for b in boxes}, 150, 220, config), image)
    with pytest.raises(ValueError, match="missing"):
        merge_tiles({b: b.crop(image) for b in boxes[1:]}, 150, 220, config)


def _cand(i, mask, updated, **extra):
    return Candidate({"id": i, "updated_at": updated, **extra}, mask)


def test_policies():
    a, b, c = (np.zeros((4, 4), np.uint8) for _ in range(3))
    a[:2], b[:3], c[1:3] = 1, 1, 1
    cands = [_cand(1, a, "2026-01-01T00:00:01Z", ground_truth=True), _cand(2, b, "2026-01-01T00:00:03Z"),
             _cand(3, c, "2026-01-01T00:00:02Z")]
    assert choose(cands, "latest", 2)[1] == [2]
    assert choose(cands, "reviewed", 2)[1] == [1]
    assert choose(cands[1:], "reviewed", 2)[1] == [2]
    majority, used = choose(cands, "majority", 2)
    assert used == [1, 2, 3] and np.array_equal(majority, ((a + b + c) >= 2).astype(np.uint8))
    with pytest.raises(ValueError, match="majority"):
        check_policy("best")


def test_majority_tie_goes_to_latest_and_agreement():
    a, b = np.array([[1, 0]], np.uint8), np.array([[0, 0]], np.uint8)
    mask, _ = choose([_cand(1, a, "1"), _cand(2, b, "2")], "majority", 2)
    assert mask.tolist() == [[0, 0]]
    scores = agreement([_cand(1, a, "1"), _cand(2, a, "2")], ("background", "grain", "pore"))
    assert scores == {"grain": 1.0, "pore": None}


def test_watermark_paging_reads_the_instant_s_unwritten_tasks_then_every_newer_update():
    assert [set(q) for q in page_queries({"watermark": None})] == [{"ordering"}]
    tasks = [{"id": 5, "updated_at": "2026-01-01T00:00:01.5Z"}, {"id": 7, "updated_at": "2026-01-01T00:00:02Z"},
             {"id": 9, "updated_at": "2026-01-01T00:00:02.000000Z"}]
    state = advance({"watermark": None}, tasks)
    assert state == {"watermark": "2026-01-01T00:00:02.000000Z", "at_watermark": [7, 9]}
    ties, newer = (q["filters"]["items"] for q in page_queries(state))
    assert [i["operator"] for i in ties[:2]] == ["greater_or_equal", "less_or_equal"]
    assert {i["value"] for i in ties[2:]} == {7, 9} and all(i["operator"] == "not_equal" for i in ties[2:])
    assert [(i["operator"], i["value"]) for i in newer] == [("greater", state["watermark"])]  # 7 and 9 too
    assert advance(state, [{"id": 11, "updated_at": "2026-01-01T00:00:02Z"}])["at_watermark"] == [7, 9, 11]


def test_settings_need_url_and_token_and_never_show_the_token(tmp_path):
    with pytest.raises(SettingsError, match="GRAINLOOP_LS_TOKEN"):
        load_settings(tmp_path / "none.json", env={})
    s = load_settings(tmp_path / "none.json", env={"GRAINLOOP_LS_URL": "http://h:1/", "GRAINLOOP_LS_TOKEN": "sekrit"})
    assert s.url == "http://h:1" and "sekrit" not in repr(s)


def test_the_server_releases_an_abandoned_task_lock_after_an_hour(tmp_path):
    from labeling.server import Credentials, ServerConfig, server_env

    creds = Credentials("admin@x", "pw", "tok")
    env = server_env(ServerConfig(tmp_path / "d", tmp_path / "r"), creds)
    assert env["LABEL_STUDIO_TASK_LOCK_TTL"] == "3600"
    short = server_env(ServerConfig(tmp_path / "d", tmp_path / "r", task_lock_ttl_s=60), creds)
    assert short["LABEL_STUDIO_TASK_LOCK_TTL"] == "60"
