#!/bin/sh
# curl.sh - the curl commands of docs/serve.md, one after another, against
# a running `mnemo serve` with the kinds of tests/recovery/plugin_serve.c
# ("tally": type 1 counts, type 2 asks for the count) or your own.
#
#   MNEMO_URL=http://127.0.0.1:8700 MNEMO_TOKEN=... examples/http/curl.sh
#
# Environment: MNEMO_URL (default http://127.0.0.1:8700), MNEMO_TOKEN (or
# the first line of the file MNEMO_TOKEN_FILE, default ./tokens),
# MNEMO_KIND (default tally), MNEMO_KEY (default alice), MNEMO_CACERT (a
# CA file for an https URL). Each reply is printed after its command; the
# script stops at the first transfer that fails (not at an HTTP error).
set -eu
url=${MNEMO_URL:-http://127.0.0.1:8700}
kind=${MNEMO_KIND:-tally}
key=${MNEMO_KEY:-alice}
token=${MNEMO_TOKEN:-$(head -n 1 "${MNEMO_TOKEN_FILE:-tokens}")}
T="Authorization: Bearer $token"
tls=""
[ -n "${MNEMO_CACERT:-}" ] && tls="--cacert $MNEMO_CACERT"
a="$url/v1/actors/$kind/$key"

run() {
	echo "\$ curl $*" | sed "s/Bearer [^ ']*/Bearer TOKEN/"
	# shellcheck disable=SC2086
	curl -sS $tls -w ' [%{http_code}]\n' "$@"
}

# Fire-and-forget (202), stored (201), idempotent (201, then 200 for the
# retry, 409 for the same key with another message).
run -H "$T" -d '{"type":1,"json":{"text":"hello"}}' "$a/messages"
run -H "$T" -d '{"type":1,"payload":"aGk="}' "$a/messages?durable=1"
ik="order-$$"
run -H "$T" -H "Idempotency-Key: $ik" -d '{"type":1,"json":5}' "$a/messages"
run -H "$T" -H "Idempotency-Key: $ik" -d '{"type":1,"json":5}' "$a/messages"
run -H "$T" -H "Idempotency-Key: $ik" -d '{"type":1,"json":6}' "$a/messages"
# Ask (the reply), the actor, the listing.
run -H "$T" -d '{"type":2}' "$a/ask?timeout_ms=5000"
run -H "$T" "$a"
run -H "$T" "$url/v1/actors?kind=$kind&limit=10"
# No token: 401. Health, readiness and metrics need none.
run "$url/v1/actors"
run "$url/healthz"
run "$url/readyz"
run "$url/metrics" -o /dev/null
