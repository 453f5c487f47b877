"""Mutations of canonical dump trees: JSON members, values, names, files."""

from __future__ import annotations

import os
import random
import shutil

import gjson

# --- value pools ----------------------------------------------------------

TYPE_SWAPS = [
    ("n", "0"), ("n", "1"), ("n", "-1"), ("n", "1.5"), ("n", "1e3"),
    ("s", '"x"'), ("s", '""'), ("s", '"1"'), ("l", "true"), ("l", "false"),
    ("a", []), ("o", []), ("a", [("n", "1")]), ("o", [('"a"', ("n", "1"))]), ("n", "1e309"),
]

NUM_LIMITS = [
    "0", "-0", "1.0", "1e0", "1E+2", "4294967295", "4294967296",
    "9223372036854775807", "9223372036854775808", "18446744073709551615",
    "18446744073709551616", "-1", "-9223372036854775808", "-9223372036854775809",
    "1e309", "-1e309", "5e-324", "1e-400", "0.1", "2.5e-7", "1e21",
    "1.7976931348623157e308", "123456789012345678901234567890",
    "1" + "0" * 400, "0.00000000000000000000000000001",
]

TIMES = [
    "2026-06-01T00:00:00Z", "2026-06-01T0:00:00Z", "2026-06-01T00:00:00+24:00",
    "2026-06-01T00:00:00+23:60", "2026-06-01t00:00:00z", "2026-06-01T00:00:00.1234567890Z",
    "2026-06-01T24:00:00Z", "2026-06-01T00:00:60Z", "0000-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z", "2026-06-01T00:00:00-00:00", "2026-06-01 00:00:00Z",
    "2026-06-01T00:00:00.Z", "2026-06-01T00:00:00,5Z", "2026-6-1T00:00:00Z",
    "2026-06-01T00:00Z", "2026-06-01T00:00:00+0100", "2026-06-01T00:00:00 Z",
    "+2026-06-01T00:00:00Z", "10000-01-01T00:00:00Z", "2026-06-01T00:00:00.000000000000000000001Z",
    "2026-06-01T00:00:00+01", "2026-06-01T00:00:00+1:00", "2026-06-01T1:2:3Z",
    "2026-06-01T00:00:00.5+05:30", "9999-12-31T23:59:59.999999999Z", "2026-06-01T00:00:00Z ",
    " 2026-06-01T00:00:00Z", "2026-06-01T00:00:00+99:99", "2026-13-01T00:00:00Z",
    "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2026-06-01T00:00:00.-1Z",
]

DDB_N = [
    "0", "-0", "0e99999999", "1E+2", ".5", "5.", " 1 ", "1e 5", "1 e5", "+1", "-1e-999",
    "1" * 40, "0x10", "1_0", "9" * 60 + "e-100", "1e400", "-1e400", "1e9223372036854775807",
    "1e-9223372036854775808", "1e9223372036854775808", "00012.5000", "1e1000", "1e100000",
    "", "e3", "1.2.3", "+", "-", "NaN", "Infinity", "1e+0", "\u00a01", "0.000",
    "1" + "0" * 38, "1" + "0" * 39, "1e125", "1e126", "1e-130", "1e-131",
    "1e300000", "-1e-300000", "9" * 3000,
]

