#!/usr/bin/env bash
# `duckmarc check` for 100 domains, each with an SPF tree 4 levels deep, a DMARC record and a
# DKIM key, against dnsmasq on 127.0.0.1: cold (every answer asked) and warm (the answers
# cached in the database). Targets (issue 32): at most 5 s cold, 0.5 s warm.
#
#   scripts/bench-check.sh [DOMAINS]      default: 100
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/duckmarc-target}"
cargo build --release --quiet --bin duckmarc
bin="$CARGO_TARGET_DIR/release/duckmarc"
domains="${1:-100}"
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$work" "$domains" "$port" <<'PY'
import sys, time
work, count, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
day = int(time.time()) // 86400 * 86400 - 86400
args = [f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
        "--no-hosts", "--conf-file=/dev/null", "--keep-in-foreground", "--pid-file=",
        "--user=root", "--local=/bench.example/"]
for i in range(count):
    d = f"d{i}.bench.example"
    args.append(f"--txt-record=_dmarc.{d},v=DMARC1; p=none; rua=mailto:dmarc@{d}")
    args.append(f"--txt-record={d},v=spf1 ip4:192.0.2.0/24 include:l1.{d} -all")
    for level in range(1, 4):
        nxt = f" include:l{level + 1}.{d}" if level < 3 else ""
        args.append(f"--txt-record=l{level}.{d},v=spf1 ip4:198.51.{level}.0/24{nxt} ~all")
    args.append(f"--txt-record=s1._domainkey.{d},v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    rows = "".join(
        f"<record><row><source_ip>{ip}</source_ip><count>10</count><policy_evaluated>"
        f"<disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>"
        f"<identifiers><header_from>{d}</header_from></identifiers><auth_results>"
        f"<dkim><domain>{d}</domain><selector>s1</selector><result>pass</result></dkim>"
        f"<spf><domain>{d}</domain><result>pass</result></spf></auth_results></record>"
        for ip in ("192.0.2.10", "198.51.3.7"))
    with open(f"{work}/r{i}.xml", "w") as f:
        f.write(f"<?xml version=\"1.0\"?><feedback><report_metadata><org_name>bench</org_name>"
                f"<email>b@bench.example</email><report_id>{i}</report_id><date_range><begin>{day}</begin>"
                f"<end>{day + 86399}</end></date_range></report_metadata><policy_published>"
                f"<domain>{d}</domain><p>none</p></policy_published>{rows}</feedback>")
with open(f"{work}/dnsmasq.args", "w") as f:
    f.write("\0".join(args))
PY
mkdir "$work/reports" && mv "$work"/r*.xml "$work/reports/"
xargs -0 -a "$work/dnsmasq.args" dnsmasq >/dev/null 2>&1 &
pid=$!
sleep 1
db="$work/bench.duckdb"
"$bin" --db "$db" -q ingest --no-dns "$work/reports"
run() {
    local start end
    start=$(date +%s.%N)
    "$bin" --db "$db" check --dns-server "127.0.0.1:$port" "$@" --format json >"$work/out.json" || true
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}
cold=$(run --refresh)
warm=$(run)
findings=$(python3 -c "import json; print(len(json.load(open('$work/out.json'))))")
printf 'check of %d domains (4-level SPF trees), %d findings: cold %.2f s (target 5), warm %.2f s (target 0.5)\n' \
    "$domains" "$findings" "$cold" "$warm"
