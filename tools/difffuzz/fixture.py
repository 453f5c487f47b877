"""Record upstream's result for a small input as a test fixture.

A fixture is tests/fixtures/upstream/<name>/ with input/ (a tree) or
input.fsm, and case.json holding the command line (relative paths, run in
an empty directory holding a copy of the input) and what upstream did:
its exit code and every file it left, by sha256 of the normalised bytes
(runner.normalise: wall_time_iso, encoder_version, CHECKSUMS' MANIFEST.json
line) and mode. tests/it/upstream_fixtures.rs replays them against ekvplan.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import runner

UMASK = "022"


def run_in_copy(exe_argv, fixture_dir, case):
    """Run a tool the way tests/it/upstream_fixtures.rs does; returns (rc, stderr, files, tmp_left)."""
    with tempfile.TemporaryDirectory(prefix="difffuzz-fixture-") as top:
        work = os.path.join(top, "work")
        tmp = os.path.join(top, "tmp")
        os.makedirs(work)
        os.makedirs(tmp)
        src = os.path.join(fixture_dir, "input")
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(work, "input"), symlinks=True)
        else:
            shutil.copy(os.path.join(fixture_dir, "input.fsm"), os.path.join(work, "input.fsm"))
        for extra in case.get("extra_files", []):
            p = os.path.join(os.fsencode(work), base64.b64decode(extra["path_b64"]))
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(base64.b64decode(extra["content_b64"]))
        for n, text in (case.get("stale_outputs") or {}).items():
            with open(os.path.join(work, n), "w") as f:
                f.write(text)
        env = dict(os.environ, TMPDIR=tmp, LC_ALL="C")
        p = subprocess.run(["sh", "-c", f'umask {UMASK}; exec "$@"', "sh"] + exe_argv + case["args"],
                           cwd=work, env=env, capture_output=True, timeout=120)
        files = {}
        for rel, v in runner.snapshot(work, skip=("input", "input.fsm")).items():
            entry = {"type": {"f": "file", "d": "dir", "l": "symlink", "o": "other"}[v[0]],
                     "mode": format(v[1], "04o")}
            if v[0] == "f":
                entry["sha256"] = v[2]
                if v[4] is not None:  # mismatch.txt: keep upstream's text to read
                    try:
                        entry["text"] = v[4].decode("utf-8")
                    except UnicodeDecodeError:
                        entry["text_b64"] = base64.b64encode(v[4]).decode()
            files[os.fsencode(rel).decode("utf-8", "surrogateescape")] = entry
        return p.returncode, p.stderr, files, sorted(os.listdir(tmp))


def encode_path(rel: str):
    b = os.fsencode(rel)
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(b).decode()}


def record(tools, fixture_dir, case):
    cmd = case["command"]
    rc, err, files, tmp_left = run_in_copy([tools.upstream(cmd)], fixture_dir, case)
    case["upstream"] = {
        "exit": rc,
        "stderr_first_line": runner.first_line(err),
        "files": {k: v for k, v in sorted(files.items())} if not (cmd == "decode" and rc != 0) else {},
        "tmp_left": tmp_left,
    }
    if cmd == "decode" and rc != 0:
        case["upstream"]["partial_output_informational"] = sorted(files)
    # paths that are not UTF-8 cannot be JSON keys as they are
    fixed = {}
    for k, v in case["upstream"]["files"].items():
        enc = encode_path(k.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape"))
        if isinstance(enc, dict):
            v = dict(v, path_b64=enc["base64"])
            k = "b64:" + enc["base64"]
        fixed[k] = v
    case["upstream"]["files"] = fixed
    return case


def check_ekvplan(tools, fixture_dir, case):
    """Differences between ekvplan's run and the recorded upstream result."""
    cmd = case["command"]
    rc, err, files, tmp_left = run_in_copy([tools.ekvplan, cmd], fixture_dir, case)
    want = case["upstream"]
    out = []
    if cmd == "decode":
        if (want["exit"] == 0) != (rc == 0):
            out.append(f"exit {rc}, upstream {want['exit']}")
    elif rc != want["exit"]:
        out.append(f"exit {rc}, upstream {want['exit']}")
    got = {}
    for k, v in files.items():
        enc = encode_path(k)
        got[k if isinstance(enc, str) else "b64:" + enc["base64"]] = v
    exp = want["files"]
    for k in sorted(set(got) | set(exp)):
        g, e = got.get(k), exp.get(k)
        if g is None:
            out.append(f"missing {k}")
        elif e is None:
            out.append(f"extra {k}")
        else:
            for f in ("type", "mode", "sha256"):
                if f == "mode" and k in case.get("ignore_mode", []):
                    continue
                if g.get(f) != e.get(f):
                    out.append(f"{k}: {f} {g.get(f)} vs upstream {e.get(f)}")
    if tmp_left:
        out.append(f"left in TMPDIR: {tmp_left}")
    return out, rc, err