KEY_VALUES = {
    "wall_time_iso": TIMES,
    "last_modified": TIMES,
    "N": DDB_N,
    "phase": ["phase0-snapshot-decode", "phase1-live-pinned", "PHASE0-SNAPSHOT-DECODE", "", "phase0"],
    "dynamodb_layout": ["per-item", "jsonl", "PER-ITEM", "", "per_item"],
    "type": ["S", "N", "B", "BOOL", "X", "s", "", "ALL", "KEYS_ONLY", "INCLUDE"],
    "checksum_algorithm": ["", "md5", "sha256"],
    "format_version": ["1", "0", "2", "1.0", '"1"', "null", "-1", "4294967297"],
    "key_segment_max_bytes": ["0", "1", "240", "-1", "4294967296", "null"],
    "id": ['"1-0"', '"01-0"', '"1-01"', '"0-0"', '"18446744073709551615-18446744073709551615"',
           '"18446744073709551616-0"', '"1"', '"-1-0"', '"1-0-0"', '""', '"1-"'],
    "score": ['"+inf"', '"-inf"', '"inf"', '"+Inf"', '"nan"', "1e309", "-0", "0", "1e21", "5e-324", '"1"'],
    "expire_at_ms": ["0", "null", "1", "9223372036854775807", "9223372036854775808",
                     "18446744073709551615", "18446744073709551616", "-1"],
    "base64": ['""', '"AA"', '"AA=="', '"A"', '"_w"', '"_x"', '"+/"', '"A\\nA"', '"QR"', '"A A"'],
    "body": ['""', '{"base64":""}', '{"base64":"AA"}', '{"base64":"A"}', '"\\u0000"', '{"BASE64":"AA"}'],
    "size_bytes": ["0", "-1", "1.0", "1e3", "18446744073709551615", "null"],
    "etag": ['""', '"\\"x\\""', '"x"', 'null'],
    "partition_count": ["0", "1", "2", "3", "32", "33", "4294967296", "null"],
    "message_group_id": ['""', '"g"', 'null'],
    "fifo_throughput_limit": ['"perMessageGroupId"', '"perQueue"', '""', '"PERQUEUE"'],
    "deduplication_scope": ['"messageGroup"', '"queue"', '""'],
    "_meta": ["true", "false", "null", "1", '"true"'],
    "DataType": ['"String"', '"Number"', '"Binary"', '"string"', '"String.custom"', '""', "null"],
    "BinaryValue": ['"AA=="', '"AA"', '"_w"', '""', "null"],
    "StringValue": ['""', "null", '"x"'],
    "content_type": ['""', "null", '"text/plain"'],
    "user_metadata": ["{}", "null", '{"A":"b"}', '{"a":"b","a":"c"}', '{"a":1}'],
}


def string_variants(raw: str) -> list:
    try:
        cur = gjson.key_text(raw)
    except Exception:
        cur = "x"
    return [
        '""', '"\\u0000"', '"\\ud800"', '"\\udc00\\ud800"', '"\\ud83d\\ude00"', '"\udcff"',
        '"\udce2\udc82A"', '"é"', '"\\u00e9"', '"\u2028"', '"<&>"', '"a/b"', '"\\/"',
        '"  x  "', '"' + "X" * 300 + '"', '"%41"', '"."', '".."', '"\\t"',
        gjson.string(cur.upper())[1], gjson.string(cur + " ")[1], gjson.string(" " + cur)[1],
        gjson.string(cur + "\u0301")[1], _escape_ascii(raw),
    ]


def _escape_ascii(raw: str) -> str:
    """The same string with its plain ASCII letters written as \\u escapes."""
    out, i = [], 0
    body = raw[1:-1]
    while i < len(body):
        c = body[i]
        if c == "\\":
            out.append(body[i : i + 2])
            i += 2
            continue
        out.append(f"\\u{ord(c):04x}" if c.isascii() and c.isalnum() else c)
        i += 1
    return '"' + "".join(out) + '"'


def parse_value(text: str):
    return gjson.parse(gjson.to_bytes(text))


# --- JSON mutations ---------------------------------------------------------

JSON_OPS = [
    "reformat", "dup-null-after", "dup-null-before", "dup-typeerr-then-valid",
    "dup-valid-then-typeerr", "dup-same", "dup-splice-before", "dup-object-merge",
    "type-swap", "case-key", "case-dup", "remove-member", "unknown-member",
    "num-limit", "str-variant", "field-value", "null-value", "bom", "deep-nest",
    "trailing", "array-edit", "escape-key",
]


def _members(node):
    """Every (path, object node) that has members."""
    return [(p, n) for p, n in gjson.paths(node) if n[0] == "o" and n[1]]


def _with_members(node, path, members):
    return gjson.replace(node, path, ("o", members))


def _other_type(rng, like):
    cands = [v for v in TYPE_SWAPS if v[0] != like[0]]
    return rng.choice(cands)


