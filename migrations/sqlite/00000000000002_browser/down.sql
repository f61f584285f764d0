ALTER TABLE social_accounts DROP COLUMN provider_refresh_token;
DROP TABLE provider_logins;
DROP TABLE browser_sessions;
DROP TABLE authorization_codes;
