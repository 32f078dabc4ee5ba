#!/usr/bin/env bash
# IMAP fetch benchmark: 10,000 report messages in a real Dovecot on 127.0.0.1 (needs
# dovecot-imapd), fetched by one `duckmarc fetch` run; prints the time and the peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/duckmarc-target}"
cargo test --release --locked --test it -- --ignored --nocapture --exact \
    imap::bench_fetch_ten_thousand_messages 2>&1 | grep -E '^fetch:|panicked|FAILED'