def mutate_json(data: bytes, rng: random.Random, field_pool: dict, op: str | None = None):
    """Mutate one JSON text. Returns (bytes, op, field description)."""
    try:
        root = gjson.parse(data)
    except gjson.ParseError:
        return data + b" ", "reformat", "<unparsed>"
    trail = data[len(data.rstrip()):]
    op = op or rng.choice(JSON_OPS)
    objs = _members(root)
    field = "<root>"
    style = _style_like(data)

    def done(node, st=None):
        return gjson.to_bytes(gjson.dump(node, st or style)) + trail, op, field

    if op == "reformat":
        return done(root, _random_style(rng))
    if op == "bom":
        return b"\xef\xbb\xbf" + data, op, field
    if op == "trailing":
        extra = rng.choice([b" ", b"\n\n", b"\t\r\n", b"x", b"{}", b"null", b",", b"\x00", b"/* */", b"\n{}"])
        return data + extra, op, repr(extra)
    if op == "deep-nest":
        depth = rng.choice([10, 100, 9999, 10001, 20000])
        nest = ("n", "[" * depth + "1" + "]" * depth)
        if objs:
            p, o = rng.choice(objs)
            mem = list(o[1])
            where = rng.randrange(len(mem) + 1)
            mem.insert(where, ('"deep_unknown_' + str(depth) + '"', nest))
            field = gjson.describe(root, p) + f".deep_unknown_{depth}"
            return done(_with_members(root, p, mem))
        return done(("a", [root, nest]))
    if op == "array-edit":
        arrs = [(p, n) for p, n in gjson.paths(root) if n[0] == "a"]
        if not arrs:
            return mutate_json(data, rng, field_pool, "type-swap")
        p, a = rng.choice(arrs)
        items = list(a[1])
        how = rng.choice(["dup", "drop", "swap", "empty", "null"])
        field = gjson.describe(root, p) + ":" + how
        if how == "dup" and items:
            i = rng.randrange(len(items))
            items.insert(i, items[i])
        elif how == "drop" and items:
            del items[rng.randrange(len(items))]
        elif how == "swap" and len(items) >= 2:
            i, j = rng.sample(range(len(items)), 2)
            items[i], items[j] = items[j], items[i]
        elif how == "null":
            return done(gjson.replace(root, p, ("l", "null")))
        else:
            items = []
        return done(gjson.replace(root, p, ("a", items)))
    if not objs:
        return mutate_json(data, rng, field_pool, "reformat")
    p, o = rng.choice(objs)
    mem = list(o[1])
    i = rng.randrange(len(mem))
    k, v = mem[i]
    field = gjson.describe(root, p + (i,))
    kt = gjson.key_text(k)

    if op == "dup-null-after":
        mem.insert(i + 1, (k, ("l", "null")))
    elif op == "dup-null-before":
        mem.insert(i, (k, ("l", "null")))
    elif op == "dup-typeerr-then-valid":
        mem.insert(i, (k, _other_type(rng, v)))
    elif op == "dup-valid-then-typeerr":
        mem.insert(i + 1, (k, _other_type(rng, v)))
    elif op == "dup-same":
        mem.insert(i + 1, (k, v))
    elif op == "dup-splice-before":
        alts = field_pool.get(kt) or [v]
        mem.insert(i, (k, parse_value(rng.choice(alts))))
    elif op == "dup-object-merge":
        objv = [(j, kv) for j, kv in enumerate(mem) if kv[1][0] == "o" and len(kv[1][1]) >= 1]
        if not objv:
            return mutate_json(data, rng, field_pool, "dup-null-after")
        j, (k, v) = rng.choice(objv)
        field = gjson.describe(root, p + (j,))
        sub = list(v[1])
        cut = rng.randrange(len(sub) + 1)
        mem[j : j + 1] = [(k, ("o", sub[:cut])), (k, ("o", sub[cut:]))]
    elif op == "type-swap":
        mem[i] = (k, _other_type(rng, v))
    elif op == "case-key":
        mem[i] = (_recase(rng, k), v)
    elif op == "case-dup":
        if rng.random() < 0.5:
            mem.insert(i, (_recase(rng, k), _other_type(rng, v) if rng.random() < 0.5 else v))
        else:
            mem.insert(i + 1, (_recase(rng, k), _other_type(rng, v) if rng.random() < 0.5 else v))
    elif op == "remove-member":
        del mem[i]
    elif op == "unknown-member":
        val = rng.choice(TYPE_SWAPS + [("l", "null")])
        mem.insert(rng.randrange(len(mem) + 1), ('"' + rng.choice(["extra", "x_unknown", "_", ""]) + '"', val))
    elif op == "num-limit":
        nums = [(q, n) for q, n in gjson.paths(root) if n[0] == "n"]
        if not nums:
            return mutate_json(data, rng, field_pool, "type-swap")
        q, _ = rng.choice(nums)
        field = gjson.describe(root, q)
        return done(gjson.replace(root, q, ("n", rng.choice(NUM_LIMITS))))
    elif op == "str-variant":
        strs = [(q, n) for q, n in gjson.paths(root) if n[0] == "s"]
        if not strs:
            return mutate_json(data, rng, field_pool, "type-swap")
        q, s = rng.choice(strs)
        field = gjson.describe(root, q)
        return done(gjson.replace(root, q, ("s", rng.choice(string_variants(s[1])))))
    elif op == "field-value":
        cands = [(q, n) for q, n in gjson.paths(root) if q and _last_key(root, q) in KEY_VALUES]
        if not cands:
            return mutate_json(data, rng, field_pool, "dup-splice-before")
        q, _ = rng.choice(cands)
        kk = _last_key(root, q)
        field = gjson.describe(root, q)
        vals = KEY_VALUES[kk]
        val = rng.choice(vals)
        if kk in ("wall_time_iso", "last_modified", "N", "phase", "dynamodb_layout", "type", "checksum_algorithm"):
            node = gjson.string(val)
        else:
            node = parse_value(val)
        if rng.random() < 0.25:  # the same value as a repeated member
            parent = q[:-1]
            pm = list(gjson.get(root, parent)[1]) if parent or root[0] == "o" else None
            if pm is not None and gjson.get(root, parent)[0] == "o":
                idx = q[-1]
                pm.insert(idx + 1, (pm[idx][0], node))
                op = "field-value-dup"
                return done(_with_members(root, parent, pm))
        return done(gjson.replace(root, q, node))
    elif op == "null-value":
        mem[i] = (k, ("l", "null"))
    elif op == "escape-key":
        mem[i] = (_escape_ascii(k), v)
    return done(_with_members(root, p, mem))


