"""Read and write files in the safetensors layout with numpy only (no PyPI package needed).

Layout: 8-byte little-endian header length N, N bytes of JSON header, then raw little-endian data.
The header maps tensor names to {dtype, shape, data_offsets} (offsets relative to the data section)
and may hold "__metadata__", a map of string to string.
"""
import json
import struct

import numpy as np

DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U8": np.uint8, "BOOL": np.bool_,
}
_NAME_OF = {np.dtype(v).str: k for k, v in DTYPES.items()}

# Data starts on this boundary so that a reader can map tensors in place with aligned pointers.
ALIGNMENT = 64


def layout(tensors):
    """Header entries (name -> dtype/shape/data_offsets) and the data section for `tensors`."""
    entries, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        dtype = _NAME_OF.get(array.dtype.str)
        if dtype is None:
            raise TypeError(f"tensor {name!r}: dtype {array.dtype} has no safetensors name")
        size = array.nbytes
        entries[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + size]}
        pad = (-size) % ALIGNMENT  # keep every tensor aligned too
        chunks.append(array.tobytes() + b"\0" * pad)
        offset += size + pad
    return entries, b"".join(chunks)


def table_string(entries):
    """Canonical text of the tensor table (covered by the package checksum, see package.py)."""
    return "".join(f"{name}|{e['dtype']}|{','.join(map(str, e['shape']))}|{e['data_offsets'][0]}|"
                   f"{e['data_offsets'][1]}\n" for name, e in sorted(entries.items()))


def write_layout(path, entries, data, metadata=None):
    header = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("safetensors __metadata__ must map str to str")
        header["__metadata__"] = dict(metadata)
    header.update(entries)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((-(8 + len(raw))) % ALIGNMENT)  # the format allows trailing spaces in the header
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        f.write(data)


def write(path, tensors, metadata=None):
    """Write `tensors` (name -> numpy array) and `metadata` (str -> str) to `path`."""
    entries, data = layout(tensors)
    write_layout(path, entries, data, metadata)


def read(path):
    """Return (tensors, metadata) from a safetensors file; arrays are copies."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(blob[8:8 + n])
    metadata = header.pop("__metadata__", {}) or {}
    data = memoryview(blob)[8 + n:]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = np.dtype(DTYPES[info["dtype"]]).newbyteorder("<")
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(info["shape"]).copy()
    return tensors, metadata
