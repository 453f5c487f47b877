"""Run ekvplan and the upstream tools side by side and compare outcomes."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass, field

UP_ENCODE = "elastickv-snapshot-encode"
UP_DECODE = "elastickv-snapshot-decode"
SLOW_RATIO = 2.0
SLOW_FLOOR = 1.0  # seconds


@dataclass
class Outcome:
    rc: int | None  # None = timed out
    secs: float
    stderr: bytes
    files: dict  # rel path -> (kind, mode, digest or data)
    tmp_left: list
    panicked: bool = False

    def mismatch_txt(self):
        for rel, v in self.files.items():
            if rel.endswith(".mismatch.txt") and v[0] == "f":
                return v[4]
        return None

    def summary(self) -> dict:
        return {
            "exit": self.rc,
            "secs": round(self.secs, 3),
            "stderr": self.stderr.decode("utf-8", "replace")[-2000:],
            "left_on_disk": sorted(k for k in self.files),
            "tmp_left": self.tmp_left,
        }


@dataclass
class Tools:
    ekvplan: str
    oracle_bin: str
    timeout: float = 30.0

    def upstream(self, cmd: str) -> str:
        return os.path.join(self.oracle_bin, UP_ENCODE if cmd == "encode" else UP_DECODE)

    def available(self) -> str | None:
        for cmd in ("encode", "decode"):
            if not os.access(self.upstream(cmd), os.X_OK):
                return f"upstream oracle not found at {self.upstream(cmd)}"
        if not os.access(self.ekvplan, os.X_OK):
            return f"ekvplan binary not found at {self.ekvplan} (cargo build --release)"
        return None


_WALL = re.compile(rb'("wall_time_iso":\s*)"[^"]*"')
_ENCVER = re.compile(rb'("encoder_version":\s*)"[^"]*"')
_TMPHEX = re.compile(r"\.tmp-[0-9a-f]{16}")


def normalise(rel: str, data: bytes) -> bytes:
    """Blank the fields that legitimately differ between two runs or tools."""
    base = rel.rsplit("/", 1)[-1]
    if base.endswith(".encode_info.json"):
        data = _WALL.sub(rb'\1"<wall>"', data)
        return _ENCVER.sub(rb'\1"<encoder_version>"', data)  # documented difference
    if base == "MANIFEST.json":
        return _WALL.sub(rb'\1"<wall>"', data)
    if base == "CHECKSUMS":
        return b"\n".join(
            l for l in data.split(b"\n") if not l.endswith(b"  MANIFEST.json")
        )
    return data


def snapshot(root: str, skip=("tmp",)) -> dict:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirs[:] = [d for d in dirs if d not in skip]
            files = [f for f in files if f not in skip]
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            rel = _TMPHEX.sub(".tmp-<hex>", os.fsdecode(rel))
            st = os.lstat(p)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("l", mode, os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", mode, None)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    data = f.read()
                n = normalise(rel, data)
                keep = data if rel.endswith(".mismatch.txt") and len(data) < 65536 else None
                out[rel] = ("f", mode, hashlib.sha256(n).hexdigest(), len(data), keep)
            else:
                out[rel] = ("o", mode, None)
    return out


def run(argv, cwd, tmp, timeout) -> tuple:
    env = dict(os.environ, TMPDIR=tmp, LC_ALL="C")
    t0 = time.monotonic()
    p = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        _, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        _, err = p.communicate()
        rc = None
    return rc, time.monotonic() - t0, err


def run_side(argv, sandbox, timeout, prepare=None) -> Outcome:
    if os.path.exists(sandbox):
        shutil.rmtree(sandbox)
    tmp = os.path.join(sandbox, "tmp")
    os.makedirs(tmp)
    if prepare:
        prepare(sandbox)
    rc, secs, err = run(argv, sandbox, tmp, timeout)
    tmp_left = sorted(os.listdir(tmp))
    files = snapshot(sandbox)
    panicked = b"panicked" in err or (rc is not None and rc < 0) or rc == 101
    return Outcome(rc, secs, err, files, tmp_left, panicked)


# upstream decode messages that name a usage or I/O problem (ekvplan exits 1
# for these and 2 for data errors; upstream always exits 1)
_USAGE_IO = re.compile(
    rb"flag provided but not defined|flag needs an argument|is required|unknown adapter|zero adapters|bundle-mode|"
    rb"bad flag syntax|invalid boolean|invalid value|no such file|permission denied|"
    rb"is a directory|not a directory|mkdir|help requested|Usage of"
)


def compare(cmd: str, up: Outcome, ek: Outcome) -> list:
    """Divergences as (kind, detail) pairs; empty when the outcomes agree."""
    diffs = []
    if ek.panicked:
        diffs.append(("crash", ek.stderr.decode("utf-8", "replace")[-300:]))
    if ek.rc is None:
        diffs.append(("timeout", f"ekvplan killed after {ek.secs:.1f}s; upstream {up.secs:.2f}s"))
    elif up.rc is not None and ek.secs > SLOW_FLOOR and ek.secs > SLOW_RATIO * up.secs:
        diffs.append(("slow", f"ekvplan {ek.secs:.2f}s vs upstream {up.secs:.2f}s"))
    if up.rc is None:
        diffs.append(("upstream-timeout", f"{up.secs:.1f}s"))
        return diffs
    if ek.rc is None:
        return diffs
    if cmd == "decode":
        if (up.rc == 0) != (ek.rc == 0):
            diffs.append(("exit", f"upstream {up.rc} vs ekvplan {ek.rc}"))
            return diffs
        if up.rc != 0:
            want = 1 if _USAGE_IO.search(up.stderr) else 2
            if ek.rc != want:
                diffs.append(("exit-split", f"ekvplan {ek.rc}, expected {want} for: {first_line(up.stderr)}"))
            left = [k for k in ek.files]
            if left:
                diffs.append(("leftover", f"ekvplan left {left[:8]}"))
            if ek.tmp_left:
                diffs.append(("leftover", f"ekvplan left in TMPDIR {ek.tmp_left[:8]}"))
            return diffs
    elif up.rc != ek.rc:
        diffs.append(("exit", f"upstream {up.rc} vs ekvplan {ek.rc}"))
    if ek.tmp_left:
        diffs.append(("leftover", f"ekvplan left in TMPDIR {ek.tmp_left[:8]}"))
    diffs += compare_files(up.files, ek.files)
    return diffs


def file_class(rel: str) -> str:
    base = rel.rsplit("/", 1)[-1]
    if base.endswith(".encode_info.json"):
        return "sidecar"
    if base.endswith(".mismatch.txt"):
        return "mismatch"
    if ".tmp-" in base:
        return "leftover"
    if base.endswith(".fsm"):
        return "fsm"
    return "tree"


def compare_files(a: dict, b: dict) -> list:
    diffs = []
    for rel in sorted(set(a) | set(b)):
        x, y = a.get(rel), b.get(rel)
        cls = file_class(rel)
        if x is None:
            diffs.append((cls if cls == "leftover" else cls + "-extra", f"only ekvplan: {rel!r}"))
        elif y is None:
            diffs.append((cls + "-missing", f"only upstream: {rel!r}"))
        elif x[0] != y[0]:
            diffs.append((cls + "-type", f"{rel!r}: {x[0]} vs {y[0]}"))
        elif x[0] == "f" and x[2] != y[2]:
            diffs.append((cls + "-bytes", f"{rel!r}"))
        elif x[1] != y[1]:
            diffs.append((cls + "-mode", f"{rel!r}: {oct(x[1])} vs {oct(y[1])}"))
        elif x[0] == "l" and x[2] != y[2]:
            diffs.append((cls + "-link", f"{rel!r}"))
    return diffs


def first_line(b: bytes) -> str:
    for line in b.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""


def pair(tools: Tools, cmd: str, up_argv, ek_argv, workdir, prepare=None):
    up = run_side([tools.upstream(cmd)] + up_argv, os.path.join(workdir, "up"), tools.timeout, prepare)
    ek = run_side([tools.ekvplan, cmd] + ek_argv, os.path.join(workdir, "ek"), tools.timeout, prepare)
    return up, ek, compare(cmd, up, ek)
