"""sensor_msgs/Image and CompressedImage <-> numpy, with a clear reason for every bad message.

Decoders take any object with the message's fields (a message deserialised by ``rosbags``, or
the :class:`ImageFields` / :class:`CompressedFields` built here) and return:

- colour: ``(H, W, 3) uint8`` RGB (``bgr8``/``bgra8``/``rgba8``/``mono8`` converted);
- depth: ``(H, W) float32`` planar z-depth in metres, 0 where the sensor has no reading
  (``16UC1``/``mono16`` are millimetres; ``32FC1`` NaN, inf and negative values become 0),
  the convention of :class:`embodied_stack.sim.env.Frame`;
- labels (simulator instance ids, ``32SC1``): ``(H, W) int32``.

Raw images honour ``step`` (row padding) and ``is_bigendian``. Compressed colour images are
JPEG or PNG (through Pillow); compressed depth is the ``compressedDepth`` PNG format of
image_transport's compressed_depth plugin (a 12-byte header, then a 16-bit PNG of millimetres
for ``16UC1`` or of quantised inverse depth for ``32FC1``) or a plain 16-bit PNG of
millimetres. A message that cannot be decoded raises :class:`MalformedMessageError` saying why.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image as PILImage

from embodied_stack.bags.errors import MalformedMessageError

# encoding -> (numpy dtype of one channel, channels)
ENCODINGS: dict[str, tuple[str, int]] = {
    "rgb8": ("u1", 3),
    "bgr8": ("u1", 3),
    "rgba8": ("u1", 4),
    "bgra8": ("u1", 4),
    "mono8": ("u1", 1),
    "8UC1": ("u1", 1),
    "mono16": ("u2", 1),
    "16UC1": ("u2", 1),
    "32FC1": ("f4", 1),
    "32SC1": ("i4", 1),
}
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC1")
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
LABEL_ENCODINGS = ("32SC1", "16UC1", "mono16", "8UC1", "mono8")
MM_PER_M = 1000.0

# compressed_depth_image_transport's ConfigHeader: int32 format (0 = INV_DEPTH), float32 A, B.
_DEPTH_HEADER = struct.Struct("<iff")
_PIL_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    struct.error,
    PILImage.DecompressionBombError,
)


@dataclass(frozen=True)
class ImageFields:
    """The pixel-carrying fields of ``sensor_msgs/Image`` (``data`` is a 1-D uint8 array)."""

    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: np.ndarray


@dataclass(frozen=True)
class CompressedFields:
    """The fields of ``sensor_msgs/CompressedImage``: ``format`` text and encoded bytes."""

    format: str
    data: np.ndarray


def _as_bytes(data: Any) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    return np.frombuffer(bytes(data), dtype=np.uint8)


def image_to_array(msg: Any) -> np.ndarray:
    """Pixels of a ``sensor_msgs/Image`` in their own type: ``(H, W)`` or ``(H, W, C)``.

    The result is in native byte order, without row padding, and owns its memory.

    Raises:
        MalformedMessageError: zero size, unknown encoding, ``step`` shorter than a row,
            or ``data`` not ``step * height`` bytes long.
    """
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    encoding = str(msg.encoding)
    if height <= 0 or width <= 0:
        raise MalformedMessageError(f"image has zero size ({width}x{height} pixels)")
    if encoding not in ENCODINGS:
        raise MalformedMessageError(
            f"unknown encoding {encoding!r}; supported: {', '.join(ENCODINGS)}"
        )
    kind, channels = ENCODINGS[encoding]
    dtype = np.dtype(kind).newbyteorder(">" if msg.is_bigendian else "<")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise MalformedMessageError(
            f"step {step} is shorter than one row of {width} px x {channels * dtype.itemsize} "
            f"bytes = {row_bytes} ({encoding})"
        )
    data = _as_bytes(msg.data)
    if data.size != step * height:
        raise MalformedMessageError(
            f"data has {data.size} bytes, expected step*height = {step}*{height} = "
            f"{step * height} for a {width}x{height} {encoding} image"
        )
    rows = np.ascontiguousarray(data.reshape(height, step)[:, :row_bytes])
    pixels = rows.view(dtype).reshape((height, width, channels) if channels > 1 else (height, width))
    return pixels.astype(dtype.newbyteorder("="), copy=True)


def decode_rgb(msg: Any) -> np.ndarray:
    """A colour ``sensor_msgs/Image`` as ``(H, W, 3) uint8`` RGB.

    Raises:
        MalformedMessageError: as :func:`image_to_array`, or a non-colour encoding.
    """
    if str(msg.encoding) in ENCODINGS and str(msg.encoding) not in COLOR_ENCODINGS:
        raise MalformedMessageError(
            f"encoding {msg.encoding!r} is not a colour encoding; a colour image needs one of "
            f"{', '.join(COLOR_ENCODINGS)}"
        )
    pixels = image_to_array(msg)
    encoding = str(msg.encoding)
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if encoding.startswith("bgr"):
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    return np.ascontiguousarray(pixels[:, :, :3])


def decode_depth(msg: Any) -> np.ndarray:
    """A depth ``sensor_msgs/Image`` as ``(H, W) float32`` metres, 0 where there is no reading.

    Raises:
        MalformedMessageError: as :func:`image_to_array`, or a colour encoding.
    """
    if str(msg.encoding) not in DEPTH_ENCODINGS:
        raise MalformedMessageError(
            f"encoding {msg.encoding!r} is not a depth encoding; expected one of "
            f"{', '.join(DEPTH_ENCODINGS)} (16-bit millimetres or 32-bit float metres)"
        )
    return _depth_metres(image_to_array(msg))


def _depth_metres(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint16:
        return (pixels.astype(np.float32) / np.float32(MM_PER_M)).astype(np.float32)
    depth = pixels.astype(np.float32, copy=True)
    depth[~np.isfinite(depth) | (depth < 0.0)] = 0.0
    return depth


def _open_pil(data: np.ndarray, what: str) -> PILImage.Image:
    if data.size == 0:
        raise MalformedMessageError(f"{what} has no data (0 bytes)")
    try:
        image = PILImage.open(io.BytesIO(data.tobytes()))
        image.load()
    except _PIL_ERRORS as err:
        raise MalformedMessageError(
            f"{what} cannot be decoded ({data.size} bytes): {err or type(err).__name__}"
        ) from err
    if image.width <= 0 or image.height <= 0:
        raise MalformedMessageError(f"{what} decodes to a zero-size image")
    return image


def decode_compressed_rgb(msg: Any) -> np.ndarray:
    """A JPEG or PNG ``sensor_msgs/CompressedImage`` as ``(H, W, 3) uint8`` RGB.

    Raises:
        MalformedMessageError: the bytes do not decode, or the format is compressed depth.
    """
    fmt = str(msg.format)
    if "compresseddepth" in fmt.lower():
        raise MalformedMessageError(
            f"format {fmt!r} is compressed depth; a colour image needs JPEG or PNG"
        )
    image = _open_pil(_as_bytes(msg.data), f"compressed image (format {fmt!r})")
    if image.mode not in ("RGB", "L", "RGBA", "P", "CMYK", "YCbCr", "LA"):
        raise MalformedMessageError(
            f"compressed image (format {fmt!r}) decodes to pixel mode {image.mode!r}; "
            "expected 8-bit colour or grey"
        )
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def decode_compressed_depth(msg: Any) -> np.ndarray:
    """A compressed depth image as ``(H, W) float32`` metres, 0 where there is no reading.

    Accepts image_transport's ``compressedDepth`` PNG format (``"16UC1; compressedDepth png"``,
    ``"32FC1; compressedDepth"``) and a plain 16-bit PNG of millimetres.

    Raises:
        MalformedMessageError: unsupported variant (``rvl``), short header, undecodable PNG.
    """
    fmt = str(msg.format)
    data = _as_bytes(msg.data)
    encoding, _, rest = fmt.partition(";")
    encoding = encoding.strip()
    if "compresseddepth" not in rest.lower():
        return _depth_metres(_png_uint16(data, f"compressed depth (format {fmt!r})"))
    if "rvl" in rest.lower():
        raise MalformedMessageError(
            f"format {fmt!r}: the RVL variant of compressedDepth is not supported; "
            "record with the png variant or as raw sensor_msgs/Image"
        )
    if encoding not in ("16UC1", "32FC1"):
        raise MalformedMessageError(
            f"format {fmt!r}: compressedDepth encoding {encoding!r}, expected 16UC1 or 32FC1"
        )
    if data.size <= _DEPTH_HEADER.size:
        raise MalformedMessageError(
            f"format {fmt!r}: {data.size} bytes, expected a {_DEPTH_HEADER.size}-byte header "
            "followed by a PNG"
        )
    _, quant_a, quant_b = _DEPTH_HEADER.unpack(data[: _DEPTH_HEADER.size].tobytes())
    pixels = _png_uint16(data[_DEPTH_HEADER.size :], f"compressedDepth PNG (format {fmt!r})")
    if encoding == "16UC1":
        return _depth_metres(pixels)
    if not (np.isfinite(quant_a) and np.isfinite(quant_b)):
        raise MalformedMessageError(
            f"format {fmt!r}: quantisation parameters ({quant_a}, {quant_b}) are not finite"
        )
    inverse = pixels.astype(np.float32)
    valid = pixels > 0
    depth = np.zeros(pixels.shape, dtype=np.float32)
    depth[valid] = np.float32(quant_a) / (inverse[valid] - np.float32(quant_b))
    depth[~np.isfinite(depth) | (depth < 0.0)] = 0.0
    return depth


def _png_uint16(data: np.ndarray, what: str) -> np.ndarray:
    image = _open_pil(data, what)
    if image.mode not in ("I;16", "I;16B", "I"):
        raise MalformedMessageError(f"{what} has pixel mode {image.mode!r}, expected 16-bit grey")
    pixels = np.asarray(image)
    if pixels.dtype != np.uint16:
        pixels = np.clip(pixels, 0, np.iinfo(np.uint16).max).astype(np.uint16)
    return pixels


def decode_labels(msg: Any) -> np.ndarray:
    """An integer label image (instance or class ids, e.g. ``32SC1``) as ``(H, W) int32``.

    Raises:
        MalformedMessageError: as :func:`image_to_array`, or a non-integer encoding.
    """
    if str(msg.encoding) not in LABEL_ENCODINGS:
        raise MalformedMessageError(
            f"encoding {msg.encoding!r} is not an integer label encoding; expected one of "
            f"{', '.join(LABEL_ENCODINGS)}"
        )
    return image_to_array(msg).astype(np.int32)


def labels_to_image(labels: np.ndarray) -> ImageFields:
    """``(H, W)`` integer ids (e.g. simulator instance ids, -1 = none) -> ``32SC1`` image fields."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or 0 in labels.shape or labels.dtype.kind not in "iu":
        raise ValueError(f"expected a non-empty (H, W) integer array, got {labels.dtype} {labels.shape}")
    pixels = labels.astype("<i4")
    data = np.ascontiguousarray(pixels).reshape(-1).view(np.uint8)
    return ImageFields(labels.shape[0], labels.shape[1], "32SC1", 0, labels.shape[1] * 4, data)


