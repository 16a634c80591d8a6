"""A minimal glTF 2.0 binary (``.glb``) writer and reader: triangle meshes, one node each, with
optional per-vertex colours and integer attributes, written with numpy and json only.

What the writer emits follows the glTF 2.0 specification: a 12-byte header (``glTF``, version 2,
length), a JSON chunk padded with spaces and a BIN chunk padded with zeros to 4 bytes; one
buffer; one buffer view per accessor (vertex attributes aligned to 4 bytes, ``target`` 34962,
indices 34963); ``POSITION`` as float32 VEC3 with ``min``/``max``; indices as uint32;
``COLOR_0`` as normalized uint8 VEC4; custom attributes (names starting with ``_``) as uint32
SCALAR. Triangles are ``mode`` 4; no normals (viewers compute flat normals, as the spec says).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embodied_stack.sim.errors import HabitatExportError as GlbError

_MAGIC, _JSON, _BIN = 0x46546C67, 0x4E4F534A, 0x004E4942
_FLOAT, _UBYTE, _UINT = 5126, 5121, 5125
_COMPONENTS = {_FLOAT: np.float32, _UBYTE: np.uint8, _UINT: np.uint32}
_WIDTH = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}


@dataclass
class GlbMesh:
    """One node's mesh: ``positions`` (V, 3) in the file's frame, ``triangles`` (T, 3),
    optional ``colors`` (V, 4) uint8, optional integer ``attributes`` ({"_OBJECT_ID": (V,)}) and
    a linear-RGB ``base_color`` for its material."""

    name: str
    positions: np.ndarray
    triangles: np.ndarray
    colors: np.ndarray | None = None
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    base_color: tuple[float, float, float] | None = None


def write_glb(path: str | Path, meshes: list[GlbMesh], *, generator: str = "embodied-stack") -> None:
    """Write ``meshes`` as a .glb, one node per mesh, in the given order."""
    blob = bytearray()
    doc: dict[str, Any] = {"asset": {"version": "2.0", "generator": generator}, "scene": 0,
                           "scenes": [{"nodes": list(range(len(meshes)))}], "nodes": [], "meshes": [],
                           "materials": [], "accessors": [], "bufferViews": [], "buffers": []}

    def add(data: np.ndarray, ctype: int, kind: str, *, target: int, normalized: bool = False,
            bounds: bool = False) -> int:
        arr = np.ascontiguousarray(data, dtype=_COMPONENTS[ctype])
        while len(blob) % 4:
            blob.append(0)
        doc["bufferViews"].append({"buffer": 0, "byteOffset": len(blob), "byteLength": arr.nbytes, "target": target})
        blob.extend(arr.tobytes())
        accessor: dict[str, Any] = {"bufferView": len(doc["bufferViews"]) - 1, "componentType": ctype,
                                    "count": int(arr.shape[0]), "type": kind}
        if normalized:
            accessor["normalized"] = True
        if bounds:
            accessor["min"] = [float(v) for v in arr.min(axis=0)]
            accessor["max"] = [float(v) for v in arr.max(axis=0)]
        doc["accessors"].append(accessor)
        return len(doc["accessors"]) - 1

    for i, mesh in enumerate(meshes):
        pos = np.asarray(mesh.positions, dtype=np.float32).reshape(-1, 3)
        tris = np.asarray(mesh.triangles, dtype=np.int64).reshape(-1, 3)
        if len(pos) == 0 or len(tris) == 0 or tris.min() < 0 or tris.max() >= len(pos):
            raise GlbError(f"mesh {mesh.name!r}: needs vertices and triangles indexing them")
        attrs = {"POSITION": add(pos, _FLOAT, "VEC3", target=34962, bounds=True)}
        if mesh.colors is not None:
            attrs["COLOR_0"] = add(np.asarray(mesh.colors).reshape(len(pos), 4), _UBYTE, "VEC4", target=34962,
                                   normalized=True)
        for name, values in mesh.attributes.items():
            if not name.startswith("_"):
                raise GlbError(f"custom attribute {name!r} must start with '_' (glTF 2.0)")
            attrs[name] = add(np.asarray(values).reshape(len(pos)), _UINT, "SCALAR", target=34962)
        primitive: dict[str, Any] = {"attributes": attrs, "mode": 4,
                                     "indices": add(tris.reshape(-1), _UINT, "SCALAR", target=34963)}
        if mesh.base_color is not None:
            doc["materials"].append({"name": mesh.name, "pbrMetallicRoughness": {
                "baseColorFactor": [*(float(c) for c in mesh.base_color), 1.0], "metallicFactor": 0.0,
                "roughnessFactor": 1.0}})
            primitive["material"] = len(doc["materials"]) - 1
        doc["meshes"].append({"name": mesh.name, "primitives": [primitive]})
        doc["nodes"].append({"name": mesh.name, "mesh": i})
    if not doc["materials"]:
        del doc["materials"]
    while len(blob) % 4:
        blob.append(0)
    doc["buffers"].append({"byteLength": len(blob)})
    text = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    out = struct.pack("<III", _MAGIC, 2, total) + struct.pack("<II", len(text), _JSON) + text
    out += struct.pack("<II", len(blob), _BIN) + bytes(blob)
    Path(path).write_bytes(out)


def read_glb(path: str | Path) -> tuple[dict[str, Any], list[GlbMesh]]:
    """Parse a .glb written by :func:`write_glb` (or any glb of non-interleaved triangle meshes,
    one primitive per mesh, identity node transforms) into its JSON and its meshes."""
    data = Path(path).read_bytes()
    if len(data) < 20:
        raise GlbError(f"{path}: too short for a .glb")
    magic, version, length = struct.unpack_from("<III", data, 0)
    if magic != _MAGIC or version != 2 or length != len(data):
        raise GlbError(f"{path}: not a glTF 2.0 binary (magic {magic:#x}, version {version}, length {length})")
    json_len, json_type = struct.unpack_from("<II", data, 12)
    if json_type != _JSON:
        raise GlbError(f"{path}: first chunk is not JSON")
    doc = json.loads(data[20:20 + json_len].decode("utf-8"))
    offset = 20 + json_len
    bin_len, bin_type = struct.unpack_from("<II", data, offset)
    if bin_type != _BIN:
        raise GlbError(f"{path}: second chunk is not BIN")
    blob = data[offset + 8: offset + 8 + bin_len]

    def accessor(i: int) -> np.ndarray:
        acc = doc["accessors"][i]
        view = doc["bufferViews"][acc["bufferView"]]
        dtype = _COMPONENTS[acc["componentType"]]
        width = _WIDTH[acc["type"]]
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        arr = np.frombuffer(blob, dtype=dtype, count=acc["count"] * width, offset=start)
        return arr.reshape(acc["count"], width) if width > 1 else arr

    meshes = []
    for node in doc["nodes"]:
        mesh = doc["meshes"][node["mesh"]]
        (prim,) = mesh["primitives"]
        attrs = prim["attributes"]
        base = None
        if "material" in prim:
            base = tuple(doc["materials"][prim["material"]]["pbrMetallicRoughness"]["baseColorFactor"][:3])
        meshes.append(GlbMesh(
            name=node.get("name", ""), positions=accessor(attrs["POSITION"]),
            triangles=accessor(prim["indices"]).reshape(-1, 3),
            colors=accessor(attrs["COLOR_0"]) if "COLOR_0" in attrs else None,
            attributes={k: accessor(v) for k, v in attrs.items() if k.startswith("_")}, base_color=base))
    return doc, meshes
