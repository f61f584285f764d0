"""The authentication class against a key and an introspection endpoint of our own making.

check.sh runs the example against a real Portcullis; these tests reach the cases it cannot produce: a token
signed with the trusted key but for another audience, issuer or type, an expired one, and an active opaque
token such as `import-django` leaves.
"""

import time
from unittest import mock

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import TestCase, override_settings
from rest_framework.test import APIClient

import portcullis_auth
from notes.models import Note

ISSUER = "https://auth.example.test"
KEY = Ed25519PrivateKey.generate()


class FakeKeys:
    """Stands in for PyJWKClient: knows one kid, the trusted key's."""

    def get_signing_key_from_jwt(self, raw):
        if jwt.get_unverified_header(raw).get("kid") != "trusted":
            raise jwt.PyJWKClientError("unknown kid")
        return mock.Mock(key=KEY.public_key())


def access_token(key=KEY, typ="at+jwt", **overrides):
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": ISSUER, "sub": "42", "client_id": "frontend", "scope": "read write",
              "iat": now, "exp": now + 600, "jti": "j1"}
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": "trusted", "typ": typ})


def introspection_answer(payload, status=200):
    return mock.Mock(status_code=status, json=mock.Mock(return_value=payload))


@override_settings(
    PORTCULLIS_ISSUER=ISSUER,
    PORTCULLIS_INTROSPECTION_CLIENT_ID="notes-api",
    PORTCULLIS_INTROSPECTION_CLIENT_SECRET="s3cret",
    PORTCULLIS_INTROSPECT_EVERY_REQUEST=False,
)
class PortcullisAuthenticationTests(TestCase):
    def setUp(self):
        cache.clear()
        self.user = User.objects.create(id=42, username="ada")
        Note.objects.create(owner=self.user, text="mine")
        Note.objects.create(owner=User.objects.create(id=7, username="grace"), text="not mine")
        keys = mock.patch.object(portcullis_auth, "_jwks_client", return_value=FakeKeys())
        keys.start()
        self.addCleanup(keys.stop)
        self.post = mock.patch.object(portcullis_auth.requests, "post").start()
        self.addCleanup(mock.patch.stopall)

    def get(self, path, token):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Bearer " + token)
        return client.get(path)

    def assert_refused(self, token):
        response = self.get("/api/me", token)
        self.assertEqual(response.status_code, 401, response.content)
        self.assertIn('error="invalid_token"', response["WWW-Authenticate"])

    def test_a_valid_jwt_is_the_user_with_the_sub_as_id_without_asking_the_server(self):
        response = self.get("/api/me", access_token())
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["username"], "ada")
        self.assertEqual([n["text"] for n in self.get("/api/notes", access_token()).json()], ["mine"])
        self.post.assert_not_called()

    def test_a_jwt_for_another_audience_is_refused(self):
        self.assert_refused(access_token(aud="https://other-api.example.test"))

    def test_a_jwt_of_another_issuer_is_refused(self):
        self.assert_refused(access_token(iss="https://evil.example.test"))

    def test_an_expired_jwt_is_refused(self):
        self.assert_refused(access_token(exp=int(time.time()) - 60))

    def test_an_id_token_is_not_an_access_token(self):
        self.assert_refused(access_token(typ="JWT"))

    def test_a_jwt_signed_with_another_key_is_refused(self):
        self.assert_refused(access_token(key=Ed25519PrivateKey.generate()))

    def test_a_jwt_whose_user_is_not_here_or_inactive_is_refused(self):
        self.assert_refused(access_token(sub="999"))
        User.objects.filter(id=42).update(is_active=False)
        self.assert_refused(access_token())

    def test_a_client_credentials_jwt_has_no_user(self):
        token = access_token(sub="billing", client_id="billing")
        self.assertEqual(self.get("/api/me", token).status_code, 403)
        stats = self.get("/api/notes/stats", token)
        self.assertEqual(stats.status_code, 200)
        self.assertEqual(stats.json(), {"notes": 2, "client_id": "billing"})

    def test_a_token_without_read_scope_may_not_read(self):
        self.assertEqual(self.get("/api/me", access_token(scope="write")).status_code, 403)

    def test_an_active_opaque_token_is_its_user_and_is_introspected_once(self):
        self.post.return_value = introspection_answer(
            {"active": True, "sub": "42", "client_id": "frontend", "scope": "read", "iss": ISSUER,
             "exp": int(time.time()) + 600, "token_type": "Bearer"})
        for _ in range(3):
            self.assertEqual(self.get("/api/me", "dotOpaqueToken123").json()["id"], 42)
        self.post.assert_called_once()
        _, kwargs = self.post.call_args
        self.assertEqual(kwargs["data"]["token"], "dotOpaqueToken123")
        self.assertEqual(kwargs["auth"], ("notes-api", "s3cret"))

    def test_an_inactive_opaque_token_is_refused(self):
        self.post.return_value = introspection_answer({"active": False})
        self.assert_refused("dotOpaqueToken123")

    def test_an_active_refresh_token_is_not_a_bearer_token(self):
        self.post.return_value = introspection_answer(
            {"active": True, "sub": "42", "client_id": "frontend", "scope": "read",
             "exp": int(time.time()) + 600, "token_type": "refresh_token"})
        self.assert_refused("pc_rt_abc_def")

    def test_an_unreachable_server_is_a_503_not_a_401(self):
        self.post.side_effect = portcullis_auth.requests.ConnectionError()
        self.assertEqual(self.get("/api/me", "dotOpaqueToken123").status_code, 503)

    @override_settings(PORTCULLIS_INTROSPECT_EVERY_REQUEST=True)
    def test_every_request_mode_asks_the_server_about_jwts_each_time(self):
        self.post.return_value = introspection_answer(
            {"active": True, "sub": "42", "client_id": "frontend", "scope": "read", "iss": ISSUER,
             "exp": int(time.time()) + 600, "token_type": "Bearer"})
        token = access_token()
        self.assertEqual(self.get("/api/me", token).status_code, 200)
        self.assertEqual(self.get("/api/me", token).status_code, 200)
        self.assertEqual(self.post.call_count, 2)
        self.post.return_value = introspection_answer({"active": False})
        self.assert_refused(token)
