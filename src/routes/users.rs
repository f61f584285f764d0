//! Users: sign-up, the signed-in user's profile and password, and the staff listing.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::account::verification;
use crate::auth::bearer::{user_bearer_with_links, UserBearer};
use crate::auth::client::ClientCredentials;
use crate::auth::client_auth::Needs;
use crate::auth::client_ip::client_ip_text;
use crate::auth::passwords;
use crate::db::{self, is_unique_violation, Writer};
use crate::domain::{Email, GrantType, NewPassword, PasswordRules, Scope, NAME_MAX};
use crate::error::{ApiError, FieldErrors};
use crate::params::Params;
use crate::respond::no_store;
use crate::state::AppState;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::tokens::revoke;
use crate::store::users::{NewUser, User, UserView};
use crate::store::Page;
use crate::throttle;
use crate::tokens::{Family, Grant, TokenResponse};

#[derive(Serialize)]
struct SocialView {
    provider: String,
    uid: String,
}

#[derive(Serialize)]
struct Me {
    #[serde(flatten)]
    user: UserView,
    social: Vec<SocialView>,
}

#[derive(Serialize)]
struct Registered {
    #[serde(flatten)]
    user: UserView,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    tokens: Option<TokenResponse>,
}

fn name_field(params: &Params, key: &'static str, errors: &mut FieldErrors) -> String {
    let value = params.get(key).unwrap_or("").trim().to_owned();
    if value.chars().count() > NAME_MAX {
        errors
            .entry(key)
            .or_default()
            .push(format!("Ensure this field has no more than {NAME_MAX} characters."));
    }
    value
}

fn valid_username(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= NAME_MAX
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '@'))
}

pub async fn register(
    req: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::new();
    let email = match params.get("email") {
        None => {
            errors.entry("email").or_default().push("This field is required.".into());
            None
        }
        Some(raw) => {
            Email::parse(raw).map_err(|e| errors.entry("email").or_default().push(e.to_string())).ok()
        }
    };
    let username = params.get("username").map(|u| u.trim().to_owned());
    if username.as_deref().is_some_and(|u| !valid_username(u)) {
        errors
            .entry("username")
            .or_default()
            .push(format!("Enter a valid username: letters, digits and . _ - + @ only, at most {NAME_MAX}."));
    }
    let first_name = name_field(&params, "first_name", &mut errors);
    let last_name = name_field(&params, "last_name", &mut errors);
    let password = match params.get("password") {
        None => {
            errors.entry("password").or_default().push("This field is required.".into());
            None
        }
        Some(raw) => {
            let rules =
                PasswordRules { email: email.as_ref().map(Email::as_str), username: username.as_deref() };
            NewPassword::parse(raw, &rules).map_err(|e| errors.entry("password").or_default().extend(e)).ok()
        }
    };
    let client = ClientCredentials::from_request(&req, &params)?;
    let raw_scope = params.get("scope").map(str::to_owned);
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }

    let address = client_ip_text(&req, &state.settings.trusted_proxies);
    let throttle_settings = state.settings.throttle.clone();
    // Cheap checks first: a throttled or duplicate sign-up costs no argon2 work, and a
    // bad client is refused before any user exists. A write job: the attempt is counted.
    let clients = state.clients.clone();
    let counted_address = address.clone();
    let (app, email) = state
        .writes
        .run(move |conn| {
            throttle::take_registration(conn, &throttle_settings, &counted_address)?;
            let needs = Needs::grant(GrantType::Password);
            let app = client.map(|c| clients.authorize(conn, &c, &needs)).transpose()?;
            if User::find_by_email(conn, email.as_str())?.is_some() {
                return Err(email_taken());
            }
            Ok((app, email))
        })
        .await?;
    let scope = Scope::requested(raw_scope.as_deref())?.without(crate::domain::scope::ADMIN);

    let hash = state.hashes.run(move |memory| passwords::hash_with(password.expose(), memory)).await?;
    let issuer = state.issuer.clone();
    let public_url = state.settings.mail.public_url.clone();
    let (user, issued, mail) = state
        .writes
        .run(move |conn| {
            conn.transaction(|conn| {
                let username = match username {
                    Some(u) => {
                        if User::username_taken(conn, &u)? {
                            let mut errors = FieldErrors::new();
                            errors
                                .insert("username", vec!["A user with that username already exists.".into()]);
                            return Err(ApiError::Validation(errors));
                        }
                        u
                    }
                    None => User::unique_username(conn, email.local_part())?,
                };
                let user = insert_user(conn, &email, &username, &hash, &first_name, &last_name)?;
                let tokens = match &app {
                    Some(app) => Some(issuer.issue(
                        conn,
                        Grant {
                            grant_type: GrantType::Password,
                            application: app,
                            user_id: Some(user.id),
                            scope: &scope,
                            family: Family::New,
                            openid: Default::default(),
                        },
                    )?),
                    None => None,
                };
                let client_id = app.as_ref().map(|app| app.client_id.as_str()).unwrap_or_default();
                audit_own_change(conn, &user, "user.register", &address, client_id)?;
                let app_name = app.as_ref().map(|app| app.name.as_str());
                let mail = verification::mail_link(conn, &user, app_name, &public_url)?;
                Ok((user, tokens, mail))
            })
        })
        .await?;
    if let Some(mail) = mail {
        state.mailer.send(mail);
    }
    let tokens = issued.map(|issued| state.issuer.sign(issued)).transpose()?;
    Ok(no_store(&mut HttpResponse::Created()).json(Registered { user: UserView::from(&user), tokens }))
}