def _last_key(root, path):
    parent = gjson.get(root, path[:-1])
    if parent[0] != "o":
        return None
    return gjson.key_text(parent[1][path[-1]][0])


def _recase(rng, raw_key):
    t = gjson.key_text(raw_key)
    how = rng.choice(["upper", "title", "swap", "first", "kelvin"])
    if how == "upper":
        n = t.upper()
    elif how == "title":
        n = t.title()
    elif how == "swap":
        n = t.swapcase()
    elif how == "kelvin" and "k" in t:
        n = t.replace("k", "\u212a", 1)  # Kelvin sign folds to k in Go
    elif how == "kelvin" and "s" in t:
        n = t.replace("s", "\u017f", 1)  # long s folds to s in Go
    else:
        n = t[:1].upper() + t[1:]
    return gjson.string(n)[1]


def _style_like(data: bytes):
    return gjson.Style.go_indent() if b"\n  " in data else gjson.Style.compact()


def _random_style(rng):
    ind = rng.choice([None, " ", "  ", "\t", "    "])
    return gjson.Style(
        indent=ind,
        colon=rng.choice([":", ": ", " : ", ":\t"]),
        comma=rng.choice([",", ", ", " ,", ",\r\n"]) if ind is None else ",",
        newline=rng.choice(["\n", "\r\n"]),
        pad=rng.choice(["", " ", "\n"]),
    )


# --- tree-level operations -------------------------------------------------

