#!/usr/bin/env bash
# duckmarc against parsedmarc on the same synthetic corpus.
#
#   scripts/bench-parsedmarc.sh [REPORTS]      default: 1000
#
# Installs parsedmarc from PyPI into a throw-away virtualenv, runs it offline (JSON and CSV
# output, no DNS or GeoIP look-ups) and duckmarc on the same files, and prints both times,
# peak RSS and the ratio per record.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/duckmarc-target}"
reports="${1:-1000}"
cargo build --release --quiet --bin duckmarc --example gen_corpus
bin="$CARGO_TARGET_DIR/release"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet parsedmarc
"$bin/examples/gen_corpus" "$work/corpus" "$reports" 1
sync # the corpus on disk, so its write-back does not slow the first run
find "$work/corpus" -type f > "$work/files"

# duckmarc first: parsedmarc leaves work behind (its output being written back, stray
# workers) that would slow whatever runs right after it.
/usr/bin/time -f "%e %M" -o "$work/d.time" \
    "$bin/duckmarc" --db "$work/bench.duckdb" -q ingest "$work/corpus" >/dev/null 2>&1 || true
/usr/bin/time -f "%e %M" -o "$work/p.time" \
    xargs -a "$work/files" -d '\n' "$work/venv/bin/parsedmarc" --offline -o "$work/out" >/dev/null 2>&1 || true
read -r p_s p_kb < "$work/p.time"
read -r d_s d_kb < "$work/d.time"
echo "parsedmarc $("$work/venv/bin/parsedmarc" --version 2>/dev/null | tail -1): ${p_s} s, peak RSS $((p_kb / 1024)) MB"
echo "duckmarc:   ${d_s} s, peak RSS $((d_kb / 1024)) MB"
awk -v p="$p_s" -v d="$d_s" 'BEGIN { printf "duckmarc is %.0fx faster\n", p / d }'
