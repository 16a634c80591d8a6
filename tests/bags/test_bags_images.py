"""Image decoding and encoding: every encoding, row padding, byte order, and each malformed case."""

from __future__ import annotations

import io

import numpy as np
import pytest
from bags_helpers import image
from PIL import Image as PILImage

from embodied_stack.bags.errors import MalformedMessageError
from embodied_stack.bags.images import (
    CompressedFields,
    decode_compressed_depth,
    decode_compressed_rgb,
    decode_depth,
    decode_labels,
    decode_rgb,
    depth_to_image,
    encode_compressed_depth,
    encode_compressed_rgb,
    image_to_array,
    labels_to_image,
    rgb_to_image,
)

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def _padded(pixels: np.ndarray, pad: int) -> tuple[bytes, int]:
    """Row-major bytes of ``pixels`` with ``pad`` junk bytes after each row; returns (data, step)."""
    rows = pixels.reshape(pixels.shape[0], -1).view(np.uint8)
    junk = np.full((rows.shape[0], pad), 0xAB, dtype=np.uint8)
    data = np.concatenate([rows, junk], axis=1)
    return data.tobytes(), data.shape[1]


@pytest.mark.parametrize(
    ("encoding", "make"),
    [
        ("rgb8", lambda rgb: rgb),
        ("bgr8", lambda rgb: rgb[:, :, ::-1]),
        ("rgba8", lambda rgb: np.dstack([rgb, np.full(rgb.shape[:2], 9, np.uint8)])),
        ("bgra8", lambda rgb: np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 9, np.uint8)])),
    ],
)
@pytest.mark.parametrize("pad", [0, 3])
def test_colour_encodings_decode_to_rgb_with_row_padding(encoding, make, pad):
    pixels = np.ascontiguousarray(make(RGB))
    data, step = _padded(pixels, pad)
    out = decode_rgb(image(5, 7, encoding, step, data))
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, RGB)


def test_mono8_becomes_grey_rgb():
    grey = RGB[:, :, 0].copy()
    out = decode_rgb(image(5, 7, "mono8", 7, grey.tobytes()))
    np.testing.assert_array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))


@pytest.mark.parametrize("encoding", ["16UC1", "mono16"])
@pytest.mark.parametrize("bigendian", [0, 1])
def test_16bit_depth_is_millimetres(encoding, bigendian):
    mm = np.array([[0, 1000, 2500], [65535, 1, 300]], dtype=np.uint16)
    raw = mm.astype(">u2" if bigendian else "<u2")
    data, step = _padded(raw, 2)
    depth = decode_depth(image(2, 3, encoding, step, data, is_bigendian=bigendian))
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth, mm / 1000.0, rtol=1e-6)
    assert depth[0, 0] == 0.0


@pytest.mark.parametrize("bigendian", [0, 1])
def test_32fc1_depth_is_metres_and_invalid_values_become_zero(bigendian):
    metres = np.array([[1.25, np.nan, np.inf], [-2.0, 0.0, 7.5]], dtype=np.float32)
    raw = metres.astype(">f4" if bigendian else "<f4")
    depth = decode_depth(image(2, 3, "32FC1", 12, raw.tobytes(), is_bigendian=bigendian))
    np.testing.assert_array_equal(depth, [[1.25, 0.0, 0.0], [0.0, 0.0, 7.5]])


def test_image_to_array_keeps_native_type():
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = image_to_array(image(2, 3, "32FC1", 12, values.astype(">f4").tobytes(), is_bigendian=1))
    assert out.dtype == np.float32 and out.dtype.byteorder in ("=", "<", "|")
    np.testing.assert_array_equal(out, values)


@pytest.mark.parametrize(
    ("msg", "reason"),
    [
        (image(480, 640, "rgb8", 1920, bytes(30)), "data has 30 bytes, expected step*height = 1920*480 = 921600"),
        (image(4, 4, "rgb8", 10, bytes(40)), "step 10 is shorter than one row of 4 px x 3 bytes = 12"),
        (image(4, 4, "bayer_rggb8", 4, bytes(16)), "unknown encoding 'bayer_rggb8'"),
        (image(0, 640, "rgb8", 1920, b""), "zero size (640x0 pixels)"),
        (image(4, 0, "rgb8", 0, b""), "zero size (0x4 pixels)"),
    ],
)
def test_malformed_raw_images_are_rejected_with_a_reason(msg, reason):
    with pytest.raises(MalformedMessageError) as info:
        decode_rgb(msg)
    assert reason in str(info.value)


def test_colour_and_depth_decoders_refuse_each_others_encodings():
    with pytest.raises(MalformedMessageError, match="not a depth encoding"):
        decode_depth(image(1, 1, "rgb8", 3, bytes(3)))
    with pytest.raises(MalformedMessageError, match="not a colour encoding"):
        decode_rgb(image(1, 1, "32FC1", 4, bytes(4)))


def test_reason_names_topic_and_stamp_when_attached():
    err = MalformedMessageError("data has 30 bytes").at("/camera/image", 1_500_000_000)
    assert str(err) == "/camera/image @ t=1.500000000 s: data has 30 bytes"
    assert err.reason == "data has 30 bytes" and err.topic == "/camera/image"