/// A user's change to its own account, by the user from `address`; `detail` names the
/// client it came through, if any.
fn audit_own_change(
    conn: &mut Writer<'_>,
    user: &User,
    action: &str,
    address: &str,
    detail: &str,
) -> Result<(), ApiError> {
    let target = user.id.to_string();
    audit::record(
        conn,
        NewAuditEvent {
            actor_user_id: Some(user.id),
            action,
            target_type: "user",
            target_id: &target,
            ip: Some(address),
            detail,
            ..Default::default()
        },
    )?;
    Ok(())
}

fn email_taken() -> ApiError {
    let mut errors = FieldErrors::new();
    errors.insert("email", vec!["A user with that email already exists.".into()]);
    ApiError::Validation(errors)
}

fn insert_user(
    conn: &mut Writer<'_>,
    email: &Email,
    username: &str,
    hash: &str,
    first_name: &str,
    last_name: &str,
) -> Result<User, ApiError> {
    let new = NewUser {
        email: Some(email.as_str()),
        username,
        password_hash: Some(hash),
        first_name,
        last_name,
        is_active: true,
        is_staff: false,
        date_joined: crate::time::now(),
        email_verified: false,
    };
    // Two sign-ups racing for one email: the unique index decides.
    User::insert(conn, &new).map_err(|e| if is_unique_violation(&e) { email_taken() } else { e.into() })
}

pub async fn me(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let (bearer, social) = user_bearer_with_links(&req).await?;
    let user = bearer.user;
    Ok(HttpResponse::Ok().json(Me {
        user: UserView::from(&user),
        social: social.into_iter().map(|s| SocialView { provider: s.provider, uid: s.uid }).collect(),
    }))
}

pub async fn update_me(
    bearer: UserBearer,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::new();
    let mut user = bearer.user;
    if params.get("first_name").is_some() {
        user.first_name = name_field(&params, "first_name", &mut errors);
    }
    if params.get("last_name").is_some() {
        user.last_name = name_field(&params, "last_name", &mut errors);
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let user = state
        .writes
        .run(move |conn| {
            User::set_names(conn, user.id, &user.first_name, &user.last_name)?;
            Ok(user)
        })
        .await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

pub async fn change_password(
    req: HttpRequest,
    params: Params,
    bearer: UserBearer,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let old = params.get("old_password").unwrap_or_default().to_owned();
    let user = bearer.user;
    let rules = PasswordRules { email: user.email.as_deref(), username: Some(&user.username) };
    let new = NewPassword::parse(params.require("new_password")?, &rules).map_err(|problems| {
        let mut errors = FieldErrors::new();
        errors.insert("new_password", problems);
        ApiError::Validation(errors)
    })?;
    let address = client_ip_text(&req, &state.settings.trusted_proxies);
    // A user who signed up with a provider sets a first password without an old one.
    let action = if user.password_hash.is_some() { "user.change_password" } else { "user.set_password" };
    // The old password is a sign-in's secret: a stolen access token must not make it
    // guessable without limit, so its check counts like a sign-in's.
    if user.password_hash.is_some() {
        let (checked, attempt) =
            throttle::judge_password(&state, user.username.clone(), Some(&user), old, address.clone())
                .await?;
        let counted_address = address.clone();
        let verified = state.writes.run(move |conn| attempt.settle(conn, checked, &counted_address)).await?;
        if !verified {
            let mut errors = FieldErrors::new();
            errors.insert("old_password", vec!["The old password is not correct.".into()]);
            return Err(ApiError::Validation(errors));
        }
    }
    let hash = state.hashes.run(move |memory| passwords::hash_with(new.expose(), memory)).await?;
    let keep_family = bearer.token.record.family_id.clone();
    let client_id = bearer.token.claims.client_id.clone();
    state
        .writes
        .run(move |conn| {
            conn.transaction(|conn| {
                User::set_password_hash(conn, user.id, &hash)?;
                revoke::user_families_except(conn, user.id, keep_family.as_deref(), crate::time::now())?;
                // A browser signed in with the old password could otherwise keep
                // approving authorization requests.
                crate::store::browser::end_user_sessions(conn, user.id)?;
                audit_own_change(conn, &user, action, &address, &client_id)
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

#[derive(Serialize)]
struct Listing {
    items: Vec<UserView>,
    total: i64,
}

pub async fn list(
    bearer: UserBearer,
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !bearer.user.is_staff {
        return Err(ApiError::Forbidden("Only staff users may list users.".into()));
    }
    let ListQuery { q, page, per_page } = query.into_inner();
    if q.as_deref().is_some_and(|q| q.contains('\0')) {
        return Err(ApiError::invalid_request("The query may not contain NUL characters."));
    }
    let (users, total) =
        db::run(&state.pool, move |conn| Ok(User::search(conn, q.as_deref(), Page::new(page, per_page))?))
            .await?;
    Ok(HttpResponse::Ok().json(Listing { items: users.iter().map(UserView::from).collect(), total }))
}
