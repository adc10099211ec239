"""Check a GGUF model file before llama.cpp touches it.

llama.cpp may abort the whole process on a bad file (a `GGML_ASSERT`, not an error code), so the
header, metadata and tensor table are read here first, in pure Python with bounded reads: the
`GGUF` magic, a supported version, sane counts, and a file long enough to hold every tensor.
The same pass returns the few hyper-parameters needed to estimate the KV-cache size.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MckdError

# ggml type id -> (block size in elements, bytes per block); from ggml's type traits (0.3.36).
GGML_TYPES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    9: (32, 36), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210),
    15: (256, 292), 16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18),
    21: (256, 110), 22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8),
    28: (1, 8), 29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66), 39: (32, 17),
}
# metadata value type -> fixed byte size (strings and arrays are variable)
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
        11: "<q", 12: "<d"}
_MAX_COUNT = 10_000_000  # more tensors / metadata entries than any real model: corrupt header


@dataclass
class GgufInfo:
    """What the checks learned about a GGUF file."""
    path: Path
    size: int
    version: int
    n_tensors: int
    metadata: dict = field(default_factory=dict)  # scalar entries only (arrays summarised)
    data_end: int = 0

    @property
    def arch(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    def hparam(self, key: str, default=None):
        return self.metadata.get(f"{self.arch}.{key}", default)

    def kv_bytes_per_token(self) -> int | None:
        """f16 K+V bytes one token takes in the cache (None when the metadata lacks a field)."""
        n_layer = self.hparam("block_count")
        n_head = self.hparam("attention.head_count")
        n_embd = self.hparam("embedding_length")
        n_head_kv = self.hparam("attention.head_count_kv", n_head)
        if isinstance(n_head_kv, list):  # per-layer counts in some architectures
            n_head_kv = max(n_head_kv) if n_head_kv else None
        if isinstance(n_head, list):
            n_head = max(n_head) if n_head else None
        if not all(isinstance(v, int) and v > 0 for v in (n_layer, n_head, n_embd, n_head_kv)):
            return None
        k_len = self.hparam("attention.key_length", n_embd // n_head)
        v_len = self.hparam("attention.value_length", n_embd // n_head)
        return int(n_layer * n_head_kv * (k_len + v_len) * 2)


class _Reader:
    """Bounded little-endian reads over a memory map; running off the end means truncation."""

    def __init__(self, buf, path: Path):
        self.buf, self.pos, self.path, self.n = buf, 0, path, len(buf)

    def take(self, k: int) -> bytes:
        if k < 0 or self.pos + k > self.n:
            raise MckdError(f"{self.path}: truncated GGUF file (header or metadata cut off at byte "
                            f"{self.n:,}); download or copy it again")
        b = self.buf[self.pos:self.pos + k]
        self.pos += k
        return b

    def skip(self, k: int) -> None:
        if k < 0 or self.pos + k > self.n:
            self.take(k)  # raises the truncation error
        self.pos += k

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self.take(8))[0]

    def count(self, what: str) -> int:
        c = self.u64()
        if c > _MAX_COUNT:
            raise MckdError(f"{self.path}: corrupt GGUF header ({what} count {c:,} is impossible)")
        return c

    def string(self) -> bytes:
        n = self.u64()
        if n > self.n:
            raise MckdError(f"{self.path}: corrupt GGUF metadata (string of {n:,} bytes)")
        return self.take(n)


def _value(r: _Reader, vtype: int, depth: int = 0):
    if vtype in _FIXED:
        return struct.unpack(_FMT[vtype], r.take(_FIXED[vtype]))[0]
    if vtype == 8:
        return r.string().decode("utf-8", "replace")
    if vtype == 9:
        if depth > 2:
            raise MckdError(f"{r.path}: corrupt GGUF metadata (arrays nested too deeply)")
        etype = r.u32()
        n = r.count("array element")
        if etype in _FIXED:
            if n <= 64:  # small arrays (per-layer head counts) are kept, big ones skipped
                return [_value(r, etype, depth + 1) for _ in range(n)]
            r.skip(n * _FIXED[etype])
            return f"<array of {n}>"
        if etype in (8, 9):
            for _ in range(n):
                _value(r, etype, depth + 1)
            return f"<array of {n}>"
        raise MckdError(f"{r.path}: corrupt GGUF metadata (unknown array element type {etype})")
    raise MckdError(f"{r.path}: corrupt GGUF metadata (unknown value type {vtype})")


def check_gguf(path: str | os.PathLike) -> GgufInfo:
    """Validate a GGUF file (magic, version, metadata, tensor table, length) or raise MckdError."""
    p = Path(path)
    if not p.exists():
        raise MckdError(f"{p}: model file not found")
    if not p.is_file():
        raise MckdError(f"{p}: not a regular file (expected a .gguf model)")
    size = p.stat().st_size
    if size < 24:
        raise MckdError(f"{p}: not a GGUF model ({size} bytes, too short for a GGUF header)")
    with open(p, "rb") as f:
        magic = f.read(4)
        if magic != b"GGUF":
            raise MckdError(f"{p}: not a GGUF model (file starts with {magic!r}, expected b'GGUF')")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            r = _Reader(mm, p)
            r.skip(4)
            version = r.u32()
            if version not in (2, 3):
                raise MckdError(f"{p}: unsupported GGUF version {version} (llama.cpp reads 2 and 3)")
            n_tensors = r.count("tensor")
            n_kv = r.count("metadata")
            meta: dict = {}
            for _ in range(n_kv):
                key = r.string().decode("utf-8", "replace")
                meta[key] = _value(r, r.u32())
            alignment = meta.get("general.alignment", 32)
            if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
                raise MckdError(f"{p}: corrupt GGUF metadata (general.alignment={alignment!r})")
            end = 0
            for _ in range(n_tensors):
                name = r.string().decode("utf-8", "replace")
                n_dims = r.u32()
                if n_dims > 8:
                    raise MckdError(f"{p}: corrupt GGUF tensor table ({name}: {n_dims} dims)")
                n_el = 1
                for _ in range(n_dims):
                    n_el *= r.u64()
                ttype = r.u32()
                offset = r.u64()
                if ttype not in GGML_TYPES:
                    raise MckdError(f"{p}: tensor {name} has ggml type {ttype}, unknown to this "
                                    "llama.cpp build (corrupt file or a newer quantization)")
                blk, tsize = GGML_TYPES[ttype]
                end = max(end, offset + (n_el + blk - 1) // blk * tsize)
            data_start = (r.pos + alignment - 1) // alignment * alignment
    data_end = data_start + end
    if data_end > size:
        raise MckdError(f"{p}: truncated GGUF file ({size:,} bytes, its tensors need "
                        f"{data_end:,}); download or copy it again")
    return GgufInfo(path=p, size=size, version=version, n_tensors=n_tensors, metadata=meta,
                    data_end=data_end)


def mem_available() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(info: GgufInfo, kv_tokens: int, what: str = "") -> int:
    """Raise MckdError when model + KV cache would not fit in available memory; returns the need."""
    per_tok = info.kv_bytes_per_token() or 0
    need = info.size + per_tok * kv_tokens + (64 << 20)
    avail = mem_available()
    if avail is not None and need > avail:
        raise MckdError(
            f"{info.path}: model too large for memory: {info.size / 2**30:.2f} GiB weights + "
            f"{per_tok * kv_tokens / 2**30:.2f} GiB KV cache ({kv_tokens:,} tokens{what}) > "
            f"{avail / 2**30:.2f} GiB available; use a smaller model, --parallel or --n-ctx")
    return need
