#!/usr/bin/env bash
# What the worst attachments anyone can send to a rua= address cost: time and peak RSS of
# `duckmarc ingest` on
#   one      one gzip attachment holding a ~97 MB report of 1.26 million minimal records
#   fourteen fourteen such attachments in one run
#   zip      one zip of ten such reports (about 1 GB of XML, the most one input may unpack)
#
#   scripts/bench-hostile.sh
#
# The README's "Memory follows the largest documents" paragraph quotes these figures.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/duckmarc-target}"
cargo build --release --quiet --bin duckmarc
bin="$CARGO_TARGET_DIR/release/duckmarc"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'EOF'
import gzip, os, sys, zipfile
work = sys.argv[1]
records = "".join(
    f"<record><row><source_ip>{1 + i // 65536}.{i // 256 % 256}.{i % 256}.1</source_ip>"
    "<count>1</count></row></record>"
    for i in range(1_260_000)
)
def report(name):
    return (
        "<feedback><report_metadata><org_name>Big</org_name><email>a@b.c</email>"
        f"<report_id>{name}</report_id><date_range><begin>1700000000</begin>"
        "<end>1700086399</end></date_range></report_metadata><policy_published>"
        f"<domain>example.com</domain><p>none</p></policy_published>{records}</feedback>"
    ).encode()
os.makedirs(f"{work}/one")
os.makedirs(f"{work}/fourteen")
with gzip.open(f"{work}/one/big.xml.gz", "wb") as f:
    f.write(report("one"))
for n in range(14):
    with gzip.open(f"{work}/fourteen/big{n}.xml.gz", "wb") as f:
        f.write(report(f"fourteen-{n}"))
with zipfile.ZipFile(f"{work}/ten.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for n in range(10):
        z.writestr(f"r{n}.xml", report(f"zip-{n}"))
EOF

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for case in one fourteen ten.zip; do
    db="$work/$case.duckdb"
    /usr/bin/time -f "%e %M" -o "$work/time" "$bin" --db "$db" -q ingest --no-dns "$work/$case" \
        >/dev/null 2>&1 || true
    read -r seconds kb < "$work/time"
    stored="$("$bin" --db "$db" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["reports"])')"
    awk -v c="$case" -v s="$seconds" -v k="$kb" -v r="$stored" 'BEGIN {
        printf "%-9s %d reports stored in %.1f s, peak RSS %.0f MB\n", c, r, s, k / 1024 }'
done
