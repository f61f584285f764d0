//! Table definitions shared by both backends (see migrations/sqlite and migrations/postgres).
//!
//! Written by hand: `diesel print-schema` would describe SQLite's `INTEGER` ids as
//! `Integer`, while one schema for both backends needs them as `BigInt`.

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Nullable<Text>,
        username -> Text,
        password_hash -> Nullable<Text>,
        first_name -> Text,
        last_name -> Text,
        is_active -> Bool,
        is_staff -> Bool,
        date_joined -> BigInt,
        last_login -> Nullable<BigInt>,
        email_verified -> Bool,
        updated_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    applications (id) {
        id -> BigInt,
        client_id -> Text,
        secret_hash -> Nullable<Text>,
        name -> Text,
        client_type -> Text,
        grant_types -> Text,
        redirect_uris -> Text,
        skip_authorization -> Bool,
        owner_id -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        post_logout_redirect_uris -> Text,
        id_token_signed_response_alg -> Text,
    }
}

diesel::table! {
    /// SQLite only: a random stamp that triggers replace on every change to
    /// `applications` (migration 5).
    application_changes (id) {
        id -> BigInt,
        stamp -> BigInt,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> BigInt,
        token_hash -> Text,
        family_id -> Text,
        parent_id -> Nullable<BigInt>,
        user_id -> BigInt,
        application_id -> BigInt,
        scope -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    access_tokens (id) {
        id -> BigInt,
        jti -> Text,
        user_id -> Nullable<BigInt>,
        application_id -> BigInt,
        refresh_token_id -> Nullable<BigInt>,
        family_id -> Nullable<Text>,
        scope -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    signing_keys (id) {
        id -> BigInt,
        kid -> Text,
        algorithm -> Text,
        private_key -> Text,
        public_key -> Text,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
        publish_until -> Nullable<BigInt>,
        activates_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    server_secrets (name) {
        name -> Text,
        value -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    auth_attempts (id) {
        id -> BigInt,
        kind -> Text,
        subject -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    social_accounts (id) {
        id -> BigInt,
        user_id -> BigInt,
        provider -> Text,
        uid -> Text,
        extra_data -> Text,
        created_at -> BigInt,
        provider_refresh_token -> Nullable<Text>,
    }
}

diesel::table! {
    provider_logins (id) {
        id -> BigInt,
        state_hash -> Text,
        session_hash -> Text,
        backend -> Text,
        code_verifier -> Nullable<Text>,
        nonce -> Nullable<Text>,
        pending -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        created_at -> BigInt,
        actor_user_id -> Nullable<BigInt>,
        action -> Text,
        target_type -> Text,
        target_id -> Text,
        ip -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    authorization_codes (id) {
        id -> BigInt,
        code_hash -> Text,
        application_id -> BigInt,
        user_id -> BigInt,
        redirect_uri -> Text,
        scope -> Text,
        pkce -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        nonce -> Nullable<Text>,
        auth_time -> Nullable<BigInt>,
    }
}

diesel::table! {
    browser_sessions (id) {
        id -> BigInt,
        token_hash -> Text,
        user_id -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// What `import-django` brought over: a Django row's id and the local row it became.
    django_imports (kind, django_id) {
        kind -> Text,
        django_id -> BigInt,
        local_id -> BigInt,
        digest -> Text,
        imported_at -> BigInt,
    }
}

diesel::table! {
    /// Links mailed for a password reset, a verification or a change of address (migration 7).
    email_tokens (id) {
        id -> BigInt,
        purpose -> Text,
        token_hash -> Text,
        user_id -> BigInt,
        email -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Sign-ins that asked for `openid`: the authentication time of each family (migration 8).
    openid_sign_ins (family_id) {
        family_id -> Text,
        auth_time -> BigInt,
        created_at -> BigInt,
    }
}

diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(refresh_tokens -> applications (application_id));
diesel::joinable!(access_tokens -> applications (application_id));
diesel::joinable!(social_accounts -> users (user_id));
diesel::joinable!(email_tokens -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    applications,
    refresh_tokens,
    access_tokens,
    signing_keys,
    server_secrets,
    auth_attempts,
    social_accounts,
    audit_events,
    authorization_codes,
    browser_sessions,
    provider_logins,
    email_tokens,
    openid_sign_ins,
);
