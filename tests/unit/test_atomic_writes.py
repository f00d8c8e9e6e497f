"""State files survive a writer killed mid-write, and the pending-annotations count survives a corrupt file.

The kill is real: the writer runs in a child process whose file-size limit (RLIMIT_FSIZE) is below the new
content, so the kernel kills it with SIGXFSZ part-way through writing. A non-atomic writer (truncate, then
write in place) leaves a truncated file; temp-and-rename leaves the old one.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from flows.cycle import add_pending, read_pending
from ml.io import read_mask, write_mask

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 4096  # bytes the killed child may write to any one file


def _killed_mid_write(code: str, limit: int = LIMIT) -> subprocess.CompletedProcess:
    """Run code in a child limited to ``limit`` bytes a file; the write past it kills the child (SIGXFSZ)."""
    prelude = f"import resource, signal, sys; sys.path.insert(0, {str(ROOT)!r}); " \
              f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); " \
              "signal.signal(signal.SIGXFSZ, signal.SIG_DFL)\n"  # Python ignores it: the write would only fail
    done = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == -signal.SIGXFSZ, (done.returncode, done.stderr[-2000:])
    return done


def _noise(shape=(256, 256)) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)  # does not compress: > LIMIT


@pytest.mark.parametrize("name", ["mask.png", "mask.tif"])
def test_a_killed_mask_write_leaves_the_old_mask(tmp_path, name):
    target = write_mask(tmp_path / name, np.ones((8, 8), np.uint8))
    before = target.read_bytes()
    np.save(tmp_path / "new.npy", _noise())
    _killed_mid_write(f"""
        import numpy as np
        from ml.io import write_mask
        write_mask({str(target)!r}, np.load({str(tmp_path / 'new.npy')!r}))
    """)
    assert target.read_bytes() == before and np.array_equal(read_mask(target), np.ones((8, 8)))


def test_a_killed_report_write_leaves_the_old_json_and_csv(tmp_path):
    from ml.report import write_json, write_rows

    js, rows = write_json(tmp_path / "metrics.json", {"iou": 0.5}), write_rows(tmp_path / "per_image.csv", [{"a": 1}])
    before = js.read_bytes(), rows.read_bytes()
    _killed_mid_write(f"""
        from pathlib import Path
        from ml.report import write_json, write_rows
        import os, signal
        if os.fork() == 0:  # a second child dies in write_json, this one in write_rows
            write_json(Path({str(js)!r}), {{"long": "x" * {4 * LIMIT}}})
            os._exit(0)
        _, status = os.wait()
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXFSZ, status
        write_rows(Path({str(rows)!r}), [{{"a": i, "b": "y" * 50}} for i in range({LIMIT})])
    """)
    assert (js.read_bytes(), rows.read_bytes()) == before


def test_a_killed_copy_into_the_dataset_leaves_the_old_image(tmp_path):
    from foundation.atomic import copy_atomic

    src, dst = tmp_path / "big.bin", tmp_path / "data" / "images" / "a.png"
    src.write_bytes(bytes(range(256)) * (4 * LIMIT // 256))
    dst.parent.mkdir(parents=True)
    dst.write_bytes(b"old image")
    _killed_mid_write(f"""
        from foundation.atomic import copy_atomic
        copy_atomic({str(src)!r}, {str(dst)!r})
    """)
    assert dst.read_bytes() == b"old image"
    assert copy_atomic(src, dst).read_bytes() == src.read_bytes()


def test_a_killed_first_write_of_label_studio_credentials_does_not_block_the_next_start(tmp_path):
    """credentials.json (admin password and token) is written once; half of one made every later start fail."""
    from labeling.server import credentials

    _killed_mid_write(f"""
        from pathlib import Path
        from labeling.server import credentials
        credentials(Path({str(tmp_path)!r}), "admin@example.com")
    """, limit=40)
    creds = credentials(tmp_path, "admin@example.com")
    assert len(creds.token) == 40 and credentials(tmp_path, "admin@example.com") == creds
    assert (tmp_path / "grainloop-credentials.json").stat().st_mode & 0o077 == 0


def test_the_dataset_store_writes_images_and_masks_atomically(tmp_path, monkeypatch):
    """dataset/store.py goes through the atomic helpers (a plain copy or mask write here would fail the kill
    tests above for the store's own files)."""
    import dataset.store as store

    calls = []
    monkeypatch.setattr(store, "copy_atomic", lambda s, d: calls.append(("copy", Path(d).name)))
    monkeypatch.setattr(store, "write_mask", lambda p, m: calls.append(("mask", Path(p).name)))
    row = SimpleNamespace(image="images/a.png", mask="masks/a.png", instances="instances/a.png", sha256="x", channels=())
    item = SimpleNamespace(image=tmp_path / "a.png", channels=())
    store._write_files(tmp_path, row, item, np.ones((2, 2)), np.ones((2, 2)))
    assert calls == [("copy", "a.png"), ("mask", "a.png"), ("mask", "a.png")]
    assert store.write_mask is not None and "shutil" not in vars(store)


def _cfg(tmp_path: Path, threshold: int = 5):
    return SimpleNamespace(state_dir=tmp_path / ".grainloop", workspace=tmp_path, min_new_annotations=threshold)


@pytest.mark.parametrize("content", [b"", b"1\x00\x00", b"-3", b"\xff\xfe", b"twelve"])
def test_a_corrupt_pending_count_does_not_stop_the_cycle(tmp_path, content):
    """An empty count (a crash between truncate and write) made every later cycle fail on int('')."""
    cfg = _cfg(tmp_path)
    path = cfg.state_dir / "pending-annotations"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert read_pending(cfg) == 5  # unknown: taken as the threshold, so the version step runs (a no-op if idle)
    assert add_pending(cfg, 2) == 7 and path.read_text() == "7"
    assert add_pending(cfg, 1) == 8


def test_the_pending_count_adds_up_and_a_killed_write_keeps_the_old_count(tmp_path):
    cfg = _cfg(tmp_path)
    assert read_pending(cfg) == 0 and add_pending(cfg, 3) == 3 and add_pending(cfg, 4) == 7
    path = cfg.state_dir / "pending-annotations"
    assert path.read_text() == "7" and not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
