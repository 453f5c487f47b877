#!/usr/bin/env bash
# Archive-input job against upstream's runbook (unpack, then encode), on one
# dump archive: wall time, peak RSS and peak disk of each step, then the
# same archive as the input of an `ekvplan run` job (staged into the job's
# scratch directory), and that job resumed (fingerprint only).
#
#   cargo build --release
#   benches/archive_input.sh /work/data/scale1 [/work/oracle/bin]
#
# The archive is made once by upstream's packer when its bin directory is
# given (else by ekvplan's). Needs GNU time. Run it on a quiet machine.
set -euo pipefail
tree=${1:?dump tree}
oracle=${2:-}
ekv=${EKVPLAN:-$(dirname "$0")/../target/release/ekvplan}
work=$(mktemp -d "${TMPDIR:-/tmp}/ekvplan-archive-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
t() { /usr/bin/time -f "%e s, peak RSS %M KiB" "$@" 2>&1 >/dev/null | tail -1; }
if [[ -n $oracle ]]; then
  "$oracle/elastickv-snapshot-archive" pack --input "$tree" --output "$work/dump.tar.zst"
else
  "$ekv" archive pack --input "$tree" --output "$work/dump.tar.zst"
fi
echo "archive: $(stat -c %s "$work/dump.tar.zst") bytes"
if [[ -n $oracle ]]; then
  echo "upstream unpack:  $(t "$oracle/elastickv-snapshot-archive" unpack --input "$work/dump.tar.zst" --output "$work/up")"
  echo "upstream encode:  $(t "$oracle/elastickv-snapshot-encode" --input "$work/up" --output "$work/up.fsm")"
  echo "upstream peak disk: $(du -s --block-size=1 "$work/up" | cut -f1) bytes (unpacked tree) + archive"
  rm -rf "$work/up"
fi
echo "ekvplan unpack:   $(t "$ekv" archive unpack --input "$work/dump.tar.zst" --output "$work/ours")"
echo "ekvplan encode:   $(t "$ekv" encode --input "$work/ours" --output "$work/ours.fsm")"
echo "ekvplan peak disk: $(du -s --block-size=1 "$work/ours" | cut -f1) bytes (staged tree) + archive"
rm -rf "$work/ours"
cat >"$work/plan.toml" <<'PLAN'
version = 1
[[job]]
id = "dump"
input = "dump.tar.zst"
output = "run.fsm"
scratch_root = "scratch"
PLAN
mkdir -p "$work/scratch"
# Peak disk of the job's scratch directory, sampled every 0.2 s.
( peak=0; while [[ ! -e $work/run.done ]]; do
    n=$(du -s --block-size=1 "$work/scratch" 2>/dev/null | cut -f1); n=${n:-0}
    (( n > peak )) && peak=$n && echo "$peak" >"$work/scratch.peak"
    sleep 0.2
  done ) &
sampler=$!
echo "ekvplan run (archive input): $(t "$ekv" run "$work/plan.toml" --progress none --jobs 1)"
touch "$work/run.done"; wait "$sampler" || true
echo "ekvplan run peak scratch disk: $(cat "$work/scratch.peak" 2>/dev/null || echo 0) bytes (sampled) + archive"
echo "ekvplan run, resumed:        $(t "$ekv" run "$work/plan.toml" --progress none --jobs 1)"
cmp -s "$work/ours.fsm" "$work/run.fsm" && echo "run: same .fsm bytes as encode" || echo "run: DIFFERENT .fsm bytes"
if [[ -f $work/up.fsm ]]; then
  cmp -s "$work/up.fsm" "$work/ours.fsm" && echo "same .fsm bytes" || echo "DIFFERENT .fsm bytes"
fi
