#!/usr/bin/env bash
# Naming benchmark.
#
#   scripts/bench-names.sh [REPORTS]     default: 10000 (about 200,000 distinct sources)
#
# 1. Ingests the synthetic corpus with --no-dns, then names every source again from the IP
#    database and the sender map (`enrich --refresh --no-dns`).
# 2. Reverse DNS for 10,000 distinct addresses against a local dnsmasq (every one has a
#    forward-confirmed name): cold, then again with the cache warm.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/duckmarc-target}"
cargo build --release --quiet --bin duckmarc --example gen_corpus
bin="$CARGO_TARGET_DIR/release"
work="$(mktemp -d)"
dnsmasq_pid=""
trap '[ -n "$dnsmasq_pid" ] && kill "$dnsmasq_pid"; rm -rf "$work"' EXIT

timed() { # prints the seconds the command took
    /usr/bin/time -f "%e" -o "$work/time" "$@" >/dev/null 2>&1 || true
    cat "$work/time"
}

reports="${1:-10000}"
"$bin/examples/gen_corpus" "$work/corpus" "$reports" 1 >/dev/null
db="$work/names.duckdb"
ingest="$(timed "$bin/duckmarc" --db "$db" -q ingest --no-dns "$work/corpus")"
sources="$(echo 'SELECT count(*) AS n FROM source_names' > "$work/q.sql" &&
    "$bin/duckmarc" --db "$db" query "$work/q.sql" --format csv | tail -1)"
rename="$(timed "$bin/duckmarc" --db "$db" -q enrich --refresh --no-dns)"
echo "$reports reports: ingest --no-dns (naming included) ${ingest} s; naming all $sources sources again ${rename} s"

# 10,000 addresses in one report, each with a name that resolves back to it.
awk 'BEGIN {
    print "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>bench</org_name><email>b@bench.example</email><report_id>dns-bench</report_id><date_range><begin>1735689600</begin><end>1735775999</end></date_range></report_metadata><policy_published><domain>example.com</domain><p>none</p></policy_published>"
    for (i = 0; i < 10000; i++) {
        printf "<record><row><source_ip>198.18.%d.%d</source_ip><count>1</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row><identifiers><header_from>example.com</header_from></identifiers><auth_results><spf><domain>example.com</domain><result>pass</result></spf></auth_results></record>\n", int(i / 250), i % 250 + 1
        printf "198.18.%d.%d host-%d.bench.example\n", int(i / 250), i % 250 + 1, i > "/dev/stderr"
    }
    print "</feedback>"
}' > "$work/dns-report.xml" 2> "$work/hosts"
port=$((20000 + RANDOM % 20000))
dnsmasq --keep-in-foreground --conf-file=/dev/null --port="$port" --listen-address=127.0.0.1 \
    --bind-interfaces --no-resolv --no-hosts --addn-hosts="$work/hosts" --local=/in-addr.arpa/ \
    --local=/bench.example/ --pid-file= --user=root --cache-size=20000 2>/dev/null &
dnsmasq_pid=$!
sleep 1
dns_db="$work/dns.duckdb"
"$bin/duckmarc" --db "$dns_db" -q ingest --no-dns "$work/dns-report.xml"
cold="$(timed "$bin/duckmarc" --db "$dns_db" -q enrich --refresh --dns-server "127.0.0.1:$port")"
warm="$(timed "$bin/duckmarc" --db "$dns_db" -q enrich --dns-server "127.0.0.1:$port")"
echo "SELECT count(*) FILTER (WHERE ptr_confirmed) AS n FROM source_names" > "$work/q.sql"
confirmed="$("$bin/duckmarc" --db "$dns_db" query "$work/q.sql" --format csv | tail -1)"
echo "reverse DNS, 10000 addresses against a local server: ${cold} s ($confirmed confirmed names); again with the cache warm ${warm} s"
