"""Go `flag` syntax variants for the encode/decode command lines.

Every command line starts from the plain `--name value` spelling (which
both parsers accept) and changes one thing, named by the returned op.
"""

from __future__ import annotations

import random

BOOL_TRUE = ["=true", "=1", "=t", "=T", "=TRUE", "=True"]
BOOL_OTHER = ["=false", "=0", "=f", "=F", "=FALSE", "=yes", "=", "=2"]
DECODE_BOOLS = ["rename-collisions", "include-orphans", "preserve-sqs-visibility",
                "include-sqs-side-records", "include-incomplete-uploads"]


def plain(name, value):
    return ["--" + name] if value is True else ["--" + name, value]


def variant(rng: random.Random, cmd: str, inp: str):
    """One command line (without the program name) and the op label."""
    if cmd == "encode":
        flags = [("input", inp), ("output", "out.fsm")]
        if rng.random() < 0.6:
            flags.append(("self-test", True))
    else:
        flags = [("input", inp), ("output", "out")]
        if rng.random() < 0.3:
            flags.append((rng.choice(DECODE_BOOLS), True))
    rng.shuffle(flags)
    ops = ["single-dash", "single-dash-equals", "equals", "bool-value", "bool-positional",
           "repeat", "trailing", "double-dash-end", "unknown-flag", "help", "value-with-dash",
           "empty-value", "adapter", "missing-value", "plain"]
    ops += ["last-commit-ts", "scratch-root"] if cmd == "encode" else ["bundle-mode", "cluster-id"]
    op = rng.choice(ops)
    i = rng.randrange(len(flags))
    groups = []
    for j, (name, value) in enumerate(flags):
        if j == i and op in ("single-dash", "single-dash-equals", "equals"):
            dash = "--" if op == "equals" else "-"
            if value is True:
                groups.append([dash + name])
            elif op == "single-dash":
                groups.append([dash + name, value])
            else:
                groups.append([f"{dash}{name}={value}"])
            op = f"{op}:{name}"
        else:
            groups.append(plain(name, value))

    def insert(g):
        groups.insert(rng.randrange(len(groups) + 1), g)
        return [a for grp in groups for a in grp]

    argv = [a for grp in groups for a in grp]
    if op == "bool-value":
        fl = "self-test" if cmd == "encode" else rng.choice(DECODE_BOOLS)
        groups = [g for g in groups if g != ["--" + fl]]
        v = rng.choice(BOOL_TRUE + BOOL_OTHER)
        argv = insert([f"--{fl}{v}"])
        op = f"bool-value:{v}"
    elif op == "bool-positional":
        fl = "--self-test" if cmd == "encode" else "--" + rng.choice(DECODE_BOOLS)
        argv = [a for a in argv if a != fl]
        end = rng.random() < 0.5
        pair = [fl, rng.choice(["true", "false"])]
        # Go stops at the first non-flag argument: what follows is ignored
        argv = argv + pair if end else pair + argv
        op = "bool-positional:" + ("end" if end else "start")
    elif op == "repeat":
        name = rng.choice(["input", "output"])
        bogus = {"input": "/nonexistent/in", "output": "other.out"}[name]
        argv = plain(name, bogus) + argv
        op = f"repeat:{name}"
    elif op == "trailing":
        argv += rng.choice([["extra"], ["extra", "--input", "/nonexistent"], ["-"], [""]])
    elif op == "double-dash-end":
        argv += ["--", rng.choice(["extra", "--input"])]
    elif op == "unknown-flag":
        argv = insert([rng.choice(["--nope", "-x", "--input-dir=x", "---input", "--Input=x"])])
    elif op == "help":
        h = rng.choice(["-h", "--help", "-help", "--h"])
        argv = insert([h])
        op = f"help:{h}"
    elif op == "value-with-dash":
        argv = [a for a in argv]
        k = argv.index("--output")
        argv[k + 1] = "-o.fsm" if cmd == "encode" else "-out"
    elif op == "empty-value":
        name = rng.choice(["input", "output", "adapter"] + (["last-commit-ts", "scratch-root"] if cmd == "encode" else ["cluster-id", "dynamodb-bundle-mode"]))
        argv += ["--" + name, ""]
        op = f"empty-value:{name}"
    elif op == "adapter":
        val = rng.choice(["all", "ALL", "All", "redis", "Redis", " redis ", "redis,", ",redis", "redis,,s3",
                          " ,", ",", "all,redis", "redis,all", "dynamodb,s3,redis,sqs", "REDIS,sqs",
                          "redis sqs", "kafka", "redis;s3", "\tredis", "sqs,sqs"])
        argv += ["--adapter", val]
        op = f"adapter:{val!r}"
    elif op == "last-commit-ts":
        val = rng.choice(["1", " 1", "1 ", "0x10", "0X10", "0x", "007", "+1", "-1", "1_000", "0",
                          "18446744073709551615", "18446744073709551616", "0x0000000000000000ff",
                          "1e3", " ", "\t5", "0b1", "0o7", "999999999999999999999", "0xFFFFFFFFFFFFFFFF"])
        argv += ["--last-commit-ts", val]
        op = f"last-commit-ts:{val!r}"
    elif op == "scratch-root":
        val = rng.choice(["missing/scratch", "tmp", ".", "out.fsm", "newdir", "tmp/sub"])
        if "--self-test" not in argv and rng.random() < 0.7:
            argv.append("--self-test")
        argv += ["--scratch-root", val]
        op = f"scratch-root:{val!r}:{'self-test' if '--self-test' in argv else 'no-self-test'}"
    elif op == "bundle-mode":
        val = rng.choice(["per-item", "", "PER-ITEM", "per_item", "jsonl2", "item", " per-item"])
        argv += ["--dynamodb-bundle-mode", val]
        op = f"bundle-mode:{val!r}"
    elif op == "cluster-id":
        val = rng.choice(["c", "<&>", "é\u2028", "-x", "a\nb", "", "\u007f\t"])
        argv += ["--cluster-id", val]
        op = "cluster-id"
    elif op == "missing-value":
        argv.append(rng.choice(["--output", "--input", "--adapter"]))
    return argv, op
