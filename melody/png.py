"""Tiny PNG charts without matplotlib: an RGB raster, lines, a 3x5 pixel font, zlib + struct.

Used for the loss curves in a model folder (loss.png); anything else that needs a quick line
chart may call `line_chart` too.
"""

from __future__ import annotations

import struct
import zlib
from typing import Sequence

import numpy as np

Color = tuple[int, int, int]
BLUE: Color = (31, 119, 180)
ORANGE: Color = (255, 127, 14)
GREY: Color = (200, 200, 200)
BLACK: Color = (40, 40, 40)

# 3x5 glyphs, rows top to bottom, 3 bits each (4 = left pixel).
_FONT = {
    "0": (7, 5, 5, 5, 7), "1": (2, 6, 2, 2, 7), "2": (7, 1, 7, 4, 7), "3": (7, 1, 7, 1, 7),
    "4": (5, 5, 7, 1, 1), "5": (7, 4, 7, 1, 7), "6": (7, 4, 7, 5, 7), "7": (7, 1, 1, 1, 1),
    "8": (7, 5, 7, 5, 7), "9": (7, 5, 7, 1, 7), ".": (0, 0, 0, 0, 2), "-": (0, 0, 7, 0, 0),
    "k": (4, 5, 6, 5, 5), " ": (0, 0, 0, 0, 0),
}


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an RGB uint8 array [height, width, 3]."""
    height, width, _ = pixels.shape
    rows = np.concatenate([np.zeros((height, 1), dtype=np.uint8), pixels.reshape(height, width * 3)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + chunk(b"IEND", b""))


def draw_line(pixels: np.ndarray, x0: float, y0: float, x1: float, y1: float, color: Color) -> None:
    """A line two pixels thick, by sampling along it (no anti-aliasing)."""
    count = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
    xs = np.linspace(x0, x1, count * 2).round().astype(int)
    ys = np.linspace(y0, y1, count * 2).round().astype(int)
    height, width, _ = pixels.shape
    for dy in (0, 1):
        inside = (xs >= 0) & (xs < width) & (ys + dy >= 0) & (ys + dy < height)
        pixels[ys[inside] + dy, xs[inside]] = color


def draw_text(pixels: np.ndarray, x: int, y: int, text: str, color: Color = BLACK, scale: int = 2) -> None:
    """Digits (and . - k) in the 3x5 font, top-left at (x, y)."""
    for index, char in enumerate(text):
        rows = _FONT.get(char, _FONT[" "])
        for row, bits in enumerate(rows):
            for column in range(3):
                if bits & (4 >> column):
                    top, left = y + row * scale, x + (index * 4 + column) * scale
                    pixels[top:top + scale, left:left + scale] = color


def _number(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value / 1000:.0f}k" if value % 1000 == 0 else f"{value / 1000:.1f}k"
    return f"{value:.3g}" if not float(value).is_integer() else f"{int(value)}"


def line_chart(series: Sequence[tuple[Sequence[float], Sequence[float], Color]],
               width: int = 640, height: int = 360) -> bytes:
    """PNG of one or more (xs, ys, color) curves on shared axes, with the axis ranges labelled."""
    pixels = np.full((height, width, 3), 255, dtype=np.uint8)
    left, right, top, bottom = 60, width - 20, 20, height - 40
    points = [(np.asarray(xs, float), np.asarray(ys, float), color) for xs, ys, color in series if len(xs)]
    if points:
        all_x = np.concatenate([xs for xs, _, _ in points])
        all_y = np.concatenate([ys for _, ys, _ in points])
        finite = np.isfinite(all_y)
        x_low, x_high = float(all_x.min()), float(all_x.max())
        y_low, y_high = (float(all_y[finite].min()), float(all_y[finite].max())) if finite.any() else (0.0, 1.0)
        x_high, y_high = max(x_high, x_low + 1), max(y_high, y_low + 1e-6)
        for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):  # grid
            y = bottom - fraction * (bottom - top)
            pixels[int(y), left:right] = GREY
        for xs, ys, color in points:
            px = left + (xs - x_low) / (x_high - x_low) * (right - left)
            py = bottom - (np.clip(ys, y_low, y_high) - y_low) / (y_high - y_low) * (bottom - top)
            if len(px) == 1:
                draw_line(pixels, px[0] - 2, py[0], px[0] + 2, py[0], color)
            for i in range(len(px) - 1):
                draw_line(pixels, px[i], py[i], px[i + 1], py[i + 1], color)
        draw_text(pixels, 4, top - 4, _number(y_high))
        draw_text(pixels, 4, bottom - 6, _number(y_low))
        draw_text(pixels, left, bottom + 12, _number(x_low))
        label = _number(x_high)
        draw_text(pixels, right - len(label) * 8, bottom + 12, label)
    pixels[top:bottom + 1, left] = BLACK  # axes
    pixels[bottom, left:right + 1] = BLACK
    return encode_png(pixels)
