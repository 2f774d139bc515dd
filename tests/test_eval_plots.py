"""The PNG writer: a valid PNG of the right size whose pixels hold the curves drawn."""

from __future__ import annotations

import struct
import zlib

import numpy as np

from melody.charts import PALETTE, line_plot
from melody.charts import encode_png


def decode_png(data: bytes) -> np.ndarray:
    """RGB pixels of a filter-0, 8-bit RGB PNG (what melody.charts writes), checking every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, {}
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = chunks.get(kind, b"") + body
        at += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 2) and b"IEND" in chunks
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(height, 1 + 3 * width)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(height, width, 3)


def test_png_round_trips_pixels():
    image = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    assert (decode_png(encode_png(image)) == image).all()


def test_line_plot_draws_each_series_in_its_colour():
    x = np.linspace(0, 1, 50)
    pixels = decode_png(line_plot([("a", x, x), ("b", x, 1 - x)], title="t", width=300, height=200))
    assert pixels.shape == (200, 300, 3)
    for colour in PALETTE[:2]:
        assert (pixels == colour).all(axis=2).sum() > 100  # a line plus its legend swatch
