#!/usr/bin/env bash
# End-to-end check of the example against a real Portcullis built from this checkout.
#
# Builds a throwaway virtual environment, starts Portcullis on a fresh SQLite file and a free port, signs a
# user up, gives the example's `auth_user` the same id (as `portcullis import-django` would), starts the
# example twice (checking JWTs locally, and introspecting every request) and calls it with each kind of token.
# Needs python3 (3.10+), curl, PyPI, and either target/debug/portcullis or cargo. Exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
started=()
started_at=$SECONDS

cleanup() {
    for pid in "${started[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

say() { printf '%s\n' "$*" >&2; }

if [[ -n "${PORTCULLIS_BIN:-}" ]]; then
    portcullis="$PORTCULLIS_BIN"
elif [[ -x "$root/target/debug/portcullis" ]]; then
    portcullis="$root/target/debug/portcullis"
else
    say "building Portcullis (release)..."
    cargo build --release --quiet --manifest-path "$root/Cargo.toml"
    portcullis="$root/target/release/portcullis"
fi

say "installing the pinned requirements in a throwaway venv..."
python3 -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
json_field() { "$py" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# Waits for a server's first answer; the process is checked too, so a crash fails fast with its log.
wait_for() {
    local url="$1" pid="$2" log="$3"
    for _ in $(seq 100); do
        if curl -s -o /dev/null "$url"; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then say "server died:"; cat "$log" >&2; return 1; fi
        sleep 0.1
    done
    say "no answer from $url"; cat "$log" >&2; return 1
}

# --- Portcullis ---------------------------------------------------------------------------------------------
pc_port="$(free_port)"
export DATABASE_URL="sqlite://$work/portcullis.db"
export PORTCULLIS_BIND="127.0.0.1:$pc_port"
export PORTCULLIS_ISSUER="http://127.0.0.1:$pc_port"
export RUST_LOG=warn
issuer="$PORTCULLIS_ISSUER"

app_json() { "$portcullis" app create --client-type confidential --json --name "$1" --grant-types "$2"; }
frontend="$(app_json frontend password,refresh_token)"
notes_api="$(app_json notes-api client_credentials)"
billing="$(app_json billing client_credentials)"
fe_id="$(json_field client_id <<<"$frontend")"; fe_secret="$(json_field client_secret <<<"$frontend")"
api_id="$(json_field client_id <<<"$notes_api")"; api_secret="$(json_field client_secret <<<"$notes_api")"
bill_id="$(json_field client_id <<<"$billing")"; bill_secret="$(json_field client_secret <<<"$billing")"

"$portcullis" serve >"$work/portcullis.log" 2>&1 &
started+=($!)
wait_for "$issuer/healthz" "$!" "$work/portcullis.log"

register() {
    curl -sf -X POST "$issuer/auth/register" -H 'Content-Type: application/json' \
        -d "{\"email\": \"$1\", \"password\": \"correct horse battery\"}" | json_field id
}
# A first sign-up takes id 1, so the user of the checks has an id the example's own sequence would not give.
decoy_id="$(register grace@example.com)"
ada_id="$(register ada@example.com)"

token() {
    curl -sf -X POST "$issuer/auth/token" "$@"
}
password_grant="$(token -u "$fe_id:$fe_secret" -d grant_type=password -d username=ada@example.com \
    -d 'password=correct horse battery')"
jwt="$(json_field access_token <<<"$password_grant")"
refresh="$(json_field refresh_token <<<"$password_grant")"
service_jwt="$(token -u "$bill_id:$bill_secret" -d grant_type=client_credentials | json_field access_token)"

# --- the example ----------------------------------------------------------------------------------------------
cd "$here"
export DJANGO_DB_PATH="$work/example.db"
export PORTCULLIS_INTROSPECTION_CLIENT_ID="$api_id" PORTCULLIS_INTROSPECTION_CLIENT_SECRET="$api_secret"
"$py" manage.py migrate --verbosity 0
# The rows an import leaves: the same id as in Portcullis, and another user under the decoy's id.
"$py" manage.py shell --verbosity 0 -c "
from django.contrib.auth.models import User
from notes.models import Note
ada = User.objects.create(id=$ada_id, username='ada', email='ada@example.com')
other = User.objects.create(id=$decoy_id, username='grace', email='grace@example.com')
Note.objects.create(owner=ada, text='first note of ada')
Note.objects.create(owner=ada, text='second note of ada')
Note.objects.create(owner=other, text='not for ada')
"

start_example() {
    local port="$1" log="$2"
    "$py" manage.py runserver "127.0.0.1:$port" --noreload >"$log" 2>&1 &
    started+=($!)
    wait_for "http://127.0.0.1:$port/api/me" "$!" "$log"
}
ex_port="$(free_port)"
start_example "$ex_port" "$work/example.log"
strict_port="$(free_port)"
PORTCULLIS_INTROSPECT_EVERY_REQUEST=true start_example "$strict_port" "$work/example-strict.log"
example="http://127.0.0.1:$ex_port"
strict="http://127.0.0.1:$strict_port"

# --- the checks -------------------------------------------------------------------------------------------------
passed=0
failed=0
ok() { passed=$((passed + 1)); say "ok    $1"; }
fail() { failed=$((failed + 1)); say "FAIL  $1"; }

# call URL [TOKEN]: sets $status, $body and $challenge (the WWW-Authenticate header).
call() {
    local args=(-s -o "$work/body" -D "$work/headers" -w '%{http_code}' "$1")
    if [[ $# -gt 1 ]]; then args+=(-H "Authorization: Bearer $2"); fi
    status="$(curl "${args[@]}")"
    body="$(cat "$work/body")"
    challenge="$(grep -i '^www-authenticate:' "$work/headers" | tr -d '\r' || true)"
}
expect() {
    local name="$1" want="$2" check="${3:-true}"
    if [[ "$status" == "$want" ]] && eval "$check"; then ok "$name"; else fail "$name (status $status, body $body)"; fi
}
has() { "$py" -c "import json, sys; d = json.loads(sys.argv[2]); sys.exit(0 if ($1) else 1)" - "$body"; }
introspections() {
    curl -s "$issuer/metrics" | awk '/^portcullis_http_requests_total/ && /introspect/ { n += $NF } END { print n + 0 }'
}

if "$py" manage.py test --verbosity 0 >"$work/unit.log" 2>&1; then ok "the example's own tests (mocked keys and introspection)"
else cat "$work/unit.log" >&2; fail "the example's own tests"; fi

call "$example/api/me" "$jwt"
expect "password-grant JWT reads /api/me as the Django user with the same id" 200 \
    "has \"d['id'] == $ada_id and d['username'] == 'ada'\""
call "$example/api/notes" "$jwt"
expect "the same JWT lists that user's notes and only them" 200 \
    "has \"sorted(n['text'] for n in d) == ['first note of ada', 'second note of ada']\""

call "$example/api/me"
expect "no token: 401 with a Bearer challenge" 401 '[[ "$challenge" == *Bearer* ]]'
call "$example/api/me" "not.a.jwt"
expect "garbage JWT: 401 invalid_token" 401 '[[ "$challenge" == *invalid_token* ]]'

forged() {
    "$py" - "$jwt" "$1" <<'EOF'
import json, sys, time
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
real, audience = sys.argv[1], sys.argv[2]
claims = jwt.decode(real, options={"verify_signature": False})
claims.update(aud=audience, exp=int(time.time()) + 600)
header = jwt.get_unverified_header(real)
print(jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA",
                 headers={"kid": header["kid"], "typ": "at+jwt"}))
EOF
}
call "$example/api/me" "$(forged https://elsewhere.example)"
expect "JWT for another audience, signed with another key: 401" 401
call "$example/api/me" "$(forged "$issuer")"
expect "JWT with our claims and kid but another key: 401" 401

# An imported django-oauth-toolkit token is opaque. Without the importer no active one exists here, so an
# unknown opaque token stands in: the server says inactive, and the example must refuse it.
before="$(introspections)"
call "$example/api/me" "dOtOpAqUeTokenThatPortcullisNeverIssued"
expect "opaque token the server calls inactive: 401" 401
call "$example/api/me" "dOtOpAqUeTokenThatPortcullisNeverIssued"
expect "the same opaque token again: 401" 401
after="$(introspections)"
if [[ $((after - before)) == 1 ]]; then ok "opaque token introspected once, then answered from the cache"
else fail "opaque token introspected $((after - before)) times, expected 1"; fi

call "$example/api/me" "$refresh"
expect "a refresh token as Bearer (active in introspection): 401" 401

call "$example/api/me" "$service_jwt"
expect "client_credentials JWT on a user view: 403 (authenticated, no user)" 403
call "$example/api/notes/stats" "$service_jwt"
expect "client_credentials JWT on a service view: 200 with its client id" 200 \
    "has \"d['client_id'] == '$bill_id' and d['notes'] == 3\""

call "$strict/api/me" "$jwt"
expect "introspect-every-request mode: live JWT reads /api/me" 200 "has \"d['id'] == $ada_id\""
curl -sf -X POST "$issuer/auth/revoke-token" -u "$fe_id:$fe_secret" -d "token=$refresh" >/dev/null
call "$strict/api/me" "$jwt"
expect "introspect-every-request mode: revoked JWT is refused at once" 401
call "$example/api/me" "$jwt"
expect "default mode: revoked JWT still accepted until it expires (documented)" 200

say ""
say "drf-resource-server check: $((SECONDS - started_at)) s"
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
