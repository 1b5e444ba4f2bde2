#!/bin/sh
# Run one BadgeChain node in a container: `badgechain-node node start [OPTIONS]`.
#
# On first start it makes the home (`badgechain init $BADGECHAIN_INIT`); the key's passphrase
# comes from the file BADGECHAIN_PASSPHRASE_FILE names (a compose secret), never from the
# image. `--bootstrap NAME:PORT` may name a compose service: it is resolved to IP:PORT here,
# since the node takes a DHT contact as an address. Any other command runs as `badgechain ...`.
set -eu

: "${BADGECHAIN_HOME:=/data}"
: "${BADGECHAIN_DHT_HOST:=0.0.0.0}"
export BADGECHAIN_HOME

if [ -n "${BADGECHAIN_PASSPHRASE_FILE:-}" ]; then
    BADGECHAIN_PASSPHRASE="$(cat "$BADGECHAIN_PASSPHRASE_FILE")"
    export BADGECHAIN_PASSPHRASE
fi

resolve() {  # NAME:PORT -> IP:PORT, waiting up to 60 s for the name to exist
    host="${1%:*}"
    port="${1##*:}"
    tries=0
    until address="$(python -c 'import socket, sys; print(socket.gethostbyname(sys.argv[1]))' "$host" 2>/dev/null)"; do
        tries=$((tries + 1))
        if [ "$tries" -ge 60 ]; then
            echo "badgechain-node: cannot resolve bootstrap host $host" >&2
            exit 1
        fi
        sleep 1
    done
    echo "$address:$port"
}

if [ "${1:-}" = "node" ]; then
    if [ ! -f "$BADGECHAIN_HOME/config.toml" ]; then
        if [ -z "${BADGECHAIN_PASSPHRASE:-}" ]; then
            echo "badgechain-node: set BADGECHAIN_PASSPHRASE_FILE (a secret) to encrypt the key" >&2
            exit 2
        fi
        # BADGECHAIN_INIT holds plain options (no spaces inside values): split it on purpose.
        # shellcheck disable=SC2086
        badgechain init ${BADGECHAIN_INIT:-}
    fi
    resolve_next=false
    for arg do
        shift
        if [ "$resolve_next" = true ]; then
            arg="$(resolve "$arg")"
        fi
        resolve_next=false
        if [ "$arg" = "--bootstrap" ]; then
            resolve_next=true
        fi
        set -- "$@" "$arg"
    done
    if [ "${2:-}" = "start" ]; then
        # Other containers reach the DHT at this container's address, not at its loopback.
        set -- "$@" --dht-host "$BADGECHAIN_DHT_HOST"
    fi
fi

exec badgechain "$@"
