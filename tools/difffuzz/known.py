"""What the fuzzer already knows: documented deliberate differences
(docs/compatibility.md), and divergence classes that have a fixture in
tests/fixtures/upstream/ (each class names its fixture).

A run counts as "known" only when every one of its differences is
explained by some class; otherwise it is "unexplained" and its reproducer
lands in findings/unexplained_*.
"""

from __future__ import annotations


def documented(meta, up, ek, diffs) -> bool:
    """True when the difference is one docs/compatibility.md lists."""
    err = up.stderr
    # DynamoDB jsonl layout: upstream refuses it, ekvplan implements it
    if meta["cmd"] == "encode" and b"JSONL layout not supported" in err and up.rc == 2:
        return bool(diffs)
    return False


CLASSES = []  # (class id, fixture name, description, predicate(meta, up, ek, diff))


def cls(cid, fixture, desc):
    def deco(pred):
        CLASSES.append((cid, fixture, desc, pred))
        return pred
    return deco


def classify(meta, up, ek, diffs):
    """'+'-joined class ids when every diff is explained, else None."""
    ids = []
    for d in diffs:
        hit = None
        for cid, _fixture, _desc, pred in CLASSES:
            try:
                if pred(meta, up, ek, d):
                    hit = cid
                    break
            except Exception:
                continue
        if hit is None:
            return None
        if hit not in ids:
            ids.append(hit)
    return "+".join(sorted(ids)) if ids else None


def describe(key):
    out = []
    for part in key.split("+"):
        for c, fixture, desc, _ in CLASSES:
            if c == part:
                out.append(f"{c}: {desc} (fixture {fixture})")
    return out or None


# --- classes ---------------------------------------------------------------------


@cls("decode-meta-file-mode", "decode-manifest-mode",
     "decode writes MANIFEST.json and CHECKSUMS 0600; upstream creates them 0666 & ~umask (0644)")
def _(meta, up, ek, d):
    kind, detail = d
    return (kind == "tree-mode" and ("MANIFEST.json'" in detail or "CHECKSUMS'" in detail)
            and "0o644 vs 0o600" in detail)


import os  # noqa: E402
import re  # noqa: E402

CLAP_ERR = re.compile(
    rb"unexpected argument|unexpected value|a value is required|cannot be used multiple times|"
    rb"invalid value '|unrecognized|found argument|the argument '"
)


def clap_rejected(ek):
    return ek.rc == 1 and bool(CLAP_ERR.search(ek.stderr))


def flags_op(meta, *prefixes):
    return meta["family"] == "flags" and meta["op"].startswith(prefixes)


@cls("flags-single-dash", "flags-single-dash",
     "Go flag accepts -name value / -name=value / -bool; ekvplan (clap) rejects them (exit 1)")
def _(meta, up, ek, d):
    return flags_op(meta, "single-dash") and clap_rejected(ek)


@cls("flags-bool-value", "flags-bool-value",
     "Go flag accepts --bool=true|1|t|T|TRUE|True|false|0|f|F|FALSE; ekvplan rejects (exit 1)")
def _(meta, up, ek, d):
    return flags_op(meta, "bool-value") and clap_rejected(ek)


@cls("flags-repeated-last-wins", "flags-repeated-last-wins",
     "Go flag lets a repeated flag override the earlier value; ekvplan rejects (exit 1)")
def _(meta, up, ek, d):
    return flags_op(meta, "repeat") and clap_rejected(ek)


@cls("flags-positional-ends-parsing", "flags-trailing-positional",
     "Go flag stops at the first non-flag argument (or --) and ignores the rest; "
     "ekvplan rejects the positional (exit 1)")
def _(meta, up, ek, d):
    return flags_op(meta, "trailing", "bool-positional", "double-dash-end") and clap_rejected(ek)


VALUE_FLAGS = {"input", "output", "adapter", "last-commit-ts", "scratch-root", "cluster-id",
               "dynamodb-bundle-mode"}


