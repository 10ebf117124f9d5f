"""Writing memwatch snapshot files from Python, following
include/memwatch/format.h, for tests that need exact, synthetic input
(no LD_PRELOAD involved: they also run under sanitizers).

    s = Snapshot(meta={"trigger": "exit", "pid": 1})
    c = s.code("app.py", "load", firstlineno=10, lnotab=[(2, 1), (4, 1)])
    s.site(live_bytes=1000, live_count=10, frames=[s.py(c, offset=4)])
    s.write(path)
"""
import struct

MASK = (1 << 64) - 1
K1 = 0xbf58476d1ce4e5b9
K2 = 0x94d049bb133111eb


def hash64(data, seed=0):
    h = seed ^ 0x9e3779b97f4a7c15 ^ len(data)
    for i in range(0, len(data), 8):
        w = int.from_bytes(data[i:i + 8].ljust(8, b"\0"), "little")
        h = ((h ^ w) * K1) & MASK
        h ^= h >> 31
    h ^= h >> 30
    h = (h * K1) & MASK
    h ^= h >> 27
    h = (h * K2) & MASK
    h ^= h >> 31
    return h


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7f
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def svarint(v):
    return varint(((v << 1) ^ (v >> 63)) & MASK)


def string(b):
    if isinstance(b, str):
        b = b.encode()
    return varint(len(b)) + b


class Snapshot:
    def __init__(self, meta=None, version=1):
        self.meta = dict(meta or {})
        self.version = version
        self.modules = []
        self.codes = []
        self.sites = []

    def code(self, filename, name, firstlineno=1, lnotab=(), qualname=None, py_version=308):
        """A code object whose line table is a 3.8 lnotab of (address
        increment, line increment) pairs; returns its id."""
        table = b"".join(struct.pack("Bb", a, l) for a, l in lnotab)
        cid = len(self.codes) + 1
        self.codes.append((cid, py_version, firstlineno, filename, name, qualname or name, table))
        return cid

    @staticmethod
    def py(code_id, offset=0):
        return (1, code_id, offset)

    @staticmethod
    def native(addr):
        return (0, addr)

    def site(self, live_bytes, live_count, frames, total_bytes=None, total_count=None):
        self.sites.append((live_bytes, live_count, total_bytes or live_bytes,
                           total_count or live_count, frames))

    def encode(self):
        meta = bytearray(varint(len(self.meta)))
        for k, v in self.meta.items():
            meta += string(k)
            if isinstance(v, int) and v >= 0:
                meta += b"\0" + varint(v)
            elif isinstance(v, int):
                meta += b"\1" + svarint(v)
            else:
                meta += b"\2" + string(v)
        mods = bytearray(varint(len(self.modules)))
        for i, (bias, start, end, path, flags) in enumerate(self.modules):
            mods += varint(i) + varint(bias) + varint(start) + varint(end) + string(path) + \
                string(b"") + varint(flags)
        codes = bytearray(varint(len(self.codes)))
        for cid, pv, first, fn, name, qual, table in self.codes:
            codes += varint(cid) + varint(pv) + svarint(first) + string(fn) + string(name) + \
                string(qual) + string(table)
        sites = bytearray(varint(len(self.sites)))
        for lb, lc, tb, tc, frames in self.sites:
            sites += varint(lb) + varint(lc) + varint(tb) + varint(tc) + varint(len(frames))
            for f in frames:
                if f[0] == 1:
                    sites += b"\1" + varint(f[1]) + varint(f[2])
                else:
                    sites += b"\0" + varint(f[1])
        body = bytearray()
        for kind, payload in ((1, meta), (2, mods), (3, codes), (4, sites)):
            body += struct.pack("<IIQ", kind, 0, len(payload)) + payload
        size = 32 + len(body) + 8
        head = b"MEMWATCH" + struct.pack("<IIQII", self.version, 32, size, 4, 0)
        data = head + bytes(body)
        return data + struct.pack("<Q", hash64(data))

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.encode())
        return path


def _read_varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7f) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def read(path):
    """Decode a snapshot file into plain Python values (for tests and
    debugging): {"meta": {...}, "modules": [...], "codes": {id: (...)},
    "sites": [(live_bytes, live_count, total_bytes, total_count, frames)]}."""
    data = open(path, "rb").read()
    out = {"meta": {}, "modules": [], "codes": {}, "sites": []}
    i = 32
    while i < len(data) - 8:
        kind, _, length = struct.unpack_from("<IIQ", data, i)
        i += 16
        end = i + length
        n, j = _read_varint(data, i)
        for _ in range(n):
            if kind == 1:
                kl, j = _read_varint(data, j)
                key = data[j:j + kl].decode()
                j += kl
                t = data[j]
                j += 1
                if t == 2:
                    vl, j = _read_varint(data, j)
                    out["meta"][key] = data[j:j + vl]
                    j += vl
                else:
                    out["meta"][key], j = _read_varint(data, j)
            elif kind == 2:
                vals = []
                for _k in range(4):
                    v, j = _read_varint(data, j)
                    vals.append(v)
                strs = []
                for _k in range(2):
                    sl, j = _read_varint(data, j)
                    strs.append(data[j:j + sl])
                    j += sl
                flags, j = _read_varint(data, j)
                out["modules"].append((vals[1], vals[2], vals[3], strs[0].decode(), flags))
            elif kind == 3:
                cid, j = _read_varint(data, j)
                pv, j = _read_varint(data, j)
                first, j = _read_varint(data, j)
                strs = []
                for _k in range(4):
                    sl, j = _read_varint(data, j)
                    strs.append(data[j:j + sl])
                    j += sl
                out["codes"][cid] = (pv, first, strs[0].decode(), strs[1].decode(),
                                     strs[2].decode(), strs[3])
            elif kind == 4:
                vals = []
                for _k in range(5):
                    v, j = _read_varint(data, j)
                    vals.append(v)
                frames = []
                for _k in range(vals[4]):
                    fk = data[j]
                    j += 1
                    if fk == 1:
                        cid, j = _read_varint(data, j)
                        off, j = _read_varint(data, j)
                        frames.append(("py", cid, off))
                    else:
                        a, j = _read_varint(data, j)
                        frames.append(("native", a))
                out["sites"].append((vals[0], vals[1], vals[2], vals[3], frames))
        i = end
    return out
