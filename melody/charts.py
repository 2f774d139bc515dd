"""Line charts as PNG bytes, with no plotting library: a raster, lines, a 5x7 font, zlib.

The one chart renderer melody has: `line_plot` draws named curves on shared axes with a
title, axis ranges and a legend. It draws the loss curves of a model folder (loss.png) and
the statistic plots of `melody eval --plots`. It is written by hand because the need is a
few line charts, and matplotlib would add tens of MB and a second of import for them.
"""

from __future__ import annotations

import struct
import zlib
from typing import Sequence

import numpy as np


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an RGB uint8 array [height, width, 3]."""
    height, width, _ = pixels.shape
    rows = np.concatenate([np.zeros((height, 1), dtype=np.uint8), pixels.reshape(height, width * 3)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + chunk(b"IEND", b""))


def _thick_line(pixels: np.ndarray, x0: float, y0: float, x1: float, y1: float, color: tuple[int, int, int]) -> None:
    """A line two pixels thick, by sampling along it (no anti-aliasing)."""
    count = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
    xs = np.linspace(x0, x1, count * 2).round().astype(int)
    ys = np.linspace(y0, y1, count * 2).round().astype(int)
    height, width, _ = pixels.shape
    for dy in (0, 1):
        inside = (xs >= 0) & (xs < width) & (ys + dy >= 0) & (ys + dy < height)
        pixels[ys[inside] + dy, xs[inside]] = color


# Colour-blind-safe (Okabe-Ito) line colours, in series order.
PALETTE = ((0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167), (230, 159, 0), (86, 180, 233))
INK = (40, 40, 40)
GRID = (225, 225, 225)

# 5x7 glyphs, one string of 7 rows of 5 bits each; lowercase letters draw as capitals.
_FONT_ROWS = {
    "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11110 00001 00001 01110 00001 00001 11110",
    "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
    "A": "01110 10001 10001 11111 10001 10001 10001", "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110", "D": "11100 10010 10001 10001 10001 10010 11100",
    "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111", "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110", "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001", "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001", "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110", "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101", "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110", "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010", "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 10001 01010 00100 00100 00100", "Z": "11111 00001 00010 00100 01000 10000 11111",
    " ": "00000 00000 00000 00000 00000 00000 00000", ".": "00000 00000 00000 00000 00000 01100 01100",
    ",": "00000 00000 00000 00000 01100 00100 01000", "-": "00000 00000 00000 11111 00000 00000 00000",
    "+": "00000 00100 00100 11111 00100 00100 00000", ":": "00000 01100 01100 00000 01100 01100 00000",
    "/": "00001 00010 00010 00100 01000 01000 10000", "(": "00010 00100 01000 01000 01000 00100 00010",
    ")": "01000 00100 00010 00010 00010 00100 01000", "=": "00000 00000 11111 00000 11111 00000 00000",
    "%": "11001 11010 00010 00100 01000 01011 10011", "_": "00000 00000 00000 00000 00000 00000 11111",
    "<": "00010 00100 01000 10000 01000 00100 00010", ">": "01000 00100 00010 00001 00010 00100 01000",
    "?": "01110 10001 00001 00010 00100 00000 00100", "'": "00100 00100 01000 00000 00000 00000 00000",
}
_FONT = {ch: np.array([[bit == "1" for bit in row] for row in rows.split()], dtype=bool)
         for ch, rows in _FONT_ROWS.items()}


class Canvas:
    """An RGB raster with the few drawing operations a line plot needs."""

    def __init__(self, width: int, height: int) -> None:
        self.pixels = np.full((height, width, 3), 255, dtype=np.uint8)

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: tuple[int, int, int]) -> None:
        width, height = self.size
        self.pixels[max(0, y0):min(height, y1 + 1), max(0, x0):min(width, x1 + 1)] = colour

    def line(self, x0: float, y0: float, x1: float, y1: float, colour: tuple[int, int, int], thick: int = 1) -> None:
        if thick > 1:
            _thick_line(self.pixels, x0, y0, x1, y1, colour)
            return
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for t in np.linspace(0.0, 1.0, steps + 1):
            x, y = round(x0 + (x1 - x0) * t), round(y0 + (y1 - y0) * t)
            self.rect(x, y, x, y, colour)

    def text(self, x: int, y: int, text: str, colour: tuple[int, int, int] = INK) -> int:
        """Write `text` with its top-left at (x, y); returns the x after it."""
        width, height = self.size
        for ch in text:
            glyph = _FONT.get(ch.upper(), _FONT["?"])
            ys, xs = np.nonzero(glyph)
            keep = (y + ys < height) & (x + xs < width) & (y + ys >= 0) & (x + xs >= 0)
            self.pixels[y + ys[keep], x + xs[keep]] = colour
            x += 6
        return x

    def png(self) -> bytes:
        return encode_png(self.pixels)


def text_width(text: str) -> int:
    return 6 * len(text) - 1


def _tick(value: float) -> str:
    if value == 0 or 0.01 <= abs(value) < 10000:
        return f"{value:.3g}"
    return f"{value:.1e}"


def line_plot(series: Sequence[tuple[str, Sequence[float], Sequence[float]]], *, title: str = "",
              x_label: str = "", y_label: str = "", width: int = 640, height: int = 400) -> bytes:
    """PNG bytes of named (label, xs, ys) curves on shared axes, with a legend."""
    canvas = Canvas(width, height)
    left, right, top, bottom = 56, width - 12, 28, height - 36
    points = [(np.asarray(xs, float), np.asarray(ys, float)) for _, xs, ys in series]
    finite = [(x[np.isfinite(x) & np.isfinite(y)], y[np.isfinite(x) & np.isfinite(y)]) for x, y in points]
    all_x = np.concatenate([x for x, _ in finite] or [np.zeros(1)])
    all_y = np.concatenate([y for _, y in finite] or [np.zeros(1)])
    x_low, x_high = (float(all_x.min()), float(all_x.max())) if all_x.size else (0.0, 1.0)
    y_low, y_high = (min(0.0, float(all_y.min())), float(all_y.max())) if all_y.size else (0.0, 1.0)
    if x_high <= x_low:
        x_high = x_low + 1.0
    if y_high <= y_low:
        y_high = y_low + 1.0

    def to_px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x_low) / (x_high - x_low) * (right - left),
                bottom - (y - y_low) / (y_high - y_low) * (bottom - top))

    for fraction in (0.25, 0.5, 0.75):  # light grid lines at quarters
        gx = left + fraction * (right - left)
        gy = bottom - fraction * (bottom - top)
        canvas.line(gx, top, gx, bottom, GRID)
        canvas.line(left, gy, right, gy, GRID)
    canvas.line(left, bottom, right, bottom, INK)
    canvas.line(left, top, left, bottom, INK)
    canvas.text((width - text_width(title)) // 2, 8, title)
    canvas.text(left, bottom + 6, _tick(x_low))
    canvas.text(right - text_width(_tick(x_high)), bottom + 6, _tick(x_high))
    canvas.text((left + right - text_width(x_label)) // 2, bottom + 20, x_label)
    canvas.text(4, bottom - 7, _tick(y_low)[:8])
    canvas.text(4, top, _tick(y_high)[:8])
    if y_label:
        canvas.text(4, top + 12, y_label[:8])
    for number, (x, y) in enumerate(finite):
        colour = PALETTE[number % len(PALETTE)]
        pixels = [to_px(a, b) for a, b in zip(x, y)]
        for (xa, ya), (xb, yb) in zip(pixels, pixels[1:]):
            canvas.line(xa, ya, xb, yb, colour, thick=2)
        if len(pixels) == 1:
            canvas.rect(int(pixels[0][0]) - 2, int(pixels[0][1]) - 2, int(pixels[0][0]) + 2, int(pixels[0][1]) + 2, colour)
    legend_x = right - 8 - max((text_width(label) for label, _, _ in series), default=0) - 16
    for number, (label, _, _) in enumerate(series):
        y = top + 6 + number * 12
        colour = PALETTE[number % len(PALETTE)]
        canvas.rect(legend_x, y + 2, legend_x + 10, y + 4, colour)
        canvas.text(legend_x + 16, y, label, colour)
    return canvas.png()


def safe_name(text: str) -> str:
    """A file-name stem from a statistic's name: 'pitch-class entropy' -> 'pitch-class-entropy'."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text.strip().lower()).strip("-")