def test_raw_round_trips_are_exact():
    np.testing.assert_array_equal(decode_rgb(rgb_to_image(RGB)), RGB)
    metres = RNG.uniform(0.2, 9.0, (4, 6)).astype(np.float32)
    np.testing.assert_array_equal(decode_depth(depth_to_image(metres, "32FC1")), metres)
    mm = decode_depth(depth_to_image(metres, "16UC1"))
    np.testing.assert_allclose(mm, np.rint(metres * 1000) / 1000, atol=1e-6)
    labels = RNG.integers(-1, 500, (4, 6))
    np.testing.assert_array_equal(decode_labels(labels_to_image(labels)), labels)


def test_depth_to_image_writes_invalid_as_zero_and_rejects_out_of_range():
    fields = depth_to_image(np.array([[np.nan, -1.0, 2.0]]), "16UC1")
    np.testing.assert_array_equal(decode_depth(fields), [[0.0, 0.0, 2.0]])
    with pytest.raises(ValueError, match="does not fit 16UC1"):
        depth_to_image(np.array([[70.0]]), "16UC1")
    with pytest.raises(ValueError, match="unknown depth encoding"):
        depth_to_image(np.ones((2, 2)), "8UC1")


def test_compressed_png_is_lossless_and_jpeg_is_close():
    np.testing.assert_array_equal(decode_compressed_rgb(encode_compressed_rgb(RGB, "png")), RGB)
    xs, ys = np.meshgrid(np.arange(64), np.arange(48))
    smooth = (np.dstack([xs, ys, np.full((48, 64), 30)]) * 3).astype(np.uint8)
    out = decode_compressed_rgb(encode_compressed_rgb(smooth, "jpeg", quality=95))
    assert out.shape == smooth.shape
    assert np.abs(out.astype(int) - smooth.astype(int)).mean() < 3.0


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (bytes([255, 216, 255, 224, 0, 16, 74, 70, 73, 70]), "jpeg"),  # the all-types bag's 10 bytes
        (b"not an image at all", "png"),
        (b"", "jpeg"),
    ],
)
def test_undecodable_compressed_bytes_are_rejected(data, fmt):
    with pytest.raises(MalformedMessageError, match="cannot be decoded|no data"):
        decode_compressed_rgb(CompressedFields(fmt, np.frombuffer(data, np.uint8)))


def test_compressed_depth_16uc1_round_trip_is_exact():
    metres = np.round(RNG.uniform(0.3, 9.0, (6, 5)), 3).astype(np.float32)
    metres[0, 0] = 0.0
    fields = encode_compressed_depth(metres, "16UC1")
    assert fields.format == "16UC1; compressedDepth png"
    np.testing.assert_allclose(decode_compressed_depth(fields), metres, atol=1e-6)


def test_compressed_depth_32fc1_inverse_quantisation():
    metres = RNG.uniform(0.3, 9.0, (6, 5)).astype(np.float32)
    metres[1, 1] = np.nan
    metres[2, 2] = 12.0  # beyond depth_max: no reading
    out = decode_compressed_depth(encode_compressed_depth(metres, "32FC1", depth_max_m=10.0, depth_quantization=100.0))
    valid = np.isfinite(metres) & (metres < 10.0)
    assert out[1, 1] == 0.0 and out[2, 2] == 0.0
    # quantisation step of inverse depth: d^2 / A with A = 100 * 101
    np.testing.assert_allclose(out[valid], metres[valid], atol=float((metres[valid] ** 2).max() / 10100 * 1.01))


def test_compressed_depth_plain_16bit_png_and_older_format_text():
    mm = np.array([[0, 1234], [4000, 65535]], dtype=np.uint16)
    buffer = io.BytesIO()
    PILImage.fromarray(mm).save(buffer, format="PNG")
    png = np.frombuffer(buffer.getvalue(), np.uint8)
    np.testing.assert_allclose(decode_compressed_depth(CompressedFields("16UC1; png compressed", png)), mm / 1000.0)
    header = encode_compressed_depth(mm / 1000.0, "16UC1").data[:12]
    older = CompressedFields("16UC1; compressedDepth", np.concatenate([header, png]))
    np.testing.assert_allclose(decode_compressed_depth(older), mm / 1000.0)


@pytest.mark.parametrize(
    ("fmt", "data", "reason"),
    [
        ("16UC1; compressedDepth rvl", bytes(40), "RVL variant"),
        ("16UC1; compressedDepth png", bytes(12), "expected a 12-byte header followed by a PNG"),
        ("16UC1; compressedDepth png", bytes(12) + b"garbage", "cannot be decoded"),
        ("8UC3; compressedDepth png", bytes(40), "expected 16UC1 or 32FC1"),
        ("png", encode_compressed_rgb(RGB, "png").data.tobytes(), "expected 16-bit grey"),
    ],
)
def test_malformed_compressed_depth_is_rejected(fmt, data, reason):
    with pytest.raises(MalformedMessageError) as info:
        decode_compressed_depth(CompressedFields(fmt, np.frombuffer(data, np.uint8)))
    assert reason in str(info.value)
