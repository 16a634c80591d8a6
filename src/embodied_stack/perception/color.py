"""A colour word for an object from its pixels ("white", "brown", ...), for captions.

The image is taken as sRGB (what cameras write). Pixels are reduced to the median colour of
their brighter half (the lit faces: shading darkens the rest), then named in HSV: hue and
saturation are ratios, so uniform shading changes them little; value (brightness) separates
white/grey/black and orange/brown, the words that inherently depend on lightness.

The thresholds were checked on the embedded simulator's renders (ambient + wrapped Lambertian
shading, gamma 2.2) of the AWS small house: its white furniture lands at value 0.70-0.90, its
stainless steel at 0.50-0.64, its black objects below 0.31.
"""

from __future__ import annotations

import numpy as np

COLOR_WORDS = (
    "white", "grey", "black", "red", "orange", "brown", "beige", "yellow",
    "green", "teal", "blue", "purple", "pink",
)

# Hue bins in degrees [start, end) -> base word, on the sRGB HSV hue circle.
_HUE_BINS: tuple[tuple[float, float, str], ...] = (
    (0.0, 18.0, "red"),
    (18.0, 45.0, "orange"),
    (45.0, 70.0, "yellow"),
    (70.0, 170.0, "green"),
    (170.0, 200.0, "teal"),
    (200.0, 260.0, "blue"),
    (260.0, 290.0, "purple"),
    (290.0, 340.0, "pink"),
    (340.0, 360.0, "red"),
)
BLACK_MAX_VALUE = 0.2
ACHROMATIC_MAX_SATURATION = 0.15
ACHROMATIC_MAX_CHROMA = 0.1
WHITE_MIN_VALUE = 0.68
GREY_MIN_VALUE = 0.42
PALE_MAX_SATURATION = 0.5


def rgb_to_hsv(rgb: np.ndarray) -> tuple[float, float, float]:
    """Hue (degrees, 0-360), saturation and value (0-1) of one sRGB colour given in 0-255."""
    r, g, b = (float(c) / 255.0 for c in np.asarray(rgb, dtype=np.float64).reshape(3))
    high, low = max(r, g, b), min(r, g, b)
    span = high - low
    saturation = span / high if high > 0 else 0.0
    if span == 0:
        hue = 0.0
    elif high == r:
        hue = 60.0 * (((g - b) / span) % 6.0)
    elif high == g:
        hue = 60.0 * ((b - r) / span + 2.0)
    else:
        hue = 60.0 * ((r - g) / span + 4.0)
    return hue, saturation, high


def name_color(rgb: np.ndarray | tuple[float, float, float]) -> str:
    """The word (one of :data:`COLOR_WORDS`) for one sRGB colour given in 0-255.

    Dark or nearly grey colours (low value, saturation or chroma = saturation * value) have
    no reliable hue and are named by brightness alone.
    """
    hue, sat, value = rgb_to_hsv(np.asarray(rgb))
    if value < BLACK_MAX_VALUE:
        return "black"
    if sat < ACHROMATIC_MAX_SATURATION or sat * value < ACHROMATIC_MAX_CHROMA:
        if value >= WHITE_MIN_VALUE:
            return "white"
        return "grey" if value >= GREY_MIN_VALUE else "black"
    word = next(name for start, end, name in _HUE_BINS if start <= hue < end)
    pale = sat < PALE_MAX_SATURATION and value >= 0.6
    if word == "red" and pale:
        return "pink"
    if word in ("orange", "yellow"):
        if pale:
            return "beige"
        if value < (0.6 if word == "orange" else 0.45):
            return "brown"
    if word == "pink" and value < 0.5:
        return "purple"
    return word


def representative_color(pixels_rgb: np.ndarray) -> np.ndarray:
    """Median sRGB colour (3,) of the brighter half of ``pixels_rgb`` (N, 3) uint8."""
    luma = pixels_rgb.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    lit = pixels_rgb[luma >= np.median(luma)]
    return np.median(lit, axis=0)


def color_word(pixels_rgb: np.ndarray) -> str | None:
    """Colour word of an object's pixels (N, 3) uint8; None when there are none."""
    if pixels_rgb.shape[0] == 0:
        return None
    return name_color(representative_color(pixels_rgb))
