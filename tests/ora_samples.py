"""Valid and malformed OpenRaster files for the project-file tests (no tests here).

Each `BAD_ORA` entry makes one malformed file the way a damaged disk, another program or an
attacker would: the reader must answer each with ProjectError and nothing else."""
from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def stack_xml(layers: str, w="8", h="6") -> str:
    return f'<?xml version="1.0"?><image version="0.0.5" w="{w}" h="{h}"><stack>{layers}</stack></image>'


def make_ora(path: Path, xml: str, members: dict[str, bytes] | None = None,
             compression=zipfile.ZIP_STORED) -> Path:
    """A zip with mimetype, the given stack.xml and members (default: one 8x6 layer data/a.png)."""
    if members is None:
        members = {"data/a.png": png(np.full((6, 8, 3), 120, np.uint8))}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "image/openraster")
        zf.writestr("stack.xml", xml, compress_type=compression)
        for name, data in members.items():
            zf.writestr(name, data, compress_type=compression)
    return path


def one_layer(**attrs) -> str:
    extra = "".join(f' {k}="{v}"' for k, v in attrs.items())
    return stack_xml(f'<layer name="a" src="data/a.png"{extra}/>')


def valid_ora(path: Path) -> Path:
    return make_ora(path, one_layer())


def _patch(data: bytes, name: bytes, offset_local: int, offset_central: int, value: bytes) -> bytes:
    """Overwrite a field of `name`'s local and central zip headers."""
    out = bytearray(data)
    for sig, offset, len_at, name_at in ((b"PK\x03\x04", offset_local, 26, 30),
                                         (b"PK\x01\x02", offset_central, 28, 46)):
        at = 0
        while (at := out.find(sig, at)) >= 0:
            n = struct.unpack_from("<H", out, at + len_at)[0]
            if bytes(out[at + name_at:at + name_at + n]) == name:
                out[at + offset:at + offset + len(value)] = value
            at += 4
    return bytes(out)


def _bad_crc(path):
    valid_ora(path)
    data = bytearray(path.read_bytes())
    at = data.find(b"IDAT") + 8                     # inside the stored PNG's pixel data
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def _bad_crc_stack(path):
    valid_ora(path)
    data = bytearray(path.read_bytes())
    at = data.find(b"<image") + 2
    data[at] ^= 0x20                                # '<Image': the zip checksum no longer matches
    path.write_bytes(bytes(data))


def _encrypted(path):
    valid_ora(path)
    flag = struct.pack("<H", 1)
    path.write_bytes(_patch(path.read_bytes(), b"stack.xml", 6, 8, flag))


def _ppmd(path):
    valid_ora(path)                                 # method 98: PPMd, which zipfile cannot read
    path.write_bytes(_patch(path.read_bytes(), b"data/a.png", 8, 10, struct.pack("<H", 98)))


def _deep(path):
    make_ora(path, stack_xml("<stack>" * 3000 + '<layer src="data/a.png"/>' + "</stack>" * 3000))


def _truncated(path):
    valid_ora(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def _bad_deflate(path):
    make_ora(path, one_layer(), compression=zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    at = data.find(b"data/a.png") + len(b"data/a.png") + 6
    data[at:at + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))


BAD_ORA = {
    "bad CRC in a layer": _bad_crc,
    "bad CRC in stack.xml": _bad_crc_stack,
    "encrypted member": _encrypted,
    "PPMd compression": _ppmd,
    "3000-deep nesting": _deep,
    "truncated zip": _truncated,
    "damaged deflate data": _bad_deflate,
    'x="inf"': lambda p: make_ora(p, one_layer(x="inf")),
    'y="-1e400"': lambda p: make_ora(p, one_layer(y="-1e400")),
    'w="nan"': lambda p: make_ora(p, stack_xml('<layer src="data/a.png"/>', w="nan")),
    'h="inf"': lambda p: make_ora(p, stack_xml('<layer src="data/a.png"/>', h="inf")),
    'opacity="nan"': lambda p: make_ora(p, one_layer(opacity="nan")),
    "x far outside": lambda p: make_ora(p, one_layer(x="1e30")),
    "a layer that is not a PNG": lambda p: make_ora(p, one_layer(), {"data/a.png": b"GIF89a not really"}),
    "a layer that is noise": lambda p: make_ora(p, one_layer(), {"data/a.png": bytes(range(256)) * 4}),
    "a layer that is a folder": lambda p: make_ora(p, stack_xml('<layer src="data/"/>'), {"data/": b""}),
    "a mask of the wrong size": lambda p: make_ora(p, stack_xml(
        '<layer src="data/m.png" xmlns:i="urn:inpaint-studio:openraster:1" i:role="mask"/>'
        '<layer src="data/a.png"/>'), {"data/m.png": png(np.zeros((3, 3), np.uint8)),
                                       "data/a.png": png(np.zeros((6, 8, 3), np.uint8))}),
    "no layers": lambda p: make_ora(p, stack_xml("")),
    "not XML": lambda p: make_ora(p, "<image w='8' h='6'><stack>"),
    "a JPEG layer": lambda p: make_ora(p, one_layer(), {"data/a.png": _jpeg()}),
    "an empty file": lambda p: p.write_bytes(b""),
}


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(buf, "JPEG")
    return buf.getvalue()
