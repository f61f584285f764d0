"""Settings of a small API in the shape a drf-social-oauth2 project has, trusting Portcullis for sign-in.

Everything a deployment changes comes from the environment, so check.sh can point it at a throwaway
Portcullis. The block marked "Portcullis" is all a team moving off drf-social-oauth2 edits.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "notes",
]

MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "resource_server.urls"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB_PATH", str(BASE_DIR / "db.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

# Introspection answers are kept here; with several processes, point it at a shared cache (Redis, Memcached).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Portcullis -------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Was: oauth2_provider.contrib.rest_framework.OAuth2Authentication and
    # drf_social_oauth2.authentication.SocialAuthentication.
    "DEFAULT_AUTHENTICATION_CLASSES": ["portcullis_auth.PortcullisAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}
# The server's public base URL: the tokens' `iss` and `aud`, and where the keys and introspection live.
PORTCULLIS_ISSUER = os.environ.get("PORTCULLIS_ISSUER", "http://127.0.0.1:8000")
# A confidential application of this API's own, used only to ask /auth/introspect about opaque tokens.
PORTCULLIS_INTROSPECTION_CLIENT_ID = os.environ.get("PORTCULLIS_INTROSPECTION_CLIENT_ID", "")
PORTCULLIS_INTROSPECTION_CLIENT_SECRET = os.environ.get("PORTCULLIS_INTROSPECTION_CLIENT_SECRET", "")
# True: ask the server about every token, JWTs included, on every request (a revocation takes effect at
# once, at the price of one round trip per request). False: JWTs are checked locally until they expire.
PORTCULLIS_INTROSPECT_EVERY_REQUEST = os.environ.get("PORTCULLIS_INTROSPECT_EVERY_REQUEST", "") == "true"
