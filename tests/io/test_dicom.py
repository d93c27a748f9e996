"""Tests for skpneumo.io: DICOM files through read_image, the loader and the data set helpers."""

import shutil
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut, get_decoder
from pydicom.sequence import Sequence
from pydicom.uid import JPEGLSNearLossless

from conftest import write_dicom

import skpneumo.io.dicom as dicom
import skpneumo.io.images
from skpneumo import ImageLoader, ImageReadError, Normalizer, cli, read_image
from skpneumo.datasets import load_chest_xray

# Sample files that ship inside the pydicom package (the others need a download).
PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def ramp(dtype, top, shape=(16, 20)):
    """Every value from 0 to ``top`` appears, in order."""
    return np.linspace(0, top, num=shape[0] * shape[1]).round().astype(dtype).reshape(shape)


def linear_window(x, center, width):
    """DICOM PS3.3 C.11.2.1.2.1 (VOI LUT Function LINEAR) with output range [0, 1]."""
    c, w = center - 0.5, width - 1
    return np.clip((x - c) / w + 0.5, 0, 1)


# The grayscale pipeline: exact mapping ---------------------------------------------


@pytest.mark.parametrize("dtype, bits, out_dtype", [
    (np.uint8, 8, np.uint8), (np.uint16, 12, np.uint16), (np.uint16, 16, np.uint16)])
@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_without_window_min_and_max_map_to_the_full_range(tmp_path, dtype, bits, out_dtype, photometric):
    stored = ramp(dtype, 2**bits - 1) // 2 + 3  # does not use the whole stored range
    image = read_image(write_dicom(tmp_path / "x.dcm", stored, photometric, bits))
    top = np.iinfo(out_dtype).max
    expected = np.rint((stored - stored.min()) / (stored.max() - stored.min()) * top)
    if photometric == "MONOCHROME1":
        expected = top - expected
    assert image.dtype == out_dtype and image.shape == stored.shape
    np.testing.assert_array_equal(image, expected)


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_rescale_then_window_16_bit(tmp_path, photometric):
    stored = ramp(np.uint16, 4095)
    path = write_dicom(tmp_path / "x.dcm", stored, photometric, 12, RescaleSlope=2, RescaleIntercept=-1000,
                       WindowCenter=3000, WindowWidth=2001)
    expected = linear_window(stored * 2.0 - 1000, 3000, 2001)
    if photometric == "MONOCHROME1":
        expected = 1 - expected
    image = read_image(path)
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, np.rint(expected * 65535))
    assert {image.min(), image.max()} == {0, 65535}  # the window is narrower than the data


def test_window_on_8_bit_stays_8_bit(tmp_path):
    stored = ramp(np.uint8, 255)
    image = read_image(write_dicom(tmp_path / "x.dcm", stored, WindowCenter=100, WindowWidth=101))
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, np.rint(linear_window(stored.astype(float), 100, 101) * 255))


def test_sigmoid_window(tmp_path):
    stored = ramp(np.uint16, 4095)
    image = read_image(write_dicom(tmp_path / "x.dcm", stored, bits_stored=12, WindowCenter=2000,
                                   WindowWidth=800, VOILUTFunction="SIGMOID"))
    expected = 1 / (1 + np.exp(-4 * (stored - 2000.0) / 800))
    np.testing.assert_array_equal(image, np.rint(expected * 65535))


def test_first_of_several_windows_is_used(tmp_path):
    stored = ramp(np.uint16, 4095)
    image = read_image(write_dicom(tmp_path / "x.dcm", stored, bits_stored=12,
                                   WindowCenter=[1000, 3000], WindowWidth=[501, 201]))
    np.testing.assert_array_equal(image, np.rint(linear_window(stored.astype(float), 1000, 501) * 65535))


def test_voi_lut_sequence_maps_its_entries_to_the_full_range(tmp_path):
    stored = ramp(np.uint16, 1023)
    item = Dataset()
    item.LUTDescriptor = [512, 256, 12]  # 512 entries for inputs 256..767, 12-bit outputs
    lut = np.linspace(100, 3000, 512).round().astype(np.uint16)
    item.add_new("LUTData", "OW", lut.astype("<u2").tobytes())
    image = read_image(write_dicom(tmp_path / "x.dcm", stored, bits_stored=10,
                                   VOILUTSequence=Sequence([item])))
    expected = lut[np.clip(stored.astype(int) - 256, 0, 511)]
    np.testing.assert_array_equal(image, np.rint((expected - 100) / 2900 * 65535))


def test_16_bit_precision_reaches_the_normalizer(tmp_path):
    # Neighbouring 16-bit values must stay distinct all the way to the float image.
    stored = np.arange(40000, 40000 + 16 * 20, dtype=np.uint16).reshape(16, 20)
    stored[0, 0], stored[-1, -1] = 0, 65535
    image = read_image(write_dicom(tmp_path / "x.dcm", stored))
    np.testing.assert_array_equal(image, stored)
    assert len(np.unique(Normalizer().transform(image[np.newaxis]))) == stored.size


