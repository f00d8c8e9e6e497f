"""Pixel size from the metadata SEM software writes: each reader on a TIFF written here with those tags."""
import numpy as np
import pytest
import tifffile
from PIL import Image

from foundation.instrument import PixelSize, read_pixel_size, resolve_pixel_size, to_micrometres

IMAGE = np.zeros((16, 16), np.uint8)


def zeiss_text(pixel: str, image_pixel: str | None) -> str:
    lines = ["0", "AP_PIXEL_SIZE", f"Pixel Size = {pixel}"]
    lines += ["AP_IMAGE_PIXEL_SIZE", f"Image Pixel Size = {image_pixel}"] if image_pixel else []
    return "\r\n".join(lines + ["AP_MAG", "Mag = 5.00 K X", ""])


def fei_text(width_m: str) -> str:
    return f"[User]\r\nDate=01/02/2024\r\n[Scan]\r\nPixelWidth={width_m}\r\nPixelHeight={width_m}\r\n"


@pytest.mark.parametrize("pixel, image_pixel, expected", [
    ("2.5 nm", "12.5 nm", 0.0125),  # the stored image's own pixel size wins
    ("2.5 nm", None, 0.0025),
    ("1.2 um", None, 1.2),
])
def test_zeiss_cz_sem_tag(tmp_path, pixel, image_pixel, expected):
    path = tmp_path / "zeiss.tif"
    tifffile.imwrite(path, IMAGE, extratags=[(34118, "s", 0, zeiss_text(pixel, image_pixel), True)])
    px = read_pixel_size(path)
    assert px.value_um == pytest.approx(expected) and px.source.startswith("zeiss CZ_SEM")


@pytest.mark.parametrize("tag, name", [(34682, "FEI_HELIOS"), (34680, "FEI_SFEG")])
def test_fei_tags_pixel_width_in_metres(tmp_path, tag, name):
    path = tmp_path / "fei.tif"
    tifffile.imwrite(path, IMAGE, extratags=[(tag, "s", 0, fei_text("4.5e-09"), True)])
    px = read_pixel_size(path)
    assert px.value_um == pytest.approx(0.0045) and name in px.source


@pytest.mark.parametrize("unit, expected", [("micron", 0.25), ("nm", 0.00025), ("mm", 250.0)])
def test_imagej_unit_and_x_resolution(tmp_path, unit, expected):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(path, IMAGE, imagej=True, resolution=(4.0, 4.0), metadata={"unit": unit})
    px = read_pixel_size(path)
    assert px.value_um == pytest.approx(expected) and px.source.startswith("imagej")


def test_imagej_without_a_length_unit_is_unknown(tmp_path):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(path, IMAGE, imagej=True, resolution=(4.0, 4.0), metadata={"unit": "pixel"})
    assert read_pixel_size(path).value_um is None


@pytest.mark.parametrize("metadata, expected", [
    ({"PhysicalSizeX": 0.3, "PhysicalSizeXUnit": "nm"}, 0.0003),
    ({"PhysicalSizeX": 0.8}, 0.8),  # OME's default unit is the micrometre
])
def test_ome_physical_size(tmp_path, metadata, expected):
    path = tmp_path / "ome.tif"
    tifffile.imwrite(path, IMAGE, ome=True, metadata=metadata)
    px = read_pixel_size(path)
    assert px.value_um == pytest.approx(expected) and px.source == "ome PhysicalSizeX"


def test_centimetre_resolution_as_the_synthetic_generator_writes_it(tmp_path):
    path = tmp_path / "cm.tif"
    tifffile.imwrite(path, IMAGE, resolution=(2e4, 2e4), resolutionunit="CENTIMETER")
    assert read_pixel_size(path).value_um == pytest.approx(0.5)


def test_no_metadata_or_a_dpi_default_is_never_guessed(tmp_path):
    plain, dpi, png = tmp_path / "plain.tif", tmp_path / "dpi.tif", tmp_path / "image.png"
    tifffile.imwrite(plain, IMAGE)
    tifffile.imwrite(dpi, IMAGE, resolution=(72, 72), resolutionunit="INCH")
    Image.fromarray(IMAGE).save(png, dpi=(300, 300))
    for path in (plain, dpi, png):
        px = read_pixel_size(path)
        assert px.value_um is None and not px.known and px.unit == "px" and px.source.startswith("unknown")


def test_user_value_overrides_the_file(tmp_path):
    path = tmp_path / "fei.tif"
    tifffile.imwrite(path, IMAGE, extratags=[(34682, "s", 0, fei_text("4.5e-09"), True)])
    assert resolve_pixel_size(0.1, path) == PixelSize(0.1, "user")
    assert resolve_pixel_size(None, path).value_um == pytest.approx(0.0045)
    assert resolve_pixel_size(None, None).value_um is None


def test_bad_values_and_units():
    with pytest.raises(ValueError, match="> 0"):
        PixelSize(-1.0, "user")
    assert to_micrometres(3, "nm") == pytest.approx(0.003) and to_micrometres(3, "inch") is None
    assert PixelSize(0.5, "user").to_dict() == {"pixel_size_um": 0.5, "pixel_size_source": "user", "units": "um"}
