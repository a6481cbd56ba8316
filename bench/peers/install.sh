#!/usr/bin/env bash
# Install the peer gateways the benchmark compares aigw with, into a throwaway directory that
# is never part of aigw's environment: LiteLLM's proxy (PyPI, its own venv) and Portkey's
# gateway (npm). Re-running is cheap; `rm -rf "$PEERS_DIR"` removes everything.
#
#   bench/peers/install.sh            # into .bench-peers/ (or $PEERS_DIR)
#
# Each peer is optional: a failed install is reported and the benchmark skips that peer.
set -uo pipefail

PEERS_DIR="${PEERS_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/.bench-peers}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$PEERS_DIR"
status=0

echo "== LiteLLM proxy -> $PEERS_DIR/litellm"
if [ ! -x "$PEERS_DIR/litellm/bin/litellm" ]; then
    "$PYTHON" -m venv "$PEERS_DIR/litellm" &&
        "$PEERS_DIR/litellm/bin/pip" install --quiet --upgrade pip &&
        # Some mirrors serve a certifi that litellm's pins refuse; let pip pick any recent one.
        "$PEERS_DIR/litellm/bin/pip" install --quiet 'litellm[proxy]' 'certifi>=2024' ||
        { echo "LiteLLM install failed"; status=1; }
fi
[ -x "$PEERS_DIR/litellm/bin/litellm" ] && "$PEERS_DIR/litellm/bin/pip" show litellm | grep -i '^version'

echo "== Portkey gateway -> $PEERS_DIR/portkey"
if [ ! -f "$PEERS_DIR/portkey/node_modules/@portkey-ai/gateway/package.json" ]; then
    mkdir -p "$PEERS_DIR/portkey" &&
        npm install --prefix "$PEERS_DIR/portkey" --no-audit --no-fund --silent @portkey-ai/gateway ||
        { echo "Portkey install failed"; status=1; }
fi
[ -f "$PEERS_DIR/portkey/node_modules/@portkey-ai/gateway/package.json" ] &&
    node -p "'version: ' + require('$PEERS_DIR/portkey/node_modules/@portkey-ai/gateway/package.json').version"
exit $status