def test_constant_image_is_black(tmp_path):
    image = read_image(write_dicom(tmp_path / "x.dcm", np.full((8, 8), 700, np.uint16), bits_stored=12))
    assert image.dtype == np.uint16 and not image.any()


def test_colour_rgb(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    np.testing.assert_array_equal(read_image(write_dicom(tmp_path / "x.dcm", rgb, "RGB")), rgb)
    rgb16 = (rgb.astype(np.uint16) * 16)
    image = read_image(write_dicom(tmp_path / "y.dcm", rgb16, "RGB", bits_stored=12))
    np.testing.assert_array_equal(image, np.rint(rgb16 / 4095 * 65535))


def test_dicom_without_extension_and_in_upper_case(tmp_path):
    stored = ramp(np.uint8, 255)
    path = write_dicom(tmp_path / "x.dcm", stored)
    shutil.copy(path, tmp_path / "IM0001")
    shutil.copy(path, tmp_path / "X.DICOM")
    for name in ("IM0001", "X.DICOM"):
        np.testing.assert_array_equal(read_image(tmp_path / name), stored)


# Sample files shipped with pydicom --------------------------------------------------


def test_pydicom_ct_sample_rescaled_signed_16_bit():
    path = PYDICOM_FILES / "CT_small.dcm"
    ds = pydicom.dcmread(path)
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    image = read_image(path)
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, np.rint((hu - hu.min()) / (hu.max() - hu.min()) * 65535))


def test_pydicom_mr_samples_agree_across_transfer_syntaxes():
    # Same image, uncompressed little/big endian and RLE (decoded by pydicom itself), windowed.
    reference = read_image(PYDICOM_FILES / "MR_small.dcm")
    ds = pydicom.dcmread(PYDICOM_FILES / "MR_small.dcm")
    expected = linear_window(ds.pixel_array.astype(float), float(ds.WindowCenter), float(ds.WindowWidth))
    np.testing.assert_array_equal(reference, np.rint(expected * 65535))
    for name in ("MR_small_bigendian.dcm", "MR_small_RLE.dcm"):
        np.testing.assert_array_equal(read_image(PYDICOM_FILES / name), reference)


@pytest.mark.parametrize("name, shape, dtype", [
    ("SC_rgb_rle_16bit.dcm", (100, 100, 3), np.uint16),
    ("SC_ybr_full_422_uncompressed.dcm", (100, 100, 3), np.uint8),
])
def test_pydicom_colour_samples(name, shape, dtype):
    image = read_image(PYDICOM_FILES / name)
    assert image.shape == shape and image.dtype == dtype


@pytest.mark.parametrize("name, match", [
    ("rtplan.dcm", "no pixel data"),
    ("examples_palette.dcm", "unsupported photometric interpretation 'PALETTE COLOR'"),
    ("rtdose.dcm", "15 frames"),
    ("no_meta.dcm", "not a DICOM file"),
    ("MR_truncated.dcm", "less than expected"),
])
def test_pydicom_samples_that_are_refused(name, match):
    path = PYDICOM_FILES / name
    with pytest.raises(ImageReadError, match=match) as err:
        read_image(path)
    assert str(path) in str(err.value)


def pydicom_display_image(path):
    """What pydicom itself shows for a single-frame image we read (modality and VOI
    transforms applied), else None."""
    try:
        ds = pydicom.dcmread(path)
        if not ("PixelData" in ds and int(ds.get("NumberOfFrames") or 1) == 1
                and ds.get("PhotometricInterpretation") in dicom.MONOCHROME + dicom.COLOUR):
            return None
        if ds.PhotometricInterpretation in dicom.COLOUR:
            return ds.pixel_array
        return apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
    except Exception:  # not DICOM, damaged, or no decoder installed
        return None


@pytest.mark.parametrize("path", sorted(p for p in PYDICOM_FILES.rglob("*") if p.is_file()),
                         ids=lambda p: str(p.relative_to(PYDICOM_FILES)))
def test_every_file_pydicom_ships_reads_as_pydicom_decodes_it_or_fails_clearly(path):
    expected = pydicom_display_image(path)
    if expected is None:
        with pytest.raises(ImageReadError) as err:
            read_image(path)
        assert str(path) in str(err.value)
    else:
        image = read_image(path)
        assert image.shape == expected.shape and image.dtype in (np.uint8, np.uint16)
        # A picture where pydicom shows one; uniform where the file's window saturates it.
        assert (image.max() > image.min()) == (expected.max() > expected.min())


@pytest.mark.skipif(get_decoder(JPEGLSNearLossless).is_available, reason="a JPEG-LS decoder is installed")
def test_missing_decoder_names_the_packages_before_decoding():
    path = PYDICOM_FILES / "JPEGLSNearLossless_16.dcm"
    with pytest.raises(ImageReadError, match="JPEG-LS.*not installed.*pylibjpeg-libjpeg") as err:
        dicom.check_dicom_file(path)  # the header alone tells
    assert str(path) in str(err.value)
    with pytest.raises(ImageReadError, match="pylibjpeg-libjpeg"):
        read_image(path)


