#!/bin/sh
# Turns on the HTTPS listener when the certificate is mounted, and refuses to start
# an HTTPS-only proxy (staging, prod) without one: plain HTTP there would carry
# passwords and tokens in clear.
set -e
PEM=/run/secrets/proxy_tls.pem
if [ -s "$PEM" ]; then
    export PROXY_TLS=1
elif [ -n "$PROXY_HTTPS_ONLY" ]; then
    echo "error: PROXY_HTTPS_ONLY is set but no certificate at $PEM (mount the environment's PEM, certificate and key)" >&2
    exit 1
fi
export PROXY_LOGIN_RATE="${PROXY_LOGIN_RATE:-20}"
exec "$@"
