#!/usr/bin/env python3
"""Fills a Portcullis database as a busy week would leave it, for the growth benchmark
(bench/growth.sh): millions of token rows, most of them past use.

    fill.py sqlite PATH ROWS | fill.py postgres URL ROWS
    fill.py sizes sqlite PATH | fill.py sizes postgres URL

ROWS access-token records made over the last seven days, each living an hour (so all but
the last hour's are expired), and ROWS * 2 / 3 refresh tokens in families of two (a
rotated token and its child), three families in four ended (signed out: the head
revoked), the rest alive. Plus throttle counters and audit events, a tenth of ROWS each.
The SQL runs in the database (a recursive CTE, generate_series), not row by row here.
"""
import json
import sqlite3
import subprocess
import sys
import time

WEEK = 7 * 86400
TABLES = ["access_tokens", "refresh_tokens", "auth_attempts", "audit_events"]


def statements(rows, now, series):
    """The fill as SQL; `series(n)` is a FROM clause yielding n AS 1..n."""
    families = rows // 3
    return [
        f"""INSERT INTO access_tokens (jti, user_id, application_id, family_id, scope, created_at, expires_at)
            SELECT 'fill-a-' || n, (SELECT MIN(id) FROM users), (SELECT MIN(id) FROM applications),
                   'fill-f-' || (n % {families}), 'read write',
                   {now - WEEK} + (n * {WEEK} / {rows}), {now - WEEK} + (n * {WEEK} / {rows}) + 3600
            FROM {series(rows)}""",
        # The rotated (used) token of each family, then its head; a family ended when its
        # head is revoked.
        f"""INSERT INTO refresh_tokens (token_hash, family_id, user_id, application_id, scope, created_at,
                                        expires_at, used_at)
            SELECT 'fill-r-' || n, 'fill-f-' || n, (SELECT MIN(id) FROM users), (SELECT MIN(id) FROM applications),
                   'read write', {now - WEEK} + (n * {WEEK} / {families}),
                   {now - WEEK} + (n * {WEEK} / {families}) + 2592000, {now - WEEK} + (n * {WEEK} / {families}) + 1800
            FROM {series(families)}""",
        f"""INSERT INTO refresh_tokens (token_hash, family_id, user_id, application_id, scope, created_at,
                                        expires_at, revoked_at)
            SELECT 'fill-h-' || n, 'fill-f-' || n, (SELECT MIN(id) FROM users), (SELECT MIN(id) FROM applications),
                   'read write', {now - WEEK} + (n * {WEEK} / {families}) + 1800,
                   {now - WEEK} + (n * {WEEK} / {families}) + 2593800,
                   CASE WHEN n % 4 = 0 THEN NULL ELSE {now - WEEK} + (n * {WEEK} / {families}) + 3600 END
            FROM {series(families)}""",
        f"""INSERT INTO auth_attempts (kind, subject, created_at)
            SELECT 'login_address', '198.51.100.' || (n % 250), {now - WEEK} + (n * {WEEK} / {rows // 10})
            FROM {series(rows // 10)}""",
        f"""INSERT INTO audit_events (created_at, action, target_type, target_id, detail)
            SELECT {now - WEEK} + (n * {WEEK} / {rows // 10}), 'login.password', 'application', 'fill', ''
            FROM {series(rows // 10)}""",
    ]


def sqlite_series(n):
    return f"(WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {n}) SELECT n FROM seq)"


def postgres_series(n):
    return f"generate_series(1::bigint, {n}) AS n"


def psql(url, sql):
    return subprocess.run(["psql", url, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          check=True, capture_output=True, text=True).stdout


def sizes(backend, target):
    counts = {}
    for table in TABLES:
        sql = f"SELECT COUNT(*) FROM {table}"
        if backend == "sqlite":
            with sqlite3.connect(target) as db:
                counts[table] = db.execute(sql).fetchone()[0]
        else:
            counts[table] = int(psql(target, sql).strip())
    return counts


def main():
    if sys.argv[1] == "sizes":
        print(json.dumps(sizes(sys.argv[2], sys.argv[3])))
        return
    backend, target, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    now = int(time.time())
    started = time.monotonic()
    if backend == "sqlite":
        with sqlite3.connect(target) as db:
            for sql in statements(rows, now, sqlite_series):
                db.execute(sql)
    else:
        for sql in statements(rows, now, postgres_series):
            psql(target, sql)
        psql(target, "VACUUM ANALYZE")
    print(json.dumps({"filled_s": round(time.monotonic() - started, 1), "sizes": sizes(backend, target)}))


if __name__ == "__main__":
    main()
