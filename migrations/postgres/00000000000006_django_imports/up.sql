-- What `import-django` brought over, so that a re-run updates its own rows and tells them
-- apart from rows Portcullis made itself (a user whose id a Django user also has). `digest`
-- is a SHA-256 of the source row as last imported: an unchanged row is left as Portcullis
-- has it since (a re-keyed social link, a secret upgraded at first use).
CREATE TABLE django_imports (
    kind TEXT NOT NULL,
    django_id BIGINT NOT NULL,
    local_id BIGINT NOT NULL,
    digest TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (kind, django_id)
);
