"""The merged instrument metadata reader: one pass over a TIFF's tags gives pixel size, vendor, detector, microscope."""
import numpy as np
import pytest
import tifffile
from PIL import Image

from foundation.instrument import Instrument, read_instrument
from foundation.semimage import ImageReadError
from labeling.images import instrument_metadata

IMAGE = np.zeros((16, 16), np.uint8)
ZEISS = "\r\n".join(["0", "AP_IMAGE_PIXEL_SIZE", "Image Pixel Size = 12.5 nm", "AP_WD", "WD = 8.5 mm",
                     "AP_ACTUALKV", "EHT = 5.00 kV", "AP_MAG", "Mag = 5.00 K X", "DP_DETECTOR_TYPE",
                     "Detector = InLens", "SV_SERIAL_NUMBER", "Serial No. = EVO-123", ""])
FEI = ("[Beam]\r\nHV=15000\r\nSpot=3\r\n[Scan]\r\nPixelWidth=4.5e-09\r\nPixelHeight=4.5e-09\r\n"
       "[Stage]\r\nWorkingDistance=0.0041\r\n[Detectors]\r\nName=ETD\r\n[System]\r\nSystemType=Helios G4\r\n")


def test_zeiss_tags_give_every_field(tmp_path):
    path = tmp_path / "zeiss.tif"
    tifffile.imwrite(path, IMAGE, extratags=[(34118, "s", 0, ZEISS, True)])
    meta = read_instrument(path)
    assert (meta.vendor, meta.detector, meta.instrument) == ("Zeiss", "InLens", "EVO-123")
    assert meta.high_voltage_kv == pytest.approx(5.0) and meta.working_distance_mm == pytest.approx(8.5)
    assert meta.pixel_size.value_um == pytest.approx(0.0125)
    assert meta.pixel_size.source == "zeiss CZ_SEM ap_image_pixel_size"
    assert instrument_metadata(path) == {"vendor": "Zeiss", "ap_image_pixel_size": "Image Pixel Size 12.5 nm",
                                         "ap_wd": "WD 8.5 mm", "ap_actualkv": "EHT 5.0 kV", "ap_mag": "Mag 5.00 K X",
                                         "dp_detector_type": "Detector InLens", "sv_serial_number": "Serial No. EVO-123"}


@pytest.mark.parametrize("tag", [34682, 34680])
def test_fei_tags_give_every_field_in_their_units(tmp_path, tag):
    path = tmp_path / "fei.tif"
    tifffile.imwrite(path, IMAGE, extratags=[(tag, "s", 0, FEI, True)])
    meta = read_instrument(path)
    assert (meta.vendor, meta.detector, meta.instrument) == ("FEI", "ETD", "Helios G4")
    assert meta.high_voltage_kv == pytest.approx(15.0) and meta.working_distance_mm == pytest.approx(4.1)
    assert meta.pixel_size.value_um == pytest.approx(0.0045) and meta.pixel_size.source.startswith("fei ")
    assert instrument_metadata(path) == {"vendor": "FEI", "Beam.HV": 15000, "Scan.PixelWidth": 4.5e-09,
                                         "Scan.PixelHeight": 4.5e-09, "Stage.WorkingDistance": 0.0041,
                                         "Detectors.Name": "ETD", "System.SystemType": "Helios G4", "Beam.Spot": 3}


def test_zeiss_wins_where_a_file_has_both(tmp_path):
    path = tmp_path / "both.tif"
    tifffile.imwrite(path, IMAGE, extratags=[(34118, "s", 0, ZEISS, True), (34682, "s", 0, FEI, True)])
    meta = read_instrument(path)
    assert (meta.vendor, meta.detector, meta.pixel_size.value_um) == ("Zeiss", "InLens", pytest.approx(0.0125))
    assert meta.entries["vendor"] == "Zeiss" and meta.entries["Detectors.Name"] == "ETD"


def test_imagej_resolution_is_a_pixel_size_without_a_vendor(tmp_path):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(path, IMAGE, imagej=True, resolution=(4.0, 4.0), metadata={"unit": "nm"})
    meta = read_instrument(path)
    assert meta.pixel_size.value_um == pytest.approx(0.00025) and meta.vendor is meta.detector is None
    assert instrument_metadata(path) == {}


def test_other_formats_and_plain_tiffs_carry_nothing(tmp_path):
    Image.fromarray(IMAGE).save(tmp_path / "a.png")
    tifffile.imwrite(tmp_path / "plain.tif", IMAGE)
    for name in ("a.png", "plain.tif"):
        meta = read_instrument(tmp_path / name)
        assert meta == Instrument(meta.pixel_size) and not meta.pixel_size.known
        assert instrument_metadata(tmp_path / name) == {}


def test_a_broken_tiff_is_an_error_naming_it_but_never_stops_an_import(tmp_path):
    path = tmp_path / "junk.tif"
    path.write_bytes(b"not a tiff")
    with pytest.raises(ImageReadError, match="junk.tif"):
        read_instrument(path)
    assert instrument_metadata(path) == {}