def file_kind(rel: str) -> str:
    parts = rel.split("/")
    name = parts[-1]
    if rel == "MANIFEST.json":
        return "manifest"
    if rel == "CHECKSUMS":
        return "checksums"
    top = parts[0]
    if top == "redis":
        if name == "KEYMAP.jsonl":
            return "redis-keymap"
        if name in ("strings_ttl.jsonl", "hll_ttl.jsonl"):
            return "redis-ttl"
        if len(parts) >= 4:
            return "redis-" + parts[2].rstrip("s")
        return "redis-other"
    if top == "dynamodb":
        if name == "_schema.json":
            return "ddb-schema"
        if "items" in parts:
            return "ddb-item"
        return "ddb-other"
    if top == "s3":
        if name == "_bucket.json":
            return "s3-bucket"
        if name == "KEYMAP.jsonl":
            return "s3-keymap"
        if name.endswith(".elastickv-meta.json"):
            return "s3-meta"
        return "s3-body"
    if top == "sqs":
        if name == "_queue.json":
            return "sqs-queue"
        if name == "messages.jsonl":
            return "sqs-messages"
        return "sqs-other"
    return "other"


def is_jsonish(kind: str) -> bool:
    return kind not in ("s3-body", "redis-string", "redis-hll", "checksums", "other")


def mutate_file(path: str, kind: str, rng: random.Random, field_pool: dict, op=None):
    data = open(path, "rb").read()
    if path.endswith(".jsonl"):
        lines = data.split(b"\n")
        body = [i for i, l in enumerate(lines) if l.strip()]
        line_op = rng.random()
        if line_op < 0.12 and body:
            how = rng.choice(["blank", "dup", "drop", "crlf", "nofinalnl", "swap"])
            if how == "blank":
                lines.insert(rng.choice(body) + 1, b"")
            elif how == "dup":
                i = rng.choice(body)
                lines.insert(i, lines[i])
            elif how == "drop":
                del lines[rng.choice(body)]
            elif how == "crlf":
                lines = [l + b"\r" if l else l for l in lines]
            elif how == "swap" and len(body) >= 2:
                i, j = rng.sample(body, 2)
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines = lines[:-1] if lines and lines[-1] == b"" else lines
            out = b"\n".join(lines)
            open(path, "wb").write(out)
            return "jsonl-" + how, "<lines>"
        if not body:
            open(path, "wb").write(data + b"\n")
            return "jsonl-append", "<lines>"
        i = rng.choice(body)
        t = targeted(lines[i], kind, rng) if op is None and rng.random() < 0.4 else None
        new, op, field = t or mutate_json(lines[i], rng, field_pool, op)
        lines[i] = new
        open(path, "wb").write(b"\n".join(lines))
        return op, f"line{i}:{field}"
    if is_jsonish(kind) or path.endswith(".json"):
        t = targeted(data, kind, rng) if op is None and rng.random() < 0.4 else None
        new, op, field = t or mutate_json(data, rng, field_pool, op)
        open(path, "wb").write(new)
        return op, field
    # opaque bytes
    b = bytearray(data)
    how = rng.choice(["empty", "append", "flip", "cut"])
    if how == "empty":
        b = bytearray()
    elif how == "append":
        b += b"\xff"
    elif how == "flip" and b:
        b[rng.randrange(len(b))] ^= 0x20
    elif b:
        del b[rng.randrange(len(b)) :]
    open(path, "wb").write(bytes(b))
    return "bytes-" + how, "<bytes>"


NAME_OPS = ["rename", "stray-file", "stray-dir", "delete", "symlink", "redis-db-dir"]


