//! Linking a provider identity to a local user (SPEC §3): an existing link wins; then a
//! provider-verified email matching a user; an unverified match is refused; otherwise a
//! new user with an unusable password.

use crate::db::{self, is_unique_violation, Writer};
use crate::error::ApiError;
use crate::providers::Profile;
use crate::store::social::{NewSocialAccount, SocialAccount};
use crate::store::users::{NewUser, User};
use crate::tokens::sealed;

/// A verified profile signing in (the browser's "Continue with Google"): the linked (or new) user, refused when disabled, with
/// the sign-in time recorded. Run it inside the caller's transaction, so a refusal
/// keeps no new link.
pub fn sign_in(
    conn: &mut Writer<'_>,
    profile: &Profile,
    sealed_refresh_token: Option<&str>,
) -> Result<User, ApiError> {
    let user = link_or_create(conn, profile, sealed_refresh_token)?;
    if !user.is_active {
        return Err(ApiError::invalid_grant("The user account is disabled."));
    }
    User::touch_last_login(conn, user.id, crate::time::now())?;
    Ok(user)
}

/// The provider's refresh token, if it gave one, sealed for the link's column.
pub fn seal_refresh_token(secret: &secrecy::SecretString, profile: &Profile) -> Option<String> {
    use secrecy::ExposeSecret;
    let token = profile.refresh_token.as_ref()?;
    let context = sealed::link_context(profile.provider, &profile.uid);
    Some(sealed::seal(secret, &context, token.expose_secret()))
}

/// `sealed_refresh_token`, when the provider gave one, is kept on the link.
pub fn link_or_create(
    conn: &mut Writer<'_>,
    profile: &Profile,
    sealed_refresh_token: Option<&str>,
) -> Result<User, ApiError> {
    match returning(conn, profile)? {
        Some((link, user)) => {
            update_link(conn, &link, profile, sealed_refresh_token)?;
            Ok(user)
        }
        None => create_link(conn, profile, sealed_refresh_token),
    }
}

/// The link and user of a returning identity, the common case: one query.
pub fn returning(
    conn: &mut Writer<'_>,
    profile: &Profile,
) -> Result<Option<(SocialAccount, User)>, ApiError> {
    Ok(SocialAccount::find_with_user(conn, profile.provider, &profile.uid)?)
}

/// Keeps a returning identity's link current; no write unless the profile changed or
/// a provider refresh token came along.
pub fn update_link(
    conn: &mut Writer<'_>,
    link: &SocialAccount,
    profile: &Profile,
    sealed_refresh_token: Option<&str>,
) -> Result<(), ApiError> {
    let extra = profile.extra.to_string();
    if link.extra_data != extra {
        SocialAccount::set_extra(conn, link.id, &extra)?;
    }
    if let Some(sealed) = sealed_refresh_token {
        SocialAccount::set_refresh_token(conn, link.id, sealed)?;
    }
    Ok(())
}

/// A first sign-in of `profile`: links it to the user with its verified email, or to a
/// new user. It may race another request for the same identity: the savepoint lets the
/// loser roll back its insert and find the winner's link.
pub fn create_link(
    conn: &mut Writer<'_>,
    profile: &Profile,
    sealed_refresh_token: Option<&str>,
) -> Result<User, ApiError> {
    let attempt = |conn: &mut Writer<'_>| {
        db::write_transaction(conn, |conn| {
            let user = link_once(conn, profile)?;
            if let Some(sealed) = sealed_refresh_token {
                if let Some(link) = SocialAccount::find(conn, profile.provider, &profile.uid)? {
                    SocialAccount::set_refresh_token(conn, link.id, sealed)?;
                }
            }
            Ok(user)
        })
    };
    match attempt(conn) {
        Err(LinkError::Db(e)) if is_unique_violation(&e) => attempt(conn).map_err(ApiError::from),
        other => other.map_err(ApiError::from),
    }
}

enum LinkError {
    Db(diesel::result::Error),
    Api(ApiError),
}

impl From<diesel::result::Error> for LinkError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e)
    }
}

impl From<LinkError> for ApiError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Db(e) => e.into(),
            LinkError::Api(e) => e,
        }
    }
}

fn link_once(conn: &mut Writer<'_>, profile: &Profile) -> Result<User, LinkError> {
    let extra = profile.extra.to_string();
    if let Some(link) = SocialAccount::find(conn, profile.provider, &profile.uid)? {
        SocialAccount::set_extra(conn, link.id, &extra)?;
        return User::find(conn, link.user_id)?.ok_or(LinkError::Db(diesel::result::Error::NotFound));
    }
    if let Some(link) = email_keyed_google_link(conn, profile)? {
        SocialAccount::rekey(conn, link.id, &profile.uid, &extra)?;
        return User::find(conn, link.user_id)?.ok_or(LinkError::Db(diesel::result::Error::NotFound));
    }
    let email = profile.email.as_deref().filter(|e| !e.is_empty());
    let existing = match email {
        Some(email) => User::find_by_email(conn, email)?,
        None => None,
    };
    let user = match existing {
        Some(_) if !profile.email_verified => {
            return Err(LinkError::Api(ApiError::invalid_grant(
                "An account with this email already exists, and the provider has not verified the email; \
                 sign in with the existing account first.",
            )));
        }
        Some(user) => {
            // The provider proved the address the account holds.
            if !user.email_verified {
                User::mark_email_verified(conn, user.id)?;
            }
            User { email_verified: true, ..user }
        }
        None => {
            let base = email
                .map(|e| e.split('@').next().unwrap_or_default().to_owned())
                .unwrap_or_else(|| format!("{}{}", profile.first_name, profile.last_name));
            let username = User::unique_username(conn, &base)?;
            User::insert(
                conn,
                &NewUser {
                    // An unverified email is kept with the link, not on the account.
                    email: email.filter(|_| profile.email_verified),
                    username: &username,
                    password_hash: None,
                    first_name: &profile.first_name,
                    last_name: &profile.last_name,
                    is_active: true,
                    is_staff: false,
                    date_joined: crate::time::now(),
                    email_verified: email.is_some() && profile.email_verified,
                },
            )?
        }
    };
    SocialAccount::insert(
        conn,
        &NewSocialAccount {
            user_id: user.id,
            provider: profile.provider,
            uid: &profile.uid,
            extra_data: &extra,
            created_at: crate::time::now(),
        },
    )?;
    Ok(user)
}

/// python-social-auth keys Google links by email unless `USE_UNIQUE_USER_ID` was set, so a
/// link imported from Django may hold the email where we keep Google's `sub`. The first
/// Google sign-in whose email Google verified finds it by that email and re-keys it to
/// the `sub`, after which it is an ordinary link.
fn email_keyed_google_link(
    conn: &mut Writer<'_>,
    profile: &Profile,
) -> Result<Option<SocialAccount>, LinkError> {
    let Some(email) = profile.email.as_deref().filter(|_| profile.email_verified) else { return Ok(None) };
    if profile.provider != crate::providers::google::NAME {
        return Ok(None);
    }
    if let Some(link) = SocialAccount::find(conn, profile.provider, email)? {
        return Ok(Some(link));
    }
    // Google answers with the address as its owner wrote it; Django may have kept it lower.
    let lower = email.to_lowercase();
    if lower == email {
        return Ok(None);
    }
    Ok(SocialAccount::find(conn, profile.provider, &lower)?)
}
