DROP INDEX IF EXISTS refresh_tokens_parent;
