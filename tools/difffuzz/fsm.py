"""Bare EKVPBBL1 streams: parse, build, and hand-made mutations.

Layout (shared/reference/core.md §2.1): magic, LE64 T, then entries
LE64(len K) K LE64(len V) V with K = user key ‖ BE64(^commitTS) and
V = flags ‖ LE64(expireAt) ‖ body.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, replace

MAGIC = b"EKVPBBL1"
M64 = (1 << 64) - 1


@dataclass(frozen=True)
class Entry:
    key: bytes  # user key
    ts: int  # commit timestamp
    body: bytes
    flags: int = 0
    expire: int = 0
    raw: bytes | None = None  # whole framed entry, when hand-corrupted

    def frame(self) -> bytes:
        if self.raw is not None:
            return self.raw
        k = self.key + struct.pack(">Q", ~self.ts & M64)
        v = bytes([self.flags]) + struct.pack("<Q", self.expire) + self.body
        return struct.pack("<Q", len(k)) + k + struct.pack("<Q", len(v)) + v


@dataclass
class Stream:
    ts: int
    entries: list
    magic: bytes = MAGIC
    tail: bytes = b""  # bytes after the last entry (truncated garbage)
    cut: int | None = None  # truncate the final byte string to this length

    def build(self) -> bytes:
        out = self.magic + struct.pack("<Q", self.ts & M64)
        out += b"".join(e.frame() for e in self.entries) + self.tail
        if self.cut is not None:
            out = out[: self.cut]
        return out


def parse(data: bytes) -> Stream:
    if data[:8] != MAGIC:
        raise ValueError("not EKVPBBL1")
    (ts,) = struct.unpack_from("<Q", data, 8)
    i, entries = 16, []
    while i < len(data):
        (kl,) = struct.unpack_from("<Q", data, i)
        k = data[i + 8 : i + 8 + kl]
        i += 8 + kl
        (vl,) = struct.unpack_from("<Q", data, i)
        v = data[i + 8 : i + 8 + vl]
        i += 8 + vl
        (inv,) = struct.unpack(">Q", k[-8:])
        entries.append(
            Entry(k[:-8], ~inv & M64, v[9:], v[0], struct.unpack("<Q", v[1:9])[0])
        )
    return Stream(ts, entries)


# --- small encoders for hand-made records -------------------------------


def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_bytes(field: int, data: bytes) -> bytes:
    return uvarint(field << 3 | 2) + uvarint(len(data)) + data


def pb_double(field: int, x: float) -> bytes:
    return uvarint(field << 3 | 1) + struct.pack("<d", x)


def len4(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


PREFIXES = [
    b"!redis|str|", b"!redis|hll|", b"!redis|ttl|", b"!redis|zset|",
    b"!hs|meta|", b"!hs|fld|", b"!hs|meta|d|", b"!lst|meta|", b"!lst|itm|",
    b"!lst|meta|d|", b"!lst|claim|", b"!st|meta|", b"!st|mem|", b"!st|meta|d|",
    b"!zs|meta|", b"!zs|mem|", b"!zs|scr|", b"!zs|meta|d|",
    b"!stream|meta|", b"!stream|entry|",
    b"!ddb|meta|table|", b"!ddb|meta|gen|", b"!ddb|item|", b"!ddb|gsi|",
    b"!s3|bucket|meta|", b"!s3|obj|head|", b"!s3|blob|", b"!s3|chunkref|",
    b"!s3|chunkblob|", b"!s3|upload|meta|", b"!s3|upload|part|",
    b"!s3|bucket|gen|", b"!s3|gc|upload|", b"!s3route|",
    b"!sqs|queue|meta|", b"!sqs|queue|gen|", b"!sqs|msg|data|",
    b"!sqs|queue|seq|", b"!sqs|queue|tombstone|", b"!sqs|msg|vis|",
    b"!sqs|msg|byage|", b"!sqs|msg|dedup|", b"!sqs|msg|group|",
    b"!txn|", b"!dist|", b"!encryption|",
]
UNKNOWN_PREFIXES = [
    b"!redis|hash|", b"!redis|set|", b"!redis|stream|", b"!redis|", b"!ddb|",
    b"!s3|", b"!sqs|", b"!unknown|", b"", b"x", b"_meta_last_commit_ts",
    b"!hs|", b"!zs|", b"!REDIS|str|",
]


def prefix_of(key: bytes) -> bytes:
    best = b""
    for p in PREFIXES:
        if key.startswith(p) and len(p) > len(best):
            best = p
    return best


def legacy_records(rng: random.Random) -> list:
    """Hand-made records in encodings the encoder never writes."""
    uk = rng.choice([b"k", b"legacy", b"d|x", b"", b"\xff\xfe", b"a/b", b"%41"])
    ttl = rng.choice([0, 1, 1760000000000, (1 << 63) - 1, 1 << 63, M64])
    sketch = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12)))
    member = rng.choice([b"m", b"", b"\xff", "é".encode()])
    score = rng.choice([0.0, -0.0, 1.5, float("inf"), float("-inf"), 1e21, 5e-324])
    choices = [
        # legacy string: no FF 01 envelope
        [(b"!redis|str|" + uk, rng.choice([b"plain", b"", b"\xff", b"\xff\x02ab"]))],
        # new-format string with TTL flag and short/long TTL section
        [(b"!redis|str|" + uk, b"\xff\x01\x01" + struct.pack(">Q", ttl) + b"v")],
        [(b"!redis|str|" + uk, b"\xff\x01" + rng.choice([b"", b"\x01", b"\x01abc", b"\x02v", b"\xfe"]))],
        # HLL with the envelope (encoder only writes it with a TTL)
        [(b"!redis|hll|" + uk, b"\xff\x02" + rng.choice([b"\x00", b"\x01" + struct.pack(">Q", ttl), b""]) + sketch)],
        [(b"!redis|hll|" + uk, sketch)],
        # TTL index rows, for strings (legacy) and collections
        [(b"!redis|str|" + uk, b"legacy"), (b"!redis|ttl|" + uk, struct.pack(">Q", ttl))],
        [(b"!redis|ttl|" + uk, rng.choice([struct.pack(">Q", ttl), b"\x00" * 7, b"\x00" * 9]))],
        # legacy zset blob
        [(b"!redis|zset|" + uk, b"\x00RZ\x01" + pb_bytes(1, pb_bytes(1, member) + pb_double(2, score)))],
        [(b"!redis|zset|" + uk, rng.choice([b"\x00RZ\x01", b"\x00RZ\x02", b"junk", b"\x00RZ\x01\x0a\x05"]))],
        # count metas 8 (legacy) / 16 bytes, and a delta that must be skipped
        [(b"!hs|meta|" + len4(uk), struct.pack(">Q", 1)), (b"!hs|fld|" + len4(uk) + b"f", b"v")],
        [(b"!hs|meta|" + len4(uk), struct.pack(">QQ", 1, ttl)), (b"!hs|fld|" + len4(uk) + b"f", b"v")],
        [(b"!hs|meta|d|" + len4(uk) + struct.pack(">QI", 5, 0), struct.pack(">Q", 1))],
        [(b"!st|meta|" + len4(uk), struct.pack(">Q", 1)), (b"!st|mem|" + len4(uk) + member, rng.choice([b"", b"junk"]))],
        [(b"!zs|meta|" + len4(uk), struct.pack(">QQ", 1, ttl)), (b"!zs|mem|" + len4(uk) + member, struct.pack(">d", score))],
        [(b"!zs|mem|" + len4(uk) + member, rng.choice([b"", b"\x00" * 7, b"\x00" * 9]))],
        # list metas 24 (legacy) / 32 bytes, items with arbitrary seqs
        [(b"!lst|meta|" + uk, struct.pack(">qqQ", 0, 2, 2)),
         (b"!lst|itm|" + uk + struct.pack(">Q", 0 ^ (1 << 63)), b"a"),
         (b"!lst|itm|" + uk + struct.pack(">Q", (rng.choice([1, -1, 7]) & M64) ^ (1 << 63)), b"b")],
        [(b"!lst|meta|" + uk, struct.pack(">qqQQ", -1, 0, 1, ttl)),
         (b"!lst|itm|" + uk + struct.pack(">Q", (-1 & M64) ^ (1 << 63)), b"x")],
        [(b"!lst|meta|" + uk, rng.choice([b"", b"\x00" * 23, b"\x00" * 40]))],
        # stream metas 24/32/48 bytes
        [(b"!stream|meta|" + len4(uk), struct.pack(">QQQ", 1, 5, 0) + rng.choice([b"", struct.pack(">Q", ttl), struct.pack(">QQQ", ttl, 1, 0)])),
         (b"!stream|entry|" + len4(uk) + struct.pack(">QQ", 5, 0),
          b"\x00RXE\x01" + pb_bytes(1, b"5-0") + pb_bytes(2, b"f") + pb_bytes(2, member))],
        [(b"!stream|entry|" + len4(uk) + struct.pack(">QQ", 1, 2),
          rng.choice([b"\x00RXE\x01", b"\x00RXE\x01" + pb_bytes(2, b"odd"), b"RXE", b"\x00RXE\x01\x12\x01\xff"]))],
        # DynamoDB generation counters with unusual text
        [(b"!ddb|meta|gen|dA", rng.choice([b"1", b" 2 ", b"", b"x", b"18446744073709551616"]))],
        # SQS side records
        [(b"!sqs|queue|seq|" + uk, b"1"), (b"!sqs|msg|vis|" + uk, b"")],
    ]
    return rng.choice(choices)


CONTAINER_NAMES = [b".", b"..", b"", b"a/b", b"x\x00y", "\u00e9".encode(), b"%41", b"b64.x",
                   b"x" * 241, b"\xff", b"_schema.json", b"items", b".scratch", b"KEYMAP.jsonl"]


def rename_container(s, rng):
    """Rename one DynamoDB table or S3 bucket everywhere in the stream."""
    import base64
    ddb = sorted({e.key[len(b"!ddb|meta|table|"):] for e in s.entries if e.key.startswith(b"!ddb|meta|table|")})
    s3 = sorted({e.key[len(b"!s3|bucket|meta|"):] for e in s.entries if e.key.startswith(b"!s3|bucket|meta|")})
    new = rng.choice(CONTAINER_NAMES)
    out = []
    if ddb and (not s3 or rng.random() < 0.5):
        old = rng.choice(ddb)
        nb64 = base64.urlsafe_b64encode(new).rstrip(b"=")
        oldname = base64.urlsafe_b64decode(old + b"=" * (-len(old) % 4))
        for e in s.entries:
            k, body = e.key, e.body
            for p in (b"!ddb|meta|table|", b"!ddb|meta|gen|"):
                if k == p + old:
                    k = p + nb64
            for p in (b"!ddb|item|", b"!ddb|gsi|"):
                if k.startswith(p + old + b"|"):
                    k = p + nb64 + k[len(p + old):]
            if body.startswith(b"!ddb|item|" + old + b"|"):
                body = b"!ddb|item|" + nb64 + body[len(b"!ddb|item|" + old):]
            if e.key.startswith(b"!ddb|meta|table|") and body[4:5] == b"\x0a" and body[6:6 + body[5]] == oldname:
                body = body[:4] + pb_bytes(1, new) + body[6 + body[5]:]
            out.append(replace(e, key=k, body=body))
    elif s3:
        old = rng.choice(s3)
        name = old[:-2].replace(b"\x00\xff", b"\x00")
        seg = new.replace(b"\x00", b"\x00\xff") + b"\x00\x01"
        for e in s.entries:
            k, body = e.key, e.body
            p = prefix_of(k)
            if p.startswith((b"!s3|", b"!s3route|")) and k[len(p):].startswith(old):
                k = p + seg + k[len(p) + len(old):]
            if p == b"!s3|bucket|meta|":
                import json as _j
                try:
                    body = body.replace(b'"bucket_name":' + _j.dumps(name.decode()).encode(),
                                        b'"bucket_name":' + _j.dumps(new.decode("utf-8", "replace")).encode())
                except UnicodeDecodeError:
                    pass
            out.append(replace(e, key=k, body=body))
    else:
        return None
    out.sort(key=lambda e: e.key + struct.pack(">Q", ~e.ts & M64))
    return Stream(s.ts, out), new


MUTATIONS = [
    "tombstone-flag", "tombstone-newer", "version-older", "version-newer",
    "unknown-prefix", "internal-prefix", "legacy", "body-bitflip", "body-truncate",
    "body-extend", "key-mutate", "truncate", "frame-bitflip", "reserved-flags",
    "expire-at", "header-ts", "reorder", "duplicate", "len-edit", "empty", "rename-container",
]


def mutate(stream: Stream, rng: random.Random, op: str | None = None):
    """Apply one mutation; returns (stream, op, target index or None)."""
    s = Stream(stream.ts, list(stream.entries))
    op = op or rng.choice(MUTATIONS)
    n = len(s.entries)
    t = rng.randrange(n) if n else None
    if op in ("tombstone-flag", "reserved-flags") and n:
        e = s.entries[t]
        if op == "tombstone-flag":
            f = e.flags | 1
        else:
            f = e.flags | rng.choice([0x02, 0x04, 0x06, 0x08, 0x80, 0x01 | 0x08])
        s.entries[t] = replace(e, flags=f)
    elif op in ("tombstone-newer", "version-older", "version-newer") and n:
        e = s.entries[t]
        other = rng.choice([x for x in s.entries if prefix_of(x.key) == prefix_of(e.key)] or [e])
        if op == "tombstone-newer":
            new = replace(e, ts=e.ts + 1, flags=1, body=rng.choice([b"", e.body]))
            s.entries.insert(t, new)
        elif op == "version-older":
            s.entries.insert(t + 1, replace(e, ts=max(e.ts - rng.randrange(1, 1000), 0), body=other.body))
        else:
            s.entries.insert(t, replace(e, ts=e.ts + rng.randrange(1, 1000), body=other.body))
    elif op in ("unknown-prefix", "internal-prefix", "legacy"):
        if op == "legacy":
            recs = legacy_records(rng)
        else:
            pool = UNKNOWN_PREFIXES if op == "unknown-prefix" else [
                b"!txn|", b"!dist|", b"!encryption|", b"!s3|bucket|gen|",
                b"!s3|gc|upload|", b"!s3route|"]
            recs = [(rng.choice(pool) + rng.choice([b"k", b"", b"\x00\xff"]), rng.choice([b"", b"v", b"\x00" * 8]))]
        ents = [Entry(k, s.ts, v) for k, v in recs]
        pos = rng.randrange(n + 1)
        if rng.random() < 0.7:  # keep the stream sorted like a real snapshot
            allents = sorted(s.entries + ents, key=lambda e: e.key + struct.pack(">Q", ~e.ts & M64))
            s.entries = allents
            t = allents.index(ents[0])
        else:
            s.entries[pos:pos] = ents
            t = pos
    elif op in ("body-bitflip", "body-truncate", "body-extend") and n:
        e = s.entries[t]
        b = bytearray(e.body)
        if op == "body-bitflip" and b:
            for _ in range(rng.choice([1, 1, 2, 3])):
                i = rng.randrange(len(b))
                b[i] ^= 1 << rng.randrange(8)
        elif op == "body-truncate" and b:
            del b[rng.randrange(len(b)) :]
        else:
            b += rng.choice([b"\x00", b"\xff", b"junk", bytes(rng.randrange(256) for _ in range(4))])
        s.entries[t] = replace(e, body=bytes(b))
    elif op == "key-mutate" and n:
        e = s.entries[t]
        k = bytearray(e.key)
        p = len(prefix_of(bytes(k)))
        how = rng.choice(["flip", "cut", "append", "prefix-case"])
        if how == "flip" and len(k) > p:
            i = rng.randrange(p, len(k))
            k[i] ^= 1 << rng.randrange(8)
        elif how == "cut" and len(k) > p:
            del k[rng.randrange(p, len(k)) :]
        elif how == "append":
            k += rng.choice([b"\x00", b"|", b"x", b"\xff\xff"])
        else:
            k = bytearray(bytes(k).upper()) if rng.random() < 0.5 else k[:p] + k[p:]
        s.entries[t] = replace(e, key=bytes(k))
    elif op == "truncate":
        data = s.build()
        s.cut = rng.randrange(0, len(data)) if rng.random() < 0.5 else rng.randrange(max(0, len(data) - 40), len(data))
        t = None
    elif op in ("frame-bitflip", "len-edit") and n:
        e = s.entries[t]
        raw = bytearray(e.frame())
        if op == "frame-bitflip":
            i = rng.randrange(len(raw))
            raw[i] ^= 1 << rng.randrange(8)
        else:
            kl = struct.unpack_from("<Q", raw, 0)[0]
            which = rng.choice([0, 8 + kl])
            cur = struct.unpack_from("<Q", raw, which)[0]
            new = rng.choice([0, 1, 7, 8, 9, cur - 1, cur + 1, 1048584, 1048585,
                              268435499, 268435500, M64, 1 << 63])
            struct.pack_into("<Q", raw, which, new & M64)
        s.entries[t] = replace(e, raw=bytes(raw))
    elif op == "expire-at" and n:
        e = s.entries[t]
        s.entries[t] = replace(e, expire=rng.choice([1, 1760000000000, M64]))
    elif op == "header-ts":
        s.ts = rng.choice([0, 1, s.ts - 1, s.ts + 1, M64, 1 << 63])
        t = None
    elif op == "reorder" and n >= 2:
        i, j = rng.sample(range(n), 2)
        s.entries[i], s.entries[j] = s.entries[j], s.entries[i]
        t = i
    elif op == "duplicate" and n:
        s.entries.insert(t, s.entries[t])
    elif op == "rename-container":
        r = rename_container(s, rng)
        if r is None:
            return mutate(stream, rng, "legacy")
        s, new = r
        return s, f"rename-container:{new!r}", None
    elif op == "empty":
        s.entries = []
        if rng.random() < 0.5:
            s.cut = rng.choice([0, 4, 8, 12, 16])
        t = None
    else:
        return mutate(stream, rng, "legacy")
    return s, op, t