def rgb_to_image(rgb: np.ndarray) -> ImageFields:
    """``(H, W, 3) uint8`` RGB -> ``rgb8`` image fields (no row padding)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or 0 in rgb.shape:
        raise ValueError(f"expected a non-empty (H, W, 3) uint8 RGB array, got {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[:2]
    data = np.ascontiguousarray(rgb).reshape(-1)
    return ImageFields(height, width, "rgb8", 0, width * 3, data)


def depth_to_image(depth_m: np.ndarray, encoding: str = "32FC1") -> ImageFields:
    """``(H, W)`` metres -> ``32FC1`` (metres) or ``16UC1`` (millimetres, rounded) image fields.

    Non-finite and negative depths are written as 0 (no reading).
    """
    depth = np.asarray(depth_m, dtype=np.float64)
    if depth.ndim != 2 or 0 in depth.shape:
        raise ValueError(f"expected a non-empty (H, W) depth array, got shape {depth.shape}")
    clean = np.where(np.isfinite(depth) & (depth > 0.0), depth, 0.0)
    height, width = depth.shape
    if encoding == "32FC1":
        pixels = clean.astype("<f4")
    elif encoding == "16UC1":
        max_m = np.iinfo(np.uint16).max / MM_PER_M
        if clean.max() > max_m:
            raise ValueError(f"depth {clean.max():.3f} m does not fit 16UC1 millimetres (max {max_m} m)")
        pixels = np.rint(clean * MM_PER_M).astype("<u2")
    else:
        raise ValueError(f"unknown depth encoding {encoding!r}; expected 32FC1 or 16UC1")
    data = np.ascontiguousarray(pixels).reshape(-1).view(np.uint8)
    return ImageFields(height, width, encoding, 0, width * pixels.itemsize, data)


def encode_compressed_rgb(rgb: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> CompressedFields:
    """``(H, W, 3) uint8`` RGB -> JPEG or PNG bytes with image_transport's format text."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (H, W, 3) uint8 RGB, got {rgb.dtype} {rgb.shape}")
    if fmt not in ("jpeg", "png"):
        raise ValueError(f"unknown compressed format {fmt!r}; expected jpeg or png")
    buffer = io.BytesIO()
    image = PILImage.fromarray(rgb)
    image.save(buffer, format="JPEG" if fmt == "jpeg" else "PNG", quality=quality)
    data = np.frombuffer(buffer.getvalue(), dtype=np.uint8)
    return CompressedFields(f"rgb8; {fmt} compressed rgb8", data)


