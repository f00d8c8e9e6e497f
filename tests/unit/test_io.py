import numpy as np
import pytest
import tifffile
from PIL import Image

from ml.data import DatasetLoadError, find_samples, load_samples
from ml.io import ArraySource, ImageReadError, TiffSource, read_channels, read_image, read_mask, write_mask
from foundation.schema import binary_schema


def test_formats_and_bit_depths(tmp_path):
    a8 = np.random.default_rng(0).integers(0, 255, (40, 50), dtype=np.uint8)
    a16 = (a8.astype(np.uint16) * 257)
    tifffile.imwrite(tmp_path / "a.tif", a8)
    tifffile.imwrite(tmp_path / "b.tif", a16)
    Image.fromarray(a16).save(tmp_path / "c.png")
    Image.fromarray(a8).save(tmp_path / "d.jpg", quality=100)
    assert read_image(tmp_path / "a.tif").dtype == np.uint8
    assert np.array_equal(read_image(tmp_path / "b.tif")[0], a16)
    assert np.array_equal(read_image(tmp_path / "c.png")[0], a16)
    assert read_image(tmp_path / "d.jpg").shape == (1, 40, 50)


def test_grey_rgb_becomes_one_channel_and_colour_stays(tmp_path):
    g = np.random.default_rng(1).integers(0, 255, (20, 30), dtype=np.uint8)
    Image.fromarray(np.stack([g, g, g], 2)).save(tmp_path / "grey.png")
    rgb = np.stack([g, g[::-1], g[:, ::-1]], 2)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert np.array_equal(read_image(tmp_path / "grey.png"), g[None])
    assert read_image(tmp_path / "rgb.png").shape == (3, 20, 30)


def test_channel_stack_and_mismatch(tmp_path):
    tifffile.imwrite(tmp_path / "inlens.tif", np.zeros((10, 12), np.uint16))
    tifffile.imwrite(tmp_path / "ttl.tif", np.ones((10, 12), np.uint16))
    tifffile.imwrite(tmp_path / "small.tif", np.ones((9, 12), np.uint16))
    stack = read_channels([tmp_path / "inlens.tif", tmp_path / "ttl.tif"])
    assert stack.shape == (2, 10, 12) and stack[1].max() == 1
    with pytest.raises(ImageReadError, match="differ in size"):
        read_channels([tmp_path / "inlens.tif", tmp_path / "small.tif"])


@pytest.mark.parametrize("name,data", [("trunc.png", None), ("junk.tif", b"not a tiff"), ("empty.jpg", b"")])
def test_bad_files_name_the_file(tmp_path, name, data):
    path = tmp_path / name
    if data is None:
        Image.fromarray(np.zeros((64, 64), np.uint8) + 7).save(path)
        path.write_bytes(path.read_bytes()[:60])
    else:
        path.write_bytes(data)
    with pytest.raises(ImageReadError) as err:
        read_image(path)
    assert name in str(err.value)


def test_masks_class_and_instance_round_trip(tmp_path):
    cls = np.array([[0, 1], [2, 1]], np.uint8)
    inst = np.array([[0, 300], [301, 300]], np.int32)
    assert np.array_equal(read_mask(write_mask(tmp_path / "c.png", cls)), cls)
    assert np.array_equal(read_mask(write_mask(tmp_path / "i.png", inst)), inst)
    Image.fromarray((np.zeros((4, 4, 3)) + [1, 2, 3]).astype(np.uint8)).save(tmp_path / "colour.png")
    with pytest.raises(ImageReadError, match="one channel"):
        read_mask(tmp_path / "colour.png")


def test_tiff_source_reads_regions_lazily(tmp_path):
    a = np.arange(300 * 200, dtype=np.uint16).reshape(300, 200)
    tifffile.imwrite(tmp_path / "t.tif", a, tile=(64, 64))
    src = TiffSource(tmp_path / "t.tif")
    assert src.shape == (1, 300, 200) and src.dtype == np.uint16
    assert np.array_equal(src.read(10, 100, 50, 190)[0], a[10:100, 50:190])
    assert np.array_equal(ArraySource(a).read(1, 3, 2, 4)[0], a[1:3, 2:4])


def test_dataset_load_reports_every_bad_file(synthetic_dataset, tmp_path):
    import shutil

    images, masks = tmp_path / "images", tmp_path / "masks"
    shutil.copytree(synthetic_dataset / "images", images)
    shutil.copytree(synthetic_dataset / "masks", masks)
    (images / "syn_0001.tif").write_bytes(b"corrupt")
    (masks / "syn_0002.png").write_bytes(b"corrupt")
    write_mask(masks / "syn_0003.png", np.full((128, 160), 7, np.uint8))  # unknown label value
    with pytest.raises(DatasetLoadError) as err:
        load_samples(find_samples([images], masks), binary_schema())
    bad = {p.split("/")[-1] for p, _ in err.value.problems}
    assert bad == {"syn_0001.tif", "syn_0002.png", "syn_0003.png"}
    assert "outside schema" in str(err.value)


def test_pairing_reports_missing_masks(synthetic_dataset, tmp_path):
    import shutil

    masks = tmp_path / "masks"
    shutil.copytree(synthetic_dataset / "masks", masks)
    (masks / "syn_0004.png").unlink()
    with pytest.raises(DatasetLoadError, match="syn_0004.tif: no mask"):
        find_samples([synthetic_dataset / "images"], masks)