def make(args, tools, repo):
    dst = os.path.join(repo, "tests", "fixtures", "upstream", args.name)
    if os.path.exists(dst) and not args.force:
        raise SystemExit(f"{dst} exists (use --force to re-record)")
    os.makedirs(dst, exist_ok=True)
    case = {}
    if args.from_case:
        src_case = json.load(open(os.path.join(args.from_case, "case.json")))
        src_in = os.path.join(args.from_case, "input")
        is_tree = os.path.isdir(src_in)
        src = src_in if is_tree else os.path.join(args.from_case, "input.fsm")
        cmd = src_case["cmd"]
        argv = [("input" if is_tree else "input.fsm") if a == "{input}" else a for a in src_case["args"]]
        stale = src_case.get("stale_outputs")
    elif args.input:
        src = args.input
        is_tree = os.path.isdir(src)
        cmd = args.command
        argv = args.argv
        stale = None
    else:
        # re-record an existing fixture
        case = json.load(open(os.path.join(dst, "case.json")))
        src, is_tree, cmd, argv, stale = None, None, case["command"], case["args"], case.get("stale_outputs")
    if src is not None:
        for old in ("input", "input.fsm"):
            p = os.path.join(dst, old)
            if os.path.isdir(p):
                shutil.rmtree(p)
            elif os.path.exists(p):
                os.remove(p)
        if is_tree:
            shutil.copytree(src, os.path.join(dst, "input"), symlinks=True)
        else:
            shutil.copy(src, os.path.join(dst, "input.fsm"))
    new = {
        "description": args.description or case.get("description", ""),
        "class": args.klass or case.get("class", ""),
        "command": cmd,
        "args": argv,
    }
    if stale:
        new["stale_outputs"] = stale
    if case.get("extra_files"):
        new["extra_files"] = case["extra_files"]
    ignore = args.ignore_mode or case.get("ignore_mode")
    if ignore:
        new["ignore_mode"] = ignore
    new = record(tools, dst, new)
    with open(os.path.join(dst, "case.json"), "w") as f:
        json.dump(new, f, indent=2, ensure_ascii=False)
        f.write("\n")
    diffs, rc, err = check_ekvplan(tools, dst, new)
    print(f"fixture {args.name}: upstream exit {new['upstream']['exit']} "
          f"({new['upstream']['stderr_first_line'][:160]})")
    if diffs:
        print(f"  ekvplan differs (exit {rc}): " + "; ".join(diffs[:6]))
        print("  -> add it to KNOWN_DIVERGENCES in tests/it/upstream_fixtures.rs with the reason")
    else:
        print("  ekvplan matches")
    return 0


def check_all(tools, repo):
    base = os.path.join(repo, "tests", "fixtures", "upstream")
    bad = 0
    for name in sorted(os.listdir(base)):
        d = os.path.join(base, name)
        if not os.path.isfile(os.path.join(d, "case.json")):
            continue
        case = json.load(open(os.path.join(d, "case.json")))
        fresh = record(tools, d, {k: v for k, v in case.items() if k != "upstream"})
        same = fresh["upstream"]["exit"] == case["upstream"]["exit"] and \
            fresh["upstream"]["files"] == case["upstream"]["files"]
        diffs, rc, _ = check_ekvplan(tools, d, case)
        print(f"{name:<45} upstream {'reproduces' if same else 'CHANGED'}; ekvplan "
              f"{'matches' if not diffs else 'differs: ' + '; '.join(diffs[:3])}")
        bad += not same
    return 1 if bad else 0