# Bad files written here -------------------------------------------------------------


def test_no_pixel_data(tmp_path):
    path = write_dicom(tmp_path / "x.dcm", ramp(np.uint8, 255))
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(ImageReadError, match="no pixel data"):
        read_image(path)


@pytest.mark.parametrize("photometric", ["PALETTE COLOR", "HSV"])
def test_unsupported_photometric_interpretation(tmp_path, photometric):
    path = write_dicom(tmp_path / "x.dcm", ramp(np.uint8, 255))
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = photometric
    ds.save_as(path)
    with pytest.raises(ImageReadError, match=f"unsupported photometric interpretation '{photometric}'"):
        read_image(path)


def test_invalid_window_width(tmp_path):
    path = write_dicom(tmp_path / "x.dcm", ramp(np.uint8, 255), WindowCenter=100, WindowWidth=0)
    with pytest.raises(ImageReadError, match="Window Width") as err:
        read_image(path)
    assert str(path) in str(err.value)


def test_random_bytes_named_dcm(tmp_path):
    path = tmp_path / "x.dcm"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 600, dtype=np.uint8).tobytes())
    with pytest.raises(ImageReadError, match="not a DICOM file"):
        read_image(path)


# The loader, the pipeline's preprocessing and the data set helpers -------------------


@pytest.fixture
def mixed_files(tmp_path):
    """DICOM files of both bit depths and photometric interpretations, between PNGs."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(12):
        if i % 3 == 0:
            paths.append(tmp_path / f"{i}.png")
            cv2.imwrite(str(paths[-1]), rng.integers(0, 256, (10, 12), dtype=np.uint8))
        else:
            bits = 8 if i % 2 else 12
            pixels = rng.integers(0, 2**bits, (10, 12)).astype(np.uint8 if bits == 8 else np.uint16)
            paths.append(write_dicom(tmp_path / f"{i}.dcm", pixels, ("MONOCHROME1", "MONOCHROME2")[i % 2],
                                     bits, WindowCenter=100 * i, WindowWidth=500))
    return paths


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_loader_mixes_dicom_and_png_in_threads(mixed_files, n_jobs):
    images = ImageLoader(n_jobs=n_jobs).transform(mixed_files)
    assert images.dtype == np.uint16 and images.shape == (12, 10, 12)  # 8-bit files times 257
    depths = set()
    for path, image in zip(mixed_files, images):
        alone = read_image(path)
        depths.add(alone.dtype)
        np.testing.assert_array_equal(image, alone.astype(np.uint16) * (257 if alone.dtype == np.uint8 else 1))
    assert depths == {np.dtype(np.uint8), np.dtype(np.uint16)}


def test_loader_checks_dicom_headers_before_decoding(mixed_files, tmp_path, monkeypatch):
    bad = tmp_path / "plan.dcm"
    shutil.copy(PYDICOM_FILES / "rtplan.dcm", bad)
    calls = []
    monkeypatch.setattr(skpneumo.io.images, "read_dicom", lambda path: calls.append(path))
    with pytest.raises(ImageReadError, match="no pixel data") as err:
        ImageLoader(n_jobs=2).transform(mixed_files + [bad])
    assert str(bad) in str(err.value)
    assert calls == []  # no DICOM pixel data was decoded before the bad file was reported


def test_load_chest_xray_and_predict_folders_find_dicom(tmp_path):
    for label in ("NORMAL", "PNEUMONIA"):
        folder = tmp_path / "train" / label
        folder.mkdir(parents=True)
        write_dicom(folder / f"person1_{label.lower()}.dcm", ramp(np.uint16, 4095), bits_stored=12)
        write_dicom(folder / f"person2_{label.lower()}.DCM", ramp(np.uint8, 255))
    data = load_chest_xray(tmp_path, split="train")
    assert len(data.paths) == 4 and data.n_skipped == 0
    assert sorted(cli._expand_paths([str(tmp_path)])) == sorted(data.paths)  # skpneumo predict DIR
    images = Normalizer().transform(ImageLoader().transform(data.paths))
    assert images.dtype == np.float32 and images.min() == 0 and images.max() == 1


def test_the_header_check_reads_signatures_not_names(tmp_path):
    from skpneumo.io import check_image_header

    dicom = write_dicom(tmp_path / "x.dcm", np.zeros((8, 8), np.uint16))
    unnamed = tmp_path / "scan"  # archives store DICOM files without an extension
    unnamed.write_bytes(dicom.read_bytes())
    png = tmp_path / "x.png"
    cv2.imwrite(str(png), np.zeros((8, 8), np.uint8))
    for good in (dicom, unnamed, png, tmp_path / "png-named.jpeg"):
        if not good.exists():
            good.write_bytes(png.read_bytes())
        check_image_header(good)
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"<html>not a film</html>")
    with pytest.raises(ImageReadError, match="Cannot decode '.*fake.png'"):
        check_image_header(fake)