def weird_name(rng, name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    dot = "." if ext else ""
    cands = [
        stem.lower() + dot + ext, stem.upper() + dot + ext, stem + dot + ext.upper(),
        stem.replace("%3A", "%3a").replace("%2F", "%2f") + dot + ext,
        "%" + format(ord(stem[0]), "02X") + stem[1:] + dot + ext if stem else "%41" + dot + ext,
        "%" + format(ord(stem[0]), "02x") + stem[1:] + dot + ext if stem else "%61" + dot + ext,
        stem + "é" + dot + ext, stem + "%C3%A9" + dot + ext, stem + "%FF" + dot + ext,
        "0123456789abcdef0123456789abcdef__" + stem + dot + ext,
        "0123456789ABCDEF0123456789ABCDEF__" + stem + dot + ext,
        "b64." + stem + dot + ext, "b64.AA" + dot + ext, "b64." + dot + ext,
        "x" * 241 + dot + ext, "%41" * 80 + dot + ext, "." + stem + dot + ext,
        "" + dot + ext, ".." + dot + ext, stem + "%2F" + dot + ext, stem + "%00" + dot + ext,
        stem + "\n" + dot + ext, stem + "\\" + dot + ext, stem + " " + dot + ext,
        stem + "%" + dot + ext, stem + "%G1" + dot + ext, stem + "~" + dot + ext,
        stem + "%7E" + dot + ext, stem, stem + dot + ext + ".bak",
        stem + ".elastickv-meta.json", stem + ".elastickv-leaf-data",
        stem + dot + ext + ".elastickv-meta.json",
    ]
    return rng.choice([c for c in cands if c and "/" not in c] or ["x"])


def name_op(root: str, rng: random.Random, files: list, op=None):
    """Rename/add/delete one entry. Returns (op, detail, kind)."""
    op = op or rng.choice(NAME_OPS)
    rel = rng.choice(files)
    kind = file_kind(rel)
    path = os.path.join(root, rel)
    d = os.path.dirname(path)
    if op == "rename":
        new = weird_name(rng, os.path.basename(rel))
        dst = os.path.join(d, new)
        if os.path.lexists(dst):
            return "noop", rel, kind
        os.rename(path, dst)
        return op, f"{rel} -> {new!r}", kind
    if op == "stray-file":
        name = rng.choice(["README", ".DS_Store", "x.json", "x.bin", "x.jsonl", "_x.json", "x.tmp", "KEYMAP.jsonl"])
        dst = os.path.join(d, name)
        if os.path.lexists(dst):
            return "noop", rel, kind
        open(dst, "wb").write(rng.choice([b"", b"{}", b"x", b"{\"format_version\":1}"]))
        return op, os.path.relpath(dst, root), kind
    if op == "stray-dir":
        name = rng.choice(["empty", "x", ".hidden", "items", "sub"])
        dst = os.path.join(d, name)
        if os.path.lexists(dst):
            return "noop", rel, kind
        os.mkdir(dst)
        return op, os.path.relpath(dst, root), kind
    if op == "delete":
        os.remove(path)
        return op, rel, kind
    if op == "symlink":
        dst = path + ".lnk" if rng.random() < 0.5 else path
        if dst == path:
            data = open(path, "rb").read()
            os.remove(path)
            tgt = os.path.join(os.path.dirname(root), "symlink-target-" + os.path.basename(root))
            open(tgt, "wb").write(data)
            os.symlink(tgt, path)
        else:
            os.symlink(os.path.basename(path), dst)
        return op, rel, kind
    if op == "redis-db-dir":
        name = rng.choice(["db_01", "db_1", "db_+0", "db_", "db_x", "DB_0", "db_-0"])
        dst = os.path.join(root, "redis", name)
        if os.path.lexists(dst):
            return "noop", rel, "redis-other"
        os.makedirs(dst)
        if rng.random() < 0.5:
            os.makedirs(os.path.join(dst, "strings"))
            open(os.path.join(dst, "strings", "k.bin"), "wb").write(b"v")
        return op, name, "redis-other"
    return "noop", rel, kind


def copytree(src, dst):
    shutil.copytree(src, dst, symlinks=True)


# --- targeted mutations: the Redis/SQS binary envelope, DynamoDB attribute values ------

ENV_KEYS = {"name", "value", "member", "items", "members", "body", "fields"}
ENVELOPES = [
    '{"base64":"%s"}', '{"base64":5,"base64":"%s"}', '{"base64":"%s","base64":null}',
    '{"base64":null,"base64":"%s"}', '{"Base64":"%s"}', '{"BASE64":"%s"}', '{"base64":"%s","extra":1}',
    '{}', '{"base64":null}', '{"base64":""}', '{"base64":"%s=="}', '{"base64":"%s\\n"}',
    '{"base64":"%s","base64":"QQ"}', '{"base64":{"a":1},"base64":"%s"}', '{"base64":["x"],"base64":"%s"}',
    '["x"]', '5', 'true', 'null', '{"base64":"%s","Base64":"QQ"}', '{"ba\u017fe64":"%s"}', '{"base64":true}',
    '{"base64":"%s"} ', '{"base64" : "%s" }', '{"base64":"\\u0041A"}', '{"base64":1e309,"base64":"%s"}',
]
ATTR_VARIANTS = [
    '{"%T":%v,"%T":null}', '{"%T":null,"%T":%v}', '{"%T":1,"%T":%v}', '{"%t":%v}', '{"%T":%v,"N":"1"}',
    '{}', '{"NULL":true}', '{"NULL":false}', '{"BOOL":"true"}', '{"BOOL":1}', '{"N":"1e309"}', '{"N":1}',
    '{"N":"1e1000"}', '{"B":"AA=="}', '{"B":"AA"}', '{"B":"A"}', '{"B":"_w"}', '{"SS":[]}',
    '{"SS":["a","a"]}', '{"NS":["1","1.0"]}', '{"BS":["AA"]}', '{"L":null}', '{"L":[]}', '{"M":{}}',
    '{"M":null}', '{"M":{"a":{"S":"x"},"a":{"N":"1"}}}', '{"%T":%v,"%T":{"M":{}}}', '{"S":"x","S":1e309}',
    '{"%T":1e309,"%T":%v}', '{"%T":%v,"%T":[]}', '{"%T":[],"%T":%v}', '{"%T":%v,"%T":%v}',
    '{"NS":["1","01"]}', '{"NS":["1e1000"]}', '{"SS":null}', '{"SS":["a",null]}', '{"NULL":null,"NULL":true}',
]
ITEM_DUPS = ['1e309', 'null', '{"S":1}', '"x"', '{"S":"b"}', '{"N":"1e309"}', '[]']


def _b64url(raw: str) -> str:
    import base64
    try:
        b = gjson.key_text(raw).encode("utf-8", "surrogatepass")
    except Exception:
        b = b"x"
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _parent_key(root, path):
    """The member name this node sits under (array items inherit it)."""
    while path:
        parent = gjson.get(root, path[:-1])
        if parent[0] == "o":
            return gjson.key_text(parent[1][path[-1]][0])
        path = path[:-1]
    return None


def targeted(data: bytes, kind: str, rng: random.Random):
    try:
        root = gjson.parse(data)
    except gjson.ParseError:
        return None
    trail = data[len(data.rstrip()):]
    style = _style_like(data)
    if kind.startswith("redis-") or kind == "sqs-messages":
        cands = [(p, n) for p, n in gjson.paths(root)
                 if p and (n[0] == "s" or (n[0] == "o" and n[1] and gjson.key_text(n[1][0][0]) == "base64"))
                 and _parent_key(root, p) in ENV_KEYS]
        if not cands:
            return None
        p, n = rng.choice(cands)
        raw = n[1] if n[0] == "s" else n[1][0][1][1]
        b64 = _b64url(raw) if n[0] == "s" else gjson.key_text(raw)
        tmpl = rng.choice(ENVELOPES)
        text = tmpl.replace("%s", b64)
        new = gjson.replace(root, p, parse_value(text))
        return gjson.to_bytes(gjson.dump(new, style)) + trail, "envelope:" + tmpl, gjson.describe(root, p)
    if kind == "ddb-item":
        attrs = [(p, n) for p, n in gjson.paths(root)
                 if p and n[0] == "o" and len(n[1]) == 1 and len(gjson.key_text(n[1][0][0])) <= 4
                 and gjson.key_text(n[1][0][0]).isupper()]
        if root[0] == "o" and root[1] and rng.random() < 0.3:
            mem = list(root[1])
            i = rng.randrange(len(mem))
            val = rng.choice(ITEM_DUPS)
            before = rng.random() < 0.6
            mem.insert(i if before else i + 1, (mem[i][0], parse_value(val)))
            new = ("o", mem)
            op = f"item-dup-{'before' if before else 'after'}:{val}"
            return gjson.to_bytes(gjson.dump(new, style)) + trail, op, gjson.key_text(mem[i][0])
        if not attrs:
            return None
        p, n = rng.choice(attrs)
        t = gjson.key_text(n[1][0][0])
        v = gjson.dump(n[1][0][1])
        tmpl = rng.choice(ATTR_VARIANTS)
        text = tmpl.replace("%T", t).replace("%t", t.lower()).replace("%v", v)
        new = gjson.replace(root, p, parse_value(text))
        return gjson.to_bytes(gjson.dump(new, style)) + trail, "attr:" + tmpl, gjson.describe(root, p)
    return None
