#!/usr/bin/env python3
"""Differential fuzzer: ekvplan encode/decode against the upstream Go tools.

A development instrument, never part of the build or CI. See
docs/testing.md ("Differential fuzzing") for how to get the oracle and how
a finding becomes a fixture in tests/fixtures/upstream/.

    python3 tools/difffuzz/difffuzz.py run --minutes 30 --seed 1
    python3 tools/difffuzz/difffuzz.py replay target/difffuzz/findings/<class>/<n>
    python3 tools/difffuzz/difffuzz.py fixture NAME --from-case target/difffuzz/findings/<class>/<n>
    python3 tools/difffuzz/difffuzz.py fixture NAME --input DIR_OR_FSM --command encode -- ARGS
    python3 tools/difffuzz/difffuzz.py check-fixtures
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # keep the source tree clean

import flags as flagsmod  # noqa: E402
import fsm  # noqa: E402
import gjson  # noqa: E402
import known  # noqa: E402
import mutate  # noqa: E402
import runner  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
WORKSPACE = os.path.dirname(REPO)
FAMILIES = {
    "manifest": 14, "redis": 14, "dynamodb": 14, "s3": 11, "sqs": 11,
    "names": 9, "fsm": 19, "flags": 8,
}
ADAPTERS = ["redis", "dynamodb", "s3", "sqs"]
MAX_PER_CLASS = 3  # reproducers kept per divergence signature
MINIMISE_BUDGET = 60  # extra pair runs spent minimising one divergence


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# --- corpus ------------------------------------------------------------------


class Corpus:
    """Canonical trees split into units, and seed .fsm files."""

    def __init__(self, work: str, tools: runner.Tools, rng: random.Random, conformance: str):
        self.work = work
        self.tools = tools
        self.units = []  # (adapter, abs unit dir, abs base MANIFEST)
        self.fsms = []  # abs paths of bare .fsm seeds
        self.field_pool = {}
        self._build(rng, conformance)

    def _canonical(self, raw: str, dst: str, decode_extra) -> bool:
        tmp = dst + ".raw.fsm"
        r = subprocess.run([self.tools.upstream("encode"), "--input", raw, "--output", tmp] + decode_extra,
                           capture_output=True)
        if r.returncode != 0:
            return False
        r = subprocess.run([self.tools.upstream("decode"), "--input", tmp, "--output", dst,
                            "--rename-collisions"] + decode_extra, capture_output=True)
        os.remove(tmp)
        for left in (tmp + ".encode_info.json",):
            if os.path.exists(left):
                os.remove(left)
        return r.returncode == 0

    def _build(self, rng, conformance):
        bases_dir = os.path.join(self.work, "bases")
        stamp = os.path.join(bases_dir, ".done")
        if not os.path.exists(stamp):
            shutil.rmtree(bases_dir, ignore_errors=True)
            os.makedirs(bases_dir)
            gen = os.path.join(WORKSPACE, "shared", "tools", "gen_dumps.py")
            specs = [("tiny", s) for s in (1, 2, 3)] + [
                ("redis-only", 11), ("dynamodb-only", 12), ("s3-only", 13),
                ("sqs-only", 14), ("mixed-small", 15), ("mixed-small", 16)]
            for prof, seed in specs:
                raw = os.path.join(bases_dir, f"raw-{prof}-{seed}")
                if os.path.exists(gen):
                    subprocess.run([sys.executable, gen, "--seed", str(seed), "--profile", prof,
                                    "--out", raw], capture_output=True)
                if os.path.isdir(raw):
                    only = ["--adapter", prof[:-5]] if prof.endswith("-only") else []
                    if not self._canonical(raw, os.path.join(bases_dir, f"{prof}-{seed}"), only):
                        log(f"difffuzz: could not canonicalise {prof}-{seed}; skipped")
                    shutil.rmtree(raw)
            cases = os.path.join(conformance, "cases")
            if os.path.isdir(cases):
                for c in sorted(os.listdir(cases)):
                    src = os.path.join(cases, c, "input")
                    if os.path.isdir(src) and os.path.getsize(os.path.join(cases, c, "expected.fsm")) < 3_000_000:
                        shutil.copytree(src, os.path.join(bases_dir, "case-" + c), symlinks=True)
            open(stamp, "w").write("ok\n")
        units_dir = os.path.join(self.work, "units")
        ustamp = os.path.join(units_dir, ".done")
        if not os.path.exists(ustamp):
            shutil.rmtree(units_dir, ignore_errors=True)
            os.makedirs(units_dir)
            for b in sorted(os.listdir(bases_dir)):
                base = os.path.join(bases_dir, b)
                if not os.path.isdir(base):
                    continue
                for ad in ADAPTERS:
                    top = os.path.join(base, ad)
                    if not os.path.isdir(top):
                        continue
                    subs = sorted(os.listdir(top)) if ad != "redis" else ["db_0"]
                    for s in subs:
                        if not os.path.isdir(os.path.join(top, s)):
                            continue
                        name = f"{b}--{ad}--{len(os.listdir(units_dir))}"
                        u = os.path.join(units_dir, name)
                        os.makedirs(os.path.join(u, ad))
                        shutil.copy(os.path.join(base, "MANIFEST.json"), u)
                        shutil.copytree(os.path.join(top, s), os.path.join(u, ad, s), symlinks=True)
                        fsm_path = u + ".fsm"
                        r = subprocess.run([self.tools.upstream("encode"), "--input", u, "--output",
                                            fsm_path, "--self-test", "--adapter", ad],
                                           capture_output=True)
                        for side in (fsm_path + ".encode_info.json", fsm_path + ".mismatch.txt"):
                            if os.path.exists(side):
                                os.remove(side)
                        if r.returncode != 0:
                            shutil.rmtree(u)
                            if os.path.exists(fsm_path):
                                os.remove(fsm_path)
            open(ustamp, "w").write("ok\n")
        for n in sorted(os.listdir(units_dir)):
            p = os.path.join(units_dir, n)
            if os.path.isdir(p):
                ad = n.split("--")[1]
                sub = os.listdir(os.path.join(p, ad))[0]
                self.units.append((ad, os.path.join(p, ad, sub), os.path.join(p, "MANIFEST.json")))
                if os.path.exists(p + ".fsm"):
                    self.fsms.append(p + ".fsm")
        errs = os.path.join(conformance, "errors")
        if os.path.isdir(errs):
            for c in sorted(os.listdir(errs)):
                f = os.path.join(errs, c, "input.fsm")
                if os.path.exists(f):
                    self.fsms.append(f)
        for _, unit, man in self.units:
            for fp in [man] + [os.path.join(d, f) for d, _, fs in os.walk(unit) for f in fs]:
                if fp.endswith((".json", ".jsonl")) and os.path.getsize(fp) < 200_000:
                    self._pool(open(fp, "rb").read())
        if not self.units:
            raise SystemExit("difffuzz: no canonical units could be built")

    def _pool(self, data):
        docs = data.split(b"\n") if b"\n{" in data else [data]
        for d in docs:
            try:
                root = gjson.parse(d)
            except gjson.ParseError:
                continue
            for p, n in gjson.paths(root):
                if n[0] == "o":
                    for k, v in n[1]:
                        txt = gjson.dump(v)
                        if len(txt) < 200:
                            s = self.field_pool.setdefault(gjson.key_text(k), [])
                            if txt not in s and len(s) < 40:
                                s.append(txt)

    def make_tree(self, rng, dst, adapter=None, extra=0.35, all_scoped=False):
        """MANIFEST.json plus one unit (of `adapter` if given), sometimes two."""
        cands = [u for u in self.units if adapter is None or u[0] == adapter]
        if all_scoped:
            cands = [u for u in cands if b'"sqs"' in open(u[2], "rb").read()
                     and b'"redis"' in open(u[2], "rb").read()] or cands
        ad, unit, man = rng.choice(cands)
        os.makedirs(dst)
        shutil.copy(man, os.path.join(dst, "MANIFEST.json"))
        picked = [(ad, unit)]
        if rng.random() < extra:
            o_ad, o_unit, _ = rng.choice(self.units)
            if os.path.basename(o_unit) != os.path.basename(unit) or o_ad != ad:
                picked.append((o_ad, o_unit))
        for a, u in picked:
            d = os.path.join(dst, a, os.path.basename(u))
            if not os.path.exists(d):
                shutil.copytree(u, d, symlinks=True)
        return ad


def tree_files(root):
    out = []
    for d, _, fs in os.walk(root):
        for f in fs:
            out.append(os.path.relpath(os.path.join(d, f), root))
    return sorted(out)


# --- findings -------------------------------------------------------------------


class Stats:
    def __init__(self):
        self.fam = {f: dict(runs=0, agree=0, documented=0, known=0, unexplained=0) for f in FAMILIES}
        self.classes = {}  # class id -> count
        self.minimise_runs = 0
        self.t0 = time.monotonic()

    def table(self) -> str:
        rows = ["family     runs  agree  documented  diverge(known)  diverge(unexplained)"]
        tot = dict(runs=0, agree=0, documented=0, known=0, unexplained=0)
        for f, s in self.fam.items():
            rows.append(f"{f:<9} {s['runs']:>5} {s['agree']:>6} {s['documented']:>11} {s['known']:>15} {s['unexplained']:>21}")
            for k in tot:
                tot[k] += s[k]
        rows.append(f"{'total':<9} {tot['runs']:>5} {tot['agree']:>6} {tot['documented']:>11} {tot['known']:>15} {tot['unexplained']:>21}")
        rows.append(f"elapsed {time.monotonic() - self.t0:.0f}s, minimisation runs {self.minimise_runs}")
        return "\n".join(rows)


def signature(up, ek, diffs):
    return (up.rc, ek.rc, tuple(sorted({k for k, _ in diffs})))


def slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s)[:120]


class Fuzzer:
    def __init__(self, args, tools):
        self.args = args
        self.tools = tools
        self.rng = random.Random(args.seed)
        self.work = os.path.abspath(args.work)
        self.out = os.path.abspath(args.out)
        os.makedirs(self.out, exist_ok=True)
        self.scratch = os.path.join(self.work, "scratch")
        conf = os.environ.get("EKVPLAN_CONFORMANCE", os.path.join(WORKSPACE, "shared", "conformance"))
        self.corpus = Corpus(self.work, tools, random.Random(0), conf)
        self.stats = Stats()
        self.saved = {}  # signature key -> count saved
        self.iteration = 0

    # -- one run per family -----------------------------------------------------

    def fresh(self, name):
        d = os.path.join(self.scratch, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        return d

    def encode_args(self, rng, tree, adapters_present):
        args = ["--input", tree, "--output", "out.fsm"]
        if rng.random() < 0.75:
            args.append("--self-test")
        try:
            scoped = json.loads(open(os.path.join(tree, "MANIFEST.json"), "rb").read())["adapters"]
            scoped = [a for a in ADAPTERS if a in scoped]
        except Exception:
            scoped = ADAPTERS
        if rng.random() < 0.2:
            args += ["--adapter", ",".join(sorted(set(rng.sample(adapters_present or ADAPTERS, 1))))]
        elif len(scoped) < 4 and rng.random() < 0.9:
            args += ["--adapter", ",".join([a for a in ADAPTERS if a in scoped and a in adapters_present] or scoped or ["redis"])]
        if rng.random() < 0.04:
            args += ["--last-commit-ts", rng.choice(["1", "0x10", "18446744073709551615", "999999999999999999"])]
        return args

    def stale_outputs(self, rng):
        if rng.random() >= 0.1:
            return None

        chosen = [(n, data) for n, data in (
            ("out.fsm", b"stale fsm"), ("out.fsm.encode_info.json", b"{\"stale\":true}\n"),
            ("out.fsm.mismatch.txt", b"stale mismatch\n")) if rng.random() < 0.7]

        def prep(sb):
            for n, data in chosen:
                p = os.path.join(sb, n)
                with open(p, "wb") as f:
                    f.write(data)
                os.chmod(p, 0o644)
        return prep

    def run_tree_family(self, family):
        rng = self.rng
        d = self.fresh("case")
        tree = os.path.join(d, "input")
        ad = self.corpus.make_tree(rng, tree, None if family in ("manifest", "names") else family)
        files = [f for f in tree_files(tree)]
        if family == "manifest":
            target = "MANIFEST.json"
            op, field = mutate.mutate_file(os.path.join(tree, target), "manifest", rng, self.corpus.field_pool)
            kind = "manifest"
        elif family == "names":
            op, field, kind = mutate.name_op(tree, rng, [f for f in files if f != "MANIFEST.json"])
            target = field.split(" -> ")[0]
        else:
            cands = [f for f in files if f.startswith(family + "/")]
            target = rng.choice(cands)
            kind = mutate.file_kind(target)
            op, field = mutate.mutate_file(os.path.join(tree, target), kind, rng, self.corpus.field_pool)
        present = [a for a in ADAPTERS if os.path.isdir(os.path.join(tree, a))]
        args = self.encode_args(rng, tree, present)
        prep = self.stale_outputs(rng)
        meta = dict(family=family, op=op, kind=kind, field=field, target=target, cmd="encode")
        up, ek, diffs = runner.pair(self.tools, "encode", args, args, os.path.join(d, "run"), prep)
        self.account(meta, up, ek, diffs, d, tree, args, prep)
        # feed upstream's output to the decoders too
        upfsm = os.path.join(d, "run", "up", "out.fsm")
        if up.rc == 0 and os.path.exists(upfsm) and rng.random() < 0.25:
            fsm_in = os.path.join(d, "from-tree.fsm")
            shutil.copy(upfsm, fsm_in)
            self.run_decode(fsm_in, dict(family="fsm", op="from-tree:" + op, kind=kind, field=field,
                                         target="input.fsm", cmd="decode"))

    def decode_args(self, rng, fsm_path):
        args = ["--input", fsm_path, "--output", "out"]
        for fl in ("--rename-collisions", "--include-orphans", "--preserve-sqs-visibility",
                   "--include-sqs-side-records", "--include-incomplete-uploads"):
            if rng.random() < 0.15:
                args.append(fl)
        if rng.random() < 0.2:
            args += ["--adapter", ",".join(rng.sample(ADAPTERS, rng.randrange(1, 4)))]
        if rng.random() < 0.1:
            args += ["--cluster-id", rng.choice(["c", "<&>", "é", ""])]
        return args

    def run_fsm_family(self):
        rng = self.rng
        d = self.fresh("case")
        seed = rng.choice(self.corpus.fsms)
        data = open(seed, "rb").read()
        try:
            stream = fsm.parse(data)
        except Exception:
            stream = None
        if stream is None:
            # a conformance error input: only bit-level mutations apply
            b = bytearray(data)
            op = "raw-bitflip"
            if b:
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            new, target_idx, s = bytes(b), None, None
        else:
            if rng.random() < 0.3 and len(self.corpus.fsms) > 1:
                other = rng.choice(self.corpus.fsms)
                try:  # two units in one stream
                    o = fsm.parse(open(other, "rb").read())
                    stream = fsm.Stream(stream.ts, sorted(stream.entries + o.entries,
                                        key=lambda e: e.key + (~e.ts & fsm.M64).to_bytes(8, "big")))
                except Exception:
                    pass
            s, op, target_idx = fsm.mutate(stream, rng)
            new = s.build()
        path = os.path.join(d, "input.fsm")
        open(path, "wb").write(new)
        meta = dict(family="fsm", op=op, kind="fsm", field=str(target_idx), target="input.fsm",
                    cmd="decode", seed=os.path.basename(os.path.dirname(seed)) + "/" + os.path.basename(seed))
        self.run_decode(path, meta, stream=s, target_idx=target_idx)

    def run_decode(self, path, meta, stream=None, target_idx=None):
        rng = self.rng
        d = os.path.dirname(path)
        args = self.decode_args(rng, path)
        if open(path, "rb").read(7) == b"EKVTHLC":
            self.stats.fam[meta["family"]]["runs"] += 1
            self.stats.fam[meta["family"]]["documented"] += 1
            return
        up, ek, diffs = runner.pair(self.tools, "decode", args, args, os.path.join(d, "run-dec"))
        meta = dict(meta, stream=stream, target_idx=target_idx)
        self.account(meta, up, ek, diffs, d, path, args, None)

    def run_flags_family(self):
        rng = self.rng
        d = self.fresh("case")
        tree = os.path.join(d, "input")
        self.corpus.make_tree(rng, tree, extra=0, all_scoped=True)
        fsm_path = os.path.join(d, "input.fsm")
        shutil.copy(rng.choice([f for f in self.corpus.fsms if "/units/" in f]), fsm_path)
        cmd = rng.choice(["encode", "decode"])
        argv, op = flagsmod.variant(rng, cmd, tree if cmd == "encode" else fsm_path)
        meta = dict(family="flags", op=op, kind=cmd, field=" ".join(argv), target=None, cmd=cmd, argv=argv)
        up, ek, diffs = runner.pair(self.tools, cmd, argv, argv, os.path.join(d, "run"))
        self.account(meta, up, ek, diffs, d, tree if cmd == "encode" else fsm_path, argv, None)

    # -- accounting, minimising, saving ------------------------------------------------

    def account(self, meta, up, ek, diffs, d, inp, args, prep):
        fam = self.stats.fam[meta["family"]]
        fam["runs"] += 1
        meta = dict(meta, input=inp)
        if any(k in ("slow", "timeout") for k, _ in diffs):
            # timing on a shared machine is noisy: believe slowness only when two more runs repeat it
            for _ in range(2):
                _, _, again = runner.pair(self.tools, meta["cmd"], args, args, os.path.join(d, "confirm"), prep)
                if not any(k in ("slow", "timeout") for k, _ in again):
                    diffs = [x for x in diffs if x[0] not in ("slow", "timeout")]
                    break
        if known.documented(meta, up, ek, diffs):
            fam["documented"] += 1
            return
        if not diffs:
            fam["agree"] += 1
            return
        cls = known.classify(meta, up, ek, diffs)
        fam["known" if cls else "unexplained"] += 1
        key = cls or "unexplained:" + "/".join([meta["family"], meta["op"].split(":")[0], meta["kind"],
                                                f"{up.rc}-{ek.rc}", "+".join(sorted({k for k, _ in diffs}))])
        for c in (cls.split("+") if cls else [key]):
            self.stats.classes[c] = self.stats.classes.get(c, 0) + 1
        n = self.saved.get(key, 0)
        if n >= MAX_PER_CLASS:
            return
        self.saved[key] = n + 1
        sig = signature(up, ek, diffs)
        if meta["cmd"] == "encode" and meta["family"] != "flags" and not self.args.no_minimise:
            self.minimise_tree(meta, inp, args, prep, sig, d)
        elif meta["cmd"] == "decode" and meta.get("stream") is not None and not self.args.no_minimise:
            self.minimise_fsm(meta, inp, args, sig, d)
        up, ek, diffs = runner.pair(self.tools, meta["cmd"], args, args, os.path.join(d, "final"), prep)
        self.save(key, meta, inp, args, prep, up, ek, diffs, d)

    def check(self, cmd, args, d, prep, sig):
        self.stats.minimise_runs += 1
        up, ek, diffs = runner.pair(self.tools, cmd, args, args, os.path.join(d, "min"), prep)
        return signature(up, ek, diffs) == sig

    def minimise_tree(self, meta, tree, args, prep, sig, d):
        budget = [MINIMISE_BUDGET]
        protect = {"MANIFEST.json", meta.get("target") or ""}
        scratch = os.path.join(d, "trial")

        def attempt(edit):
            if budget[0] <= 0:
                return False
            budget[0] -= 1
            shutil.rmtree(scratch, ignore_errors=True)
            shutil.copytree(tree, scratch, symlinks=True)
            if not edit(scratch):
                return False
            a = [scratch if x == tree else x for x in args]
            if self.check("encode", a, d, prep, sig):
                shutil.rmtree(tree)
                shutil.copytree(scratch, tree, symlinks=True)
                return True
            return False

        def rm(rel):
            def edit(root):
                p = os.path.join(root, rel)
                if not os.path.lexists(p):
                    return False
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                else:
                    os.remove(p)
                return True
            return edit

        target = meta.get("target") or ""
        # whole directories that do not hold the target, shallowest first
        dirs = sorted({os.path.dirname(f) for f in tree_files(tree)} - {""}, key=lambda x: x.count("/"))
        for rel in dirs:
            parts = rel.split("/")
            prefixes = {"/".join(parts[:i]) for i in range(1, len(parts) + 1)}
            if not any(target == p or target.startswith(p + "/") for p in prefixes):
                attempt(rm(rel))
        for rel in sorted(tree_files(tree), key=lambda f: -os.path.getsize(os.path.join(tree, f)) if os.path.exists(os.path.join(tree, f)) else 0):
            if rel not in protect and not target.startswith(rel):
                attempt(rm(rel))
        tp = os.path.join(tree, target)
        if target and os.path.isfile(tp) and not os.path.islink(tp):
            data = open(tp, "rb").read()
            if target.endswith(".jsonl"):
                lines = data.split(b"\n")
                i = 0
                while i < len(lines) and budget[0] > 0:
                    if lines[i].strip():
                        trial = lines[:i] + lines[i + 1:]
                        if attempt(lambda r, t=trial: open(os.path.join(r, target), "wb").write(b"\n".join(t)) or True):
                            lines = trial
                            continue
                    i += 1
            else:
                self.minimise_json(tp, target, attempt, budget)

    def minimise_json(self, tp, target, attempt, budget):
        data = open(tp, "rb").read()
        try:
            root = gjson.parse(data)
        except gjson.ParseError:
            return
        trail = data[len(data.rstrip()):]
        style = mutate._style_like(data)
        changed = True
        while changed and budget[0] > 0:
            changed = False
            for p, n in list(gjson.paths(root)):
                if n[0] not in ("o", "a") or not n[1]:
                    continue
                for i in range(len(n[1])):
                    kids = list(n[1])
                    del kids[i]
                    trial = gjson.replace(root, p, (n[0], kids))
                    out = gjson.to_bytes(gjson.dump(trial, style)) + trail
                    if attempt(lambda r, o=out: open(os.path.join(r, target), "wb").write(o) or True):
                        root = trial
                        changed = True
                        break
                if changed or budget[0] <= 0:
                    break

    def minimise_fsm(self, meta, path, args, sig, d):
        s = meta["stream"]
        t = meta["target_idx"]
        budget = MINIMISE_BUDGET
        trial_path = os.path.join(d, "trial.fsm")
        i = len(s.entries) - 1
        while i >= 0 and budget > 0:
            if i == t:
                i -= 1
                continue
            ents = s.entries[:i] + s.entries[i + 1:]
            cut = s.cut
            if cut is not None:
                start = 16 + sum(len(e.frame()) for e in s.entries[:i])
                if start < cut:
                    cut = max(16, cut - len(s.entries[i].frame())) if start + len(s.entries[i].frame()) <= cut else cut
            trial = fsm.Stream(s.ts, ents, s.magic, s.tail, cut)
            open(trial_path, "wb").write(trial.build())
            a = [trial_path if x == path else x for x in args]
            budget -= 1
            if self.check("decode", a, d, None, sig):
                s = trial
                if t is not None and i < t:
                    t -= 1
                open(path, "wb").write(trial.build())
            i -= 1
        # decode flags that do not matter
        for fl in list(args):
            if fl.startswith("--") and fl not in ("--input", "--output") and budget > 0:
                idx = args.index(fl)
                width = 2 if fl in ("--adapter", "--cluster-id") else 1
                a = args[:idx] + args[idx + width:]
                budget -= 1
                if self.check("decode", a, d, None, sig):
                    args[:] = a

    def save(self, key, meta, inp, args, prep, up, ek, diffs, d):
        base = os.path.join(self.out, slug(key))
        os.makedirs(base, exist_ok=True)
        k = len([x for x in os.listdir(base) if x.isdigit()])
        dst = os.path.join(base, str(k))
        os.makedirs(dst)
        if os.path.isdir(inp):
            shutil.copytree(inp, os.path.join(dst, "input"), symlinks=True)
            rel_args = ["{input}" if a == inp else a for a in args]
        else:
            shutil.copy(inp, os.path.join(dst, "input.fsm"))
            rel_args = ["{input}" if a == inp else a for a in args]
        stale = None
        if prep:
            sb = os.path.join(d, "stale")
            shutil.rmtree(sb, ignore_errors=True)
            os.makedirs(sb)
            prep(sb)
            stale = {n: open(os.path.join(sb, n), "rb").read().decode() for n in os.listdir(sb)}
        case = dict(
            class_id=key, explained_by=known.describe(key),
            family=meta["family"], op=meta["op"], kind=meta["kind"], field=meta.get("field"),
            target=meta.get("target"),
            cmd=meta["cmd"], args=rel_args, stale_outputs=stale,
            upstream=up.summary(), ekvplan=ek.summary(), diffs=diffs,
            seed=self.args.seed, iteration=self.iteration,
        )
        with open(os.path.join(dst, "case.json"), "w") as f:
            json.dump(case, f, indent=2)
        with open(os.path.join(dst, "repro.txt"), "w") as f:
            a = " ".join(shlex_quote(x.replace("{input}", "input" if os.path.isdir(inp) else "input.fsm")) for x in rel_args)
            f.write(f"upstream: {self.tools.upstream(meta['cmd'])} {a}\nekvplan:  {self.tools.ekvplan} {meta['cmd']} {a}\n")
        log(f"difffuzz: divergence [{key}] saved to {dst}: {diffs[:3]}")

    # -- main loop ---------------------------------------------------------------------

    def loop(self):
        deadline = time.monotonic() + self.args.minutes * 60
        fams = [f for f in FAMILIES if not self.args.families or f in self.args.families]
        weights = [FAMILIES[f] for f in fams]
        last_report = time.monotonic()
        while time.monotonic() < deadline and (not self.args.runs or self.iteration < self.args.runs):
            self.iteration += 1
            fam = self.rng.choices(fams, weights)[0]
            try:
                if fam == "fsm":
                    self.run_fsm_family()
                elif fam == "flags":
                    self.run_flags_family()
                else:
                    self.run_tree_family(fam)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # a bug in the fuzzer itself: say so, keep going
                import traceback
                log(f"difffuzz: internal error in {fam}: {e!r}")
                traceback.print_exc()
            if time.monotonic() - last_report > 120:
                log(self.stats.table())
                self.write_summary()
                last_report = time.monotonic()
        log(self.stats.table())
        self.write_summary()

    def write_summary(self):
        with open(os.path.join(self.out, "summary.json"), "w") as f:
            json.dump(dict(seed=self.args.seed, iterations=self.iteration,
                           elapsed_s=round(time.monotonic() - self.stats.t0),
                           families=self.stats.fam, classes=self.stats.classes,
                           minimise_runs=self.stats.minimise_runs,
                           ekvplan=self.tools.ekvplan, oracle=self.tools.oracle_bin), f, indent=2)


def shlex_quote(s):
    import shlex
    return shlex.quote(s)


# --- replay and fixture -----------------------------------------------------------------


def load_case(case_dir):
    case_dir = os.path.abspath(case_dir)
    case = json.load(open(os.path.join(case_dir, "case.json")))
    inp = os.path.join(case_dir, "input")
    if not os.path.exists(inp):
        inp = os.path.join(case_dir, "input.fsm")
    return case, inp


def replay(args, tools):
    case, inp = load_case(args.case)
    work = os.path.join(os.path.abspath(args.work), "replay")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    a = [inp if x == "{input}" else x for x in case["args"]]

    def prep(sb):
        for n, data in (case.get("stale_outputs") or {}).items():
            open(os.path.join(sb, n), "w").write(data)
            os.chmod(os.path.join(sb, n), 0o644)
    up, ek, diffs = runner.pair(tools, case["cmd"], a, a, work, prep if case.get("stale_outputs") else None)
    meta = dict(family=case["family"], op=case["op"], kind=case["kind"], field=case.get("field"),
                cmd=case["cmd"], target=None, input=inp, argv=a)
    if os.path.isdir(inp):
        # the saved case names the mutated file only through its field; guess it from the class id
        meta["target"] = case.get("target")
    verdict = ("documented" if known.documented(meta, up, ek, diffs) else
               "agree" if not diffs else known.classify(meta, up, ek, diffs) or "UNEXPLAINED")
    print(json.dumps(dict(upstream=up.summary(), ekvplan=ek.summary(), diffs=diffs, verdict=verdict), indent=2))
    return 1 if diffs else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ekvplan", default=os.environ.get("EKVPLAN_BIN", os.path.join(REPO, "target", "release", "ekvplan")))
    ap.add_argument("--oracle-bin", default=os.environ.get("EKV_ORACLE_BIN", os.path.join(WORKSPACE, "oracle", "bin")))
    ap.add_argument("--work", default=os.path.join(REPO, "target", "difffuzz", "work"))
    ap.add_argument("--out", default=os.path.join(REPO, "target", "difffuzz", "findings"))
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per tool run")
    sub = ap.add_subparsers(dest="cmd")
    r = sub.add_parser("run", help="fuzz (default)")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--minutes", type=float, default=10)
    r.add_argument("--runs", type=int, default=0, help="stop after N iterations")
    r.add_argument("--families", nargs="*", choices=list(FAMILIES))
    r.add_argument("--no-minimise", action="store_true")
    p = sub.add_parser("replay", help="re-run one saved reproducer")
    p.add_argument("case")
    f = sub.add_parser("fixture", help="record upstream's result as tests/fixtures/upstream/NAME")
    f.add_argument("name")
    f.add_argument("--from-case", help="a saved reproducer directory (findings/<class>/<n>)")
    f.add_argument("--input", help="a tree or .fsm to copy as the fixture input")
    f.add_argument("--command", choices=["encode", "decode"])
    f.add_argument("--description", default="")
    f.add_argument("--class", dest="klass", default="")
    f.add_argument("--force", action="store_true", help="overwrite / re-record")
    f.add_argument("--ignore-mode", action="append", metavar="PATH",
                   help="do not compare this output's mode (a separate fixture covers it)")
    f.epilog = "After --: the command's arguments, with input or input.fsm as the input path."
    sub.add_parser("check-fixtures", help="re-run upstream and ekvplan on every fixture")
    argv = list(sys.argv[1:] if argv is None else argv)
    tail = []
    if "--" in argv:
        k = argv.index("--")
        argv, tail = argv[:k], argv[k + 1:]
    args = ap.parse_args(argv)
    if args.cmd is None:
        args = ap.parse_args(argv + ["run"])
    args.argv = tail
    tools = runner.Tools(os.path.abspath(args.ekvplan), os.path.abspath(args.oracle_bin), args.timeout)
    why = tools.available()
    if why:
        print(f"difffuzz: skipped: {why}. Build the oracle with ../shared/oracle/build_oracle.sh "
              "and set EKV_ORACLE_BIN, or pass --oracle-bin.")
        return 0
    if args.cmd == "replay":
        return replay(args, tools)
    if args.cmd == "fixture":
        import fixture
        return fixture.make(args, tools, REPO)
    if args.cmd == "check-fixtures":
        import fixture
        return fixture.check_all(tools, REPO)
    fz = Fuzzer(args, tools)
    log(f"difffuzz: seed {args.seed}, {len(fz.corpus.units)} units, {len(fz.corpus.fsms)} .fsm seeds, "
        f"ekvplan {tools.ekvplan}, oracle {tools.oracle_bin}")
    try:
        fz.loop()
    except KeyboardInterrupt:
        log(fz.stats.table())
        fz.write_summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