def _value_with_dash(argv):
    """Some value-taking flag is followed by an argument that starts with '-'."""
    for a, b in zip(argv, argv[1:]):
        if a.lstrip("-") in VALUE_FLAGS and a.startswith("-") and "=" not in a and b.startswith("-"):
            return True
    return False


@cls("flags-value-with-dash", "flags-value-with-dash",
     "Go flag takes the next argument as a value even when it starts with '-'; ekvplan rejects (exit 1)")
def _(meta, up, ek, d):
    return (meta["family"] == "flags" and clap_rejected(ek)
            and (meta["op"].startswith("value-with-dash") or _value_with_dash(meta.get("argv") or [])))


@cls("flags-help-exit", "flags-help-exit",
     "-h/--help/-help: upstream prints usage and exits 1; ekvplan exits 0")
def _(meta, up, ek, d):
    return flags_op(meta, "help") and up.rc == 1 and b"help requested" in up.stderr and ek.rc == 0


@cls("manifest-dup-null", "manifest-last-commit-ts-dup-null",
     "MANIFEST.json member repeated with a later null: Go keeps the earlier value; "
     "ekvplan treats it as absent (different T, or a required field rejected)")
def _(meta, up, ek, d):
    return meta["family"] == "manifest" and meta["op"] in ("dup-null-after",)


@cls("manifest-dup-type-error", "manifest-phase-dup-type-error",
     "MANIFEST.json member repeated, an earlier copy of the wrong JSON type: Go fails (exit 2) "
     "after decoding everything; ekvplan keeps the last copy and encodes")
def _(meta, up, ek, d):
    return (meta["family"] == "manifest" and up.rc == 2 and ek.rc == 0
            and b"cannot unmarshal" in up.stderr
            and meta["op"] in ("dup-typeerr-then-valid", "case-dup", "dup-splice-before", "field-value-dup"))


@cls("manifest-object-merge", "manifest-adapters-merge",
     "MANIFEST.json object member repeated: Go merges both copies; ekvplan keeps the last")
def _(meta, up, ek, d):
    return meta["family"] == "manifest" and meta["op"] == "dup-object-merge"


@cls("manifest-exact-presence", "manifest-exclusions-case",
     "exclusions flags are looked up exactly upstream (raw map); ekvplan folds case and accepts "
     "INCLUDE_ORPHANS-style keys")
def _(meta, up, ek, d):
    return (meta["family"] == "manifest" and meta["op"] in ("case-key", "case-dup", "escape-key")
            and str(meta.get("field", "")).startswith("exclusions") and up.rc == 2
            and b"missing (cannot infer" in up.stderr)


@cls("manifest-case-fold", "manifest-case-fold",
     "MANIFEST.json struct fields match case-insensitively in Go (exact match preferred, "
     "later case variants overwrite); ekvplan matches differently")
def _(meta, up, ek, d):
    return meta["family"] == "manifest" and meta["op"] in ("case-key", "case-dup")


@cls("manifest-wall-time-parse", "manifest-wall-time-one-digit-hour",
     "wall_time_iso goes through Go time.Parse(RFC3339Nano) with its fallback rules; "
     "ekvplan's parser accepts/rejects a different set")
def _(meta, up, ek, d):
    return (meta["family"] == "manifest" and meta["op"].startswith("field-value")
            and meta.get("field", "").endswith("wall_time_iso"))


def _txt(o):
    t = o.mismatch_txt()
    return t if t is not None else b""


@cls("mismatch-txt-decode-error", "selftest-decode-error-text",
     "self-test decode failure: ekvplan's mismatch.txt embeds 'decode <out>.tmp-<random>: ', "
     "so it differs from upstream's text and between runs")
def _(meta, up, ek, d):
    u, e = _txt(up), _txt(ek)
    return (d[0] == "mismatch-bytes" and u.startswith(b"self-test failed: DecodeSnapshot rejected")
            and b".tmp-" in e and re.sub(rb"decode [^:]*\.tmp-[0-9a-f]{16}: ", b"", e) == u)


