#!/usr/bin/python3
"""Prints how many distinct colours a PNG has, and how many pixels have each
colour named on the command line (RRGGBB), one "RRGGBB COUNT" line each.

Standard library only (zlib): 8-bit greyscale, RGB, RGBA, grey+alpha, not
interlaced, which is what Chromium's --screenshot writes.
Usage: png_colours.py FILE.png [RRGGBB ...]
"""
import struct
import sys
import zlib


def read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path}: not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    width, height, depth, colour_type, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour_type)
    if depth != 8 or channels is None or interlace != 0:
        raise SystemExit(f"{path}: unsupported PNG ({depth}, {colour_type})")
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        base = y * (stride + 1)
        kind, line = raw[base], bytearray(raw[base + 1:base + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            upper_left = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - upper_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else upper_left)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def main():
    width, height, channels, rows = read_png(sys.argv[1])
    counts = {}
    for line in rows:
        for x in range(width):
            px = line[x * channels:(x + 1) * channels]
            rgb = bytes(px[:3]) if channels >= 3 else bytes([px[0]] * 3)
            counts[rgb] = counts.get(rgb, 0) + 1
    print(f"size {width}x{height}")
    print(f"colours {len(counts)}")
    for wanted in sys.argv[2:]:
        print(f"{wanted} {counts.get(bytes.fromhex(wanted), 0)}")


if __name__ == "__main__":
    main()
