//! Operations shared by the command line and the admin API: registering applications,
//! rotating their secrets, creating staff users.

use diesel::QueryResult;

use crate::auth::passwords;
use crate::db::{is_unique_violation, Writer};
use crate::domain::{ClientType, Email, GrantType, IdTokenAlg, NewPassword};
use crate::error::ApiError;
use crate::store::applications::{Application, NewApplication};
use crate::store::users::{NewUser, User};
use crate::tokens::random::{self, ClientSecret};

/// An application as registered or edited. `Default` is no valid application (it has no
/// name and no grant); it gives the settings most applications leave alone.
#[derive(Debug, Clone, Default)]
pub struct ApplicationSpec {
    pub name: String,
    pub client_type: ClientType,
    pub grant_types: Vec<GrantType>,
    pub redirect_uris: Vec<String>,
    pub skip_authorization: bool,
    pub owner_id: Option<i64>,
    /// Where RP-initiated logout (`/auth/logout`) may send the browser back to.
    pub post_logout_redirect_uris: Vec<String>,
    pub id_token_signed_response_alg: IdTokenAlg,
}

/// A new application and, for confidential clients, its secret: the only time the
/// secret exists outside the client's hands.
pub struct CreatedApplication {
    pub client_id: String,
    pub client_secret: Option<ClientSecret>,
    pub application: Application,
}

/// Schemes (as the URL parser lowercases them) a redirect URI may not use.
const UNSAFE_SCHEMES: [&str; 7] = ["javascript", "data", "vbscript", "file", "blob", "about", "filesystem"];

pub fn check_spec(spec: &ApplicationSpec) -> Result<(), ApiError> {
    if spec.name.trim().is_empty() {
        return Err(ApiError::invalid_request("The application needs a name."));
    }
    if spec.grant_types.is_empty() {
        return Err(ApiError::invalid_request("The application needs at least one grant type."));
    }
    if spec.client_type == ClientType::Public && spec.grant_types.contains(&GrantType::ClientCredentials) {
        return Err(ApiError::invalid_request("Public clients cannot use client_credentials."));
    }
    check_uris("Redirect URIs", &spec.redirect_uris)?;
    // The browser is sent to these as it is to redirect URIs, after logout instead of
    // with a code: the same schemes would run an attacker's script there.
    check_uris("Post-logout redirect URIs", &spec.post_logout_redirect_uris)?;
    Ok(())
}

/// The URIs a browser may be redirected to; `what` names them in the refusal.
fn check_uris(what: &str, uris: &[String]) -> Result<(), ApiError> {
    for uri in uris {
        // URIs are stored space-separated, and the URL parser drops tabs and newlines:
        // checked as given, `https://a/cb<TAB>javascript:x` would be stored as two URIs.
        if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ApiError::invalid_request(format!(
                "{what} may not contain spaces or control characters."
            )));
        }
        let parsed =
            url::Url::parse(uri).map_err(|_| ApiError::invalid_request(format!("Not a URL: {uri}")))?;
        if parsed.fragment().is_some() {
            return Err(ApiError::invalid_request(format!("{what} may not contain a fragment.")));
        }
        // A browser sent to these runs or shows what the URI itself carries, not an
        // application: the authorization code would land in an attacker's script.
        // Private-use schemes of native apps (`com.example.app:/cb`, RFC 8252) stay allowed.
        if UNSAFE_SCHEMES.contains(&parsed.scheme()) {
            return Err(ApiError::invalid_request(format!(
                "{what} may not use the {} scheme.",
                parsed.scheme()
            )));
        }
    }
    Ok(())
}

pub fn create_application(
    conn: &mut Writer<'_>,
    spec: &ApplicationSpec,
) -> Result<CreatedApplication, ApiError> {
    check_spec(spec)?;
    let client_id = random::client_id();
    let secret = (spec.client_type == ClientType::Confidential).then(ClientSecret::generate);
    let hash = secret.as_ref().map(ClientSecret::hash);
    let grants: Vec<&str> = spec.grant_types.iter().map(|g| g.as_str()).collect();
    let now = crate::time::now();
    let application = Application::insert(
        conn,
        &NewApplication {
            client_id: &client_id,
            secret_hash: hash.as_deref(),
            name: spec.name.trim(),
            client_type: spec.client_type.as_str(),
            grant_types: &grants.join(" "),
            redirect_uris: &spec.redirect_uris.join(" "),
            skip_authorization: spec.skip_authorization,
            owner_id: spec.owner_id,
            created_at: now,
            updated_at: now,
            post_logout_redirect_uris: &spec.post_logout_redirect_uris.join(" "),
            id_token_signed_response_alg: spec.id_token_signed_response_alg.as_str(),
        },
    )?;
    Ok(CreatedApplication { client_id, client_secret: secret, application })
}

/// Replaces a confidential client's secret; the old one stops working at once.
pub fn rotate_secret(conn: &mut Writer<'_>, client_id: &str) -> Result<ClientSecret, ApiError> {
    let app = Application::find_by_client_id(conn, client_id)?.ok_or(ApiError::NotFound)?;
    if app.client_type() == ClientType::Public {
        return Err(ApiError::invalid_request("Public clients have no secret."));
    }
    let secret = ClientSecret::generate();
    Application::set_secret_hash(conn, app.id, &secret.hash(), crate::time::now())?;
    Ok(secret)
}

/// Creates an active staff user with a usable password; `record` writes the caller's
/// audit event in the same transaction.
pub fn create_superuser(
    conn: &mut Writer<'_>,
    email: &Email,
    password: &NewPassword,
    username: Option<&str>,
    record: impl FnOnce(&mut Writer<'_>, &User) -> QueryResult<usize>,
) -> Result<User, ApiError> {
    let hash = passwords::hash_with(password.expose(), &mut passwords::Memory::new())?;
    conn.transaction(|conn| {
        if User::find_by_email(conn, email.as_str())?.is_some() {
            return Err(ApiError::invalid_request("A user with that email already exists."));
        }
        let username = match username {
            Some(u) => u.to_owned(),
            None => User::unique_username(conn, email.local_part())?,
        };
        let new = NewUser {
            email: Some(email.as_str()),
            username: &username,
            password_hash: Some(&hash),
            first_name: "",
            last_name: "",
            is_active: true,
            is_staff: true,
            date_joined: crate::time::now(),
            // The operator who runs the command vouches for the address.
            email_verified: true,
        };
        let user = User::insert(conn, &new).map_err(|e| {
            if is_unique_violation(&e) {
                ApiError::invalid_request("A user with that email or username already exists.")
            } else {
                ApiError::from(e)
            }
        })?;
        record(conn, &user)?;
        Ok(user)
    })
}