@cls("mismatch-txt-raw-bytes", "selftest-mismatch-non-utf8-path",
     "self-test mismatch list: upstream writes path bytes raw; ekvplan replaces invalid UTF-8 with U+FFFD")
def _(meta, up, ek, d):
    u, e = _txt(up), _txt(ek)
    return d[0] == "mismatch-bytes" and u != e and u.decode("utf-8", "replace").encode() == e


@cls("redis-envelope-dup-type-error", "redis-envelope-dup-type-error",
     'Redis binary envelope {"base64":<number>,"base64":".."}: Go records the type error '
     
     "and fails (exit 2); ekvplan keeps the last member")
def _(meta, up, ek, d):
    # with --self-test ekvplan's encode goes on and reports a mismatch (exit 2, sidecar and
    # mismatch.txt left) where upstream fails cleanly
    return (meta["op"].startswith("envelope:") and up.rc == 2 and ek.rc in (0, 2)
            and b"cannot unmarshal" in up.stderr and b".base64 of type string" in up.stderr)


@cls("ddb-item-number-out-of-range", "ddb-item-dup-out-of-range-number",
     "DynamoDB item JSON: Go decodes every number and fails on one out of float64 range (1e309), "
     "even in a member a later copy replaces; ekvplan keeps the last copy")
def _(meta, up, ek, d):
    return (meta["family"] == "dynamodb" and up.rc == 2 and ek.rc in (0, 2)
            and b"cannot unmarshal number" in up.stderr and b"into Go value of type float64" in up.stderr)


@cls("scratch-root-missing", "flags-scratch-root-missing",
     "--scratch-root naming a missing path: upstream fails with --self-test (exit 1) and ignores it "
     "without; ekvplan creates the directory (and leaves it, or fails when it is the output path)")
def _(meta, up, ek, d):
    return meta["family"] == "flags" and meta["op"].startswith(
        ("scratch-root:'missing/scratch'", "scratch-root:'newdir'", "scratch-root:'tmp/sub'",
         "scratch-root:'out.fsm'"))


@cls("sqs-queue-dot", "decode-sqs-queue-dot",
     'SQS queue named ".": upstream writes the queue into sqs/ itself; ekvplan fails creating '
     '"sqs/." (exit 1; with --self-test the encode fails instead of reporting the mismatch)')
def _(meta, up, ek, d):
    return ek.rc == 1 and b"/sqs/.: " in ek.stderr and up.rc in (0, 2)


@cls("dotdot-extra-dir", "decode-ddb-table-dotdot",
     'a DynamoDB table or SQS queue named "..": upstream writes its files at the dump root and no '
     "adapter directory; ekvplan leaves an extra empty dynamodb/ or sqs/")
def _(meta, up, ek, d):
    return (d[0] == "tree-extra" and d[1].rstrip("'").endswith(("out/dynamodb", "out/sqs"))
            and ek.files.get(d[1].split("'")[1], ("",))[0] == "d")


_HUGE_EXP = re.compile(rb"[eE][+]?[0-9]{5,}")


def _input_bytes(meta):
    p = meta.get("input")
    if not p:
        return b""
    if os.path.isfile(p):
        return open(p, "rb").read()
    t = os.path.join(p, meta.get("target") or "")
    return open(t, "rb").read() if os.path.isfile(t) else b""


@cls("ddb-n-huge-exponent-slow", "decode-ddb-n-huge-exponent",
     "DynamoDB N key with a huge exponent (1e300000): ekvplan's canonicalisation is quadratic "
     "(decode 2.2 s vs 0.08 s upstream; 1e1000000: ~27 s vs 0.5 s)")
def _(meta, up, ek, d):
    return d[0] in ("slow", "timeout") and bool(_HUGE_EXP.search(_input_bytes(meta)))