def encode_compressed_depth(
    depth_m: np.ndarray,
    encoding: str = "16UC1",
    depth_max_m: float = 10.0,
    depth_quantization: float = 100.0,
) -> CompressedFields:
    """``(H, W)`` metres -> image_transport ``compressedDepth`` PNG (as its publisher writes it).

    ``16UC1`` stores millimetres; ``32FC1`` stores ``A / d + B`` with
    ``A = q (q + 1)``, ``B = 1 - A / depth_max_m`` truncated to uint16 (0 = no reading), the
    quantisation of the plugin's ``depth_quantization`` and ``depth_max`` parameters.
    """
    depth = np.asarray(depth_m, dtype=np.float32)
    if depth.ndim != 2 or 0 in depth.shape:
        raise ValueError(f"expected a non-empty (H, W) depth array, got shape {depth.shape}")
    valid = np.isfinite(depth) & (depth > 0.0) & (depth < depth_max_m)
    quant_a = quant_b = np.float32(0.0)
    if encoding == "16UC1":
        pixels = np.where(valid, np.rint(depth * MM_PER_M), 0).astype(np.uint16)
    elif encoding == "32FC1":
        quant_a = np.float32(depth_quantization * (depth_quantization + 1.0))
        quant_b = np.float32(1.0 - quant_a / np.float32(depth_max_m))
        safe = np.where(valid, depth, np.float32(1.0))
        inverse = np.clip(quant_a / safe + quant_b, 0, np.iinfo(np.uint16).max)
        pixels = np.where(valid, inverse, 0).astype(np.uint16)
    else:
        raise ValueError(f"unknown depth encoding {encoding!r}; expected 16UC1 or 32FC1")
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="PNG")
    header = _DEPTH_HEADER.pack(0, float(quant_a), float(quant_b))
    data = np.frombuffer(header + buffer.getvalue(), dtype=np.uint8)
    return CompressedFields(f"{encoding}; compressedDepth png", data)
