ALTER TABLE users DROP COLUMN updated_at;
DROP TABLE openid_sign_ins;
ALTER TABLE authorization_codes DROP COLUMN auth_time;
ALTER TABLE authorization_codes DROP COLUMN nonce;
ALTER TABLE applications DROP COLUMN id_token_signed_response_alg;
ALTER TABLE applications DROP COLUMN post_logout_redirect_uris;
