"""The one SEM image reader: raw decode, first plane for labeling, header size, one error type naming the file."""
import numpy as np
import pytest
import tifffile
from PIL import Image

import labeling.importer
import labeling.pulltask
import ml.io
from foundation.semimage import ImageReadError, image_size, read_pixels, read_plane


def test_raw_decode_keeps_pages_and_dtype_and_the_first_plane_is_grey_or_rgb(tmp_path):
    stack = np.arange(3 * 5 * 7, dtype=np.uint16).reshape(3, 5, 7)
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    rgba = np.random.default_rng(0).integers(0, 255, (5, 7, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert np.array_equal(read_pixels(tmp_path / "stack.tif"), stack)
    assert np.array_equal(read_plane(tmp_path / "stack.tif"), stack[0])
    assert np.array_equal(read_plane(tmp_path / "rgba.png"), rgba[..., :3])
    assert image_size(tmp_path / "stack.tif") == image_size(tmp_path / "rgba.png") == (5, 7)


@pytest.mark.parametrize("name, data", [("junk.tif", b"not a tiff"), ("junk.png", b"\x89PNG not really"),
                                        ("gone.bmp", None)])
def test_every_failure_is_one_error_type_naming_the_file(tmp_path, name, data):
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    for read in (read_pixels, read_plane, image_size, ml.io.read_image):
        with pytest.raises(ImageReadError, match=name):
            read(path)


def test_ml_and_labeling_share_the_reader():
    assert ml.io.ImageReadError is ImageReadError and issubclass(ImageReadError, OSError)
    assert labeling.importer.read_plane is read_plane and labeling.pulltask.image_size is image_size
