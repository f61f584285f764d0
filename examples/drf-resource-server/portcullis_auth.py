"""Django REST Framework authentication for access tokens issued by Portcullis.

Two kinds of Bearer token reach an API during and after a move from drf-social-oauth2:

* Portcullis's own access tokens, EdDSA-signed JWTs (`typ` `at+jwt`). They are verified here, against the
  server's published keys, without a call to the server: signature, `iss`, `aud` (the issuer) and `exp`.
  A revoked JWT therefore keeps working here until it expires (an hour by default). Set
  `PORTCULLIS_INTROSPECT_EVERY_REQUEST = True` where a revocation must take effect at once.
* Opaque tokens that `portcullis import-django` brought over from django-oauth-toolkit. Only the server can
  tell whether one is live, so they are sent to `/auth/introspect` (RFC 7662), and its answer is kept
  for a short while (`PORTCULLIS_INTROSPECTION_CACHE_SECONDS`, 30 by default) so that a burst of requests
  costs one round trip.

`sub` is the user id, which after the import is the id of this project's `auth_user` row. A
`client_credentials` token has no user: its `sub` is the client id. It authenticates as `AnonymousUser`,
with `request.auth.client_id` set, so views guarded by `IsAuthenticated` answer 403 to it and views meant for
other services can let it through with `ReadWriteScope` alone.
"""

import hashlib
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote_plus

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission

ALGORITHMS = ["EdDSA"]
ACCESS_TOKEN_TYPES = {"at+jwt", "application/at+jwt"}
NETWORK_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class PortcullisToken:
    """What `request.auth` holds once a token is accepted."""

    subject: str
    client_id: str
    scope: frozenset
    expires_at: int
    # "jwt" when checked locally, "introspection" when the server vouched for it.
    checked_by: str

    @property
    def is_client(self):
        """True for a `client_credentials` token, which acts for an application, not a user."""
        return self.subject == self.client_id


class PortcullisUnavailable(exceptions.APIException):
    """The server could not be asked (keys or introspection): not the client's fault, so not a 401."""

    status_code = 503
    default_detail = "The authorization server did not answer."
    default_code = "temporarily_unavailable"


def _refused(why):
    return exceptions.AuthenticationFailed(why, code="invalid_token")


_jwks_clients = {}
_jwks_lock = threading.Lock()


def _jwks_client(issuer):
    """One key client per issuer for the process: it keeps the keys and refetches on an unknown `kid`."""
    with _jwks_lock:
        client = _jwks_clients.get(issuer)
        if client is None:
            client = jwt.PyJWKClient(
                issuer + "/.well-known/jwks.json",
                cache_keys=True,
                # The server publishes the set with max-age=300.
                lifespan=300,
                timeout=NETWORK_TIMEOUT_SECONDS,
            )
            _jwks_clients[issuer] = client
        return client


def _issuer():
    return settings.PORTCULLIS_ISSUER.rstrip("/")


def _looks_like_jwt(raw):
    return raw.count(".") == 2


def verify_jwt(raw):
    """The claims of a Portcullis access token, checked locally; AuthenticationFailed otherwise."""
    issuer = _issuer()
    try:
        header = jwt.get_unverified_header(raw)
    except jwt.InvalidTokenError:
        raise _refused("The token is malformed.")
    # An ID token is signed by the same server; only an access token may open the API.
    if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
        raise _refused("The token is not an access token.")
    try:
        key = _jwks_client(issuer).get_signing_key_from_jwt(raw)
    except jwt.PyJWKClientConnectionError:
        raise PortcullisUnavailable()
    except (jwt.PyJWKClientError, jwt.InvalidTokenError):
        raise _refused("The token was not signed by a known key.")
    try:
        return jwt.decode(
            raw,
            key.key,
            algorithms=ALGORITHMS,
            issuer=issuer,
            audience=issuer,
            options={"require": ["iss", "aud", "exp", "sub", "client_id"]},
        )
    except jwt.ExpiredSignatureError:
        raise _refused("The token has expired.")
    except jwt.InvalidTokenError:
        raise _refused("The token is invalid.")


def introspect(raw):
    """The server's RFC 7662 answer about a token, kept briefly in the cache, keyed by the token's hash."""
    cache_key = "portcullis:introspect:" + hashlib.sha256(raw.encode()).hexdigest()
    every_request = getattr(settings, "PORTCULLIS_INTROSPECT_EVERY_REQUEST", False)
    if not every_request:
        answer = cache.get(cache_key)
        if answer is not None:
            return answer
    # RFC 6749 §2.3.1: the client id and secret are form-encoded before they go into Basic.
    credentials = (
        quote_plus(settings.PORTCULLIS_INTROSPECTION_CLIENT_ID),
        quote_plus(settings.PORTCULLIS_INTROSPECTION_CLIENT_SECRET),
    )
    try:
        response = requests.post(
            _issuer() + "/auth/introspect",
            data={"token": raw, "token_type_hint": "access_token"},
            auth=credentials,
            timeout=NETWORK_TIMEOUT_SECONDS,
        )
    except requests.RequestException:
        raise PortcullisUnavailable()
    if response.status_code != 200:
        # 401 here means this API's own client credentials are wrong: an operator's problem, not the caller's.
        raise PortcullisUnavailable()
    try:
        answer = response.json()
    except ValueError:
        raise PortcullisUnavailable()
    if not every_request:
        seconds = getattr(settings, "PORTCULLIS_INTROSPECTION_CACHE_SECONDS", 30)
        if answer.get("active") is True:
            seconds = min(seconds, int(answer.get("exp", 0)) - int(time.time()))
        if seconds > 0:
            cache.set(cache_key, answer, seconds)
    return answer


def claims_from_introspection(raw):
    answer = introspect(raw)
    if answer.get("active") is not True:
        raise _refused("The token is not active.")
    # A refresh token introspects as active too, but it is not a Bearer credential.
    if answer.get("token_type") == "refresh_token":
        raise _refused("The token is not an access token.")
    if answer.get("iss", _issuer()).rstrip("/") != _issuer():
        raise _refused("The token was issued by another server.")
    if not answer.get("sub") or not answer.get("client_id"):
        raise _refused("The token is invalid.")
    return answer


class PortcullisAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>` checked as described above; `(user, PortcullisToken)` on success."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        # Tells authenticate_header that a token came and was refused, so the challenge says why.
        request._portcullis_token_seen = True
        if len(parts) != 2:
            raise _refused("The Authorization header must be 'Bearer <token>'.")
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise _refused("The token is malformed.")

        if getattr(settings, "PORTCULLIS_INTROSPECT_EVERY_REQUEST", False) or not _looks_like_jwt(raw):
            claims, checked_by = claims_from_introspection(raw), "introspection"
        else:
            claims, checked_by = verify_jwt(raw), "jwt"

        scope = claims.get("scope", "")
        token = PortcullisToken(
            subject=str(claims["sub"]),
            client_id=str(claims["client_id"]),
            scope=frozenset(scope.split() if isinstance(scope, str) else ()),
            expires_at=int(claims.get("exp", 0)),
            checked_by=checked_by,
        )
        if token.is_client:
            return AnonymousUser(), token
        return self._user(token.subject), token

    @staticmethod
    def _user(subject):
        try:
            user_id = int(subject)
        except ValueError:
            raise _refused("The token's subject is not a user id.")
        user = get_user_model().objects.filter(pk=user_id).first()
        if user is None or not user.is_active:
            raise _refused("The token's user is unknown here or inactive.")
        return user

    def authenticate_header(self, request):
        if getattr(request, "_portcullis_token_seen", False):
            return 'Bearer realm="api", error="invalid_token"'
        return 'Bearer realm="api"'


class ReadWriteScope(BasePermission):
    """Portcullis's counterpart of django-oauth-toolkit's TokenHasReadWriteScope: `read` for safe methods,
    `write` for the others."""

    def has_permission(self, request, view):
        token = request.auth
        if not isinstance(token, PortcullisToken):
            return False
        return ("read" if request.method in SAFE_METHODS else "write") in token.scope
