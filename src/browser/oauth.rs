//! oxide-auth's authorization-code machinery on our tables: a registrar over the one
//! application the request names, an authorizer over `authorization_codes`, PKCE as
//! its addon, and an issuer that only captures the checked grant so that the token
//! pair comes from `TokenIssuer::issue` like every other grant's.
//!
//! Where oxide-auth's defaults conflict with SPEC we adapt around them:
//! - client authentication is ours (body or Basic, JSON or form); oxide-auth is handed
//!   the authenticated `client_id` only and never sees a secret or a header;
//! - its errors are mapped to our JSON errors and HTML pages, never its 500s; an unknown
//!   code and a failed PKCE check, which it reports as `invalid_request`, become
//!   `invalid_grant` as RFC 6749 §5.2 and RFC 7636 §4.6 say;
//! - it sets a ten-minute code lifetime; ours is 60 s, kept in our own column;
//! - `redirect_uri` is required at /auth/authorize too, so the token request (where
//!   oxide-auth insists on it) can always repeat it.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use oxide_auth::endpoint::{
    AccessTokenFlow, AuthorizationFlow, Endpoint, NormalizedParameter, OAuthError, OwnerConsent,
    OwnerSolicitor, QueryParameter, Scopes, Solicitation, Template, WebRequest, WebResponse,
};
use oxide_auth::frontends::simple::extensions::{AddonList, Pkce};
use oxide_auth::primitives::authorizer::Authorizer;
use oxide_auth::primitives::grant::{Extensions, Grant, Value};
use oxide_auth::primitives::issuer::{IssuedToken, Issuer, RefreshedToken};
use oxide_auth::primitives::registrar::{
    BoundClient, ClientUrl, PreGrant, RegisteredUrl, Registrar, RegistrarError,
};
use url::Url;

use crate::db::Writer;
use crate::domain::{ClientType, GrantType, Scope};
use crate::error::ApiError;
use crate::params::decode_form;
use crate::store::applications::Application;
use crate::store::browser::{CodeRecord, NewCode};
use crate::tokens::random;

/// Authorization codes live this long (SPEC §4).
pub const CODE_TTL_SECS: i64 = 60;
const PKCE: &str = "pkce";

/// What the authorization endpoint decided.
#[derive(Debug)]
pub enum Authorization {
    /// The client is unknown or the redirect URI is not registered: show an error page,
    /// never redirect.
    Refused,
    /// Nobody is signed in yet.
    SignIn,
    /// Signed in; the user must allow or deny.
    Consent { scope: Scope },
    /// Redirect to the client (with a code, or with an OAuth error).
    Redirect(Url),
}

/// A request as oxide-auth reads it: parameters only, never a credential.
pub struct FlowRequest {
    query: NormalizedParameter,
    body: NormalizedParameter,
}

#[derive(Default)]
pub struct FlowResponse {
    location: Option<Url>,
    ask: Option<Ask>,
}

enum Ask {
    SignIn,
    Consent(Scope),
}

/// Our solicitor never fails, so the request's error type is empty.
#[derive(Debug)]
pub enum Never {}

impl WebRequest for FlowRequest {
    type Error = Never;
    type Response = FlowResponse;

    fn query(&mut self) -> Result<Cow<'_, dyn QueryParameter + 'static>, Never> {
        Ok(Cow::Borrowed(&self.query))
    }

    fn urlbody(&mut self) -> Result<Cow<'_, dyn QueryParameter + 'static>, Never> {
        Ok(Cow::Borrowed(&self.body))
    }

    fn authheader(&mut self) -> Result<Option<Cow<'_, str>>, Never> {
        Ok(None)
    }
}

impl WebResponse for FlowResponse {
    type Error = Never;

    fn ok(&mut self) -> Result<(), Never> {
        Ok(())
    }

    fn redirect(&mut self, url: Url) -> Result<(), Never> {
        self.location = Some(url);
        Ok(())
    }

    fn client_error(&mut self) -> Result<(), Never> {
        Ok(())
    }

    fn unauthorized(&mut self, _: &str) -> Result<(), Never> {
        Ok(())
    }

    fn body_text(&mut self, _: &str) -> Result<(), Never> {
        Ok(())
    }

    fn body_json(&mut self, _: &str) -> Result<(), Never> {
        Ok(())
    }
}

#[derive(Debug)]
enum FlowError {
    /// oxide-auth's "deny silently": no redirect may happen.
    Silent,
    Primitive,
}

/// The endpoint for one request.
struct Flow<'c, 'w> {
    conn: &'c mut Writer<'w>,
    /// The application the request names, loaded beforehand (None: unknown client).
    app: Option<&'c Application>,
    /// The signed-in user, if any.
    user: Option<(i64, bool)>,
    /// Kept with the code for the ID token, beside oxide-auth (which knows no OpenID
    /// Connect): the request's `nonce` and when the signed-in user authenticated.
    nonce: Option<String>,
    auth_time: Option<i64>,
    /// The consent decision from a CSRF-checked form; never from the query.
    decision: Option<bool>,
    /// The client the token endpoint authenticated.
    authenticated: Option<&'c str>,
    addons: AddonList,
    captured: Option<Grant>,
    token_error: Option<String>,
    failure: Option<ApiError>,
}

impl<'c, 'w> Flow<'c, 'w> {
    fn new(conn: &'c mut Writer<'w>, app: Option<&'c Application>) -> Self {
        // PKCE is required of public clients (they hold no secret), optional for
        // confidential ones; oxide-auth's addon only accepts S256.
        let mut addons = AddonList::new();
        if app.is_none_or(|a| a.client_type() == ClientType::Public) {
            addons.push_code(Pkce::required());
        } else {
            addons.push_code(Pkce::optional());
        }
        Self {
            conn,
            app,
            user: None,
            nonce: None,
            auth_time: None,
            decision: None,
            authenticated: None,
            addons,
            captured: None,
            token_error: None,
            failure: None,
        }
    }
}

impl Registrar for Flow<'_, '_> {
    fn bound_redirect<'a>(&self, bound: ClientUrl<'a>) -> Result<BoundClient<'a>, RegistrarError> {
        let app = self.app.filter(|a| a.client_id == bound.client_id).ok_or(RegistrarError::Unspecified)?;
        let uri = bound.redirect_uri.ok_or(RegistrarError::Unspecified)?;
        // Exact string comparison: no normalisation, no prefix or wildcard matching.
        if !app.redirect_uri_list().contains(&uri.as_str()) {
            return Err(RegistrarError::Unspecified);
        }
        Ok(BoundClient {
            client_id: bound.client_id,
            redirect_uri: Cow::Owned(RegisteredUrl::Exact(uri.into_owned())),
        })
    }

    fn negotiate(
        &self,
        bound: BoundClient<'_>,
        scope: Option<oxide_auth::primitives::scope::Scope>,
    ) -> Result<PreGrant, RegistrarError> {
        let raw = scope.map(|s| s.to_string());
        let ours = Scope::requested(raw.as_deref()).map_err(|_| RegistrarError::Unspecified)?;
        let scope = if ours.to_string().is_empty() { Scope::default_grant() } else { ours };
        Ok(PreGrant {
            client_id: bound.client_id.into_owned(),
            redirect_uri: bound.redirect_uri.into_owned(),
            scope: scope.to_string().parse().map_err(|_| RegistrarError::Unspecified)?,
        })
    }

    fn check(&self, client_id: &str, passphrase: Option<&[u8]>) -> Result<(), RegistrarError> {
        // The token endpoint authenticated the client already; see the module comment.
        match (self.authenticated, passphrase) {
            (Some(id), None) if id == client_id => Ok(()),
            _ => Err(RegistrarError::Unspecified),
        }
    }
}

impl Authorizer for Flow<'_, '_> {
    fn authorize(&mut self, grant: Grant) -> Result<String, ()> {
        let app = self.app.ok_or(())?;
        let user_id: i64 = grant.owner_id.parse().map_err(|_| ())?;
        let pkce = grant.extensions.private().find(|(key, _)| *key == PKCE).and_then(|(_, value)| value);
        let code = random::token(32);
        let now = crate::time::now();
        let scope = Scope::from_stored(&grant.scope.to_string()).to_string();
        CodeRecord::insert(
            self.conn,
            &NewCode {
                code_hash: &random::sha256_hex(&code),
                application_id: app.id,
                user_id,
                redirect_uri: grant.redirect_uri.as_str(),
                scope: &scope,
                pkce,
                created_at: now,
                expires_at: now + CODE_TTL_SECS,
                nonce: self.nonce.as_deref(),
                auth_time: self.auth_time,
            },
        )
        .map_err(|e| self.failure = Some(e.into()))?;
        Ok(code)
    }

    fn extract(&mut self, code: &str) -> Result<Option<Grant>, ()> {
        let taken = CodeRecord::take(self.conn, &random::sha256_hex(code))
            .map_err(|e| self.failure = Some(e.into()))?;
        let Some(record) = taken else { return Ok(None) };
        self.nonce = record.nonce.clone();
        self.auth_time = record.auth_time;
        // A code names its application by row id; the client_id oxide-auth compares
        // with the authenticated client comes from the application we loaded.
        let client_id = match self.app {
            Some(app) if app.id == record.application_id => app.client_id.clone(),
            _ => String::new(),
        };
        let mut extensions = Extensions::new();
        if let Some(pkce) = record.pkce {
            extensions.set_raw(PKCE.into(), Value::private(Some(pkce)));
        }
        Ok(Some(Grant {
            owner_id: record.user_id.to_string(),
            client_id,
            scope: record.scope.parse().map_err(|_| ())?,
            redirect_uri: record.redirect_uri.parse().map_err(|_| ())?,
            until: DateTime::<Utc>::from_timestamp(record.expires_at, 0).ok_or(())?,
            extensions,
        }))
    }
}

impl Issuer for Flow<'_, '_> {
    fn issue(&mut self, grant: Grant) -> Result<IssuedToken, ()> {
        self.captured = Some(grant);
        Ok(IssuedToken::without_refresh(String::new(), Utc::now()))
    }

    fn refresh(&mut self, _: &str, _: Grant) -> Result<RefreshedToken, ()> {
        Err(())
    }

    fn recover_token<'a>(&'a self, _: &'a str) -> Result<Option<Grant>, ()> {
        Err(())
    }

    fn recover_refresh<'a>(&'a self, _: &'a str) -> Result<Option<Grant>, ()> {
        Err(())
    }
}

impl OwnerSolicitor<FlowRequest> for Flow<'_, '_> {
    fn check_consent(
        &mut self,
        _: &mut FlowRequest,
        solicitation: Solicitation<'_>,
    ) -> OwnerConsent<FlowResponse> {
        let Some((user_id, is_staff)) = self.user else {
            return OwnerConsent::InProgress(FlowResponse { ask: Some(Ask::SignIn), ..Default::default() });
        };
        let skip = self.app.is_some_and(|a| a.skip_authorization);
        match self.decision {
            Some(false) => OwnerConsent::Denied,
            Some(true) => OwnerConsent::Authorized(user_id.to_string()),
            None if skip => OwnerConsent::Authorized(user_id.to_string()),
            None => {
                let mut scope = Scope::from_stored(&solicitation.pre_grant().scope.to_string());
                if !is_staff {
                    scope = scope.without(crate::domain::scope::ADMIN);
                }
                OwnerConsent::InProgress(FlowResponse {
                    ask: Some(Ask::Consent(scope)),
                    ..Default::default()
                })
            }
        }
    }
}

impl Endpoint<FlowRequest> for Flow<'_, '_> {
    type Error = FlowError;

    fn registrar(&self) -> Option<&dyn Registrar> {
        Some(self)
    }

    fn authorizer_mut(&mut self) -> Option<&mut dyn Authorizer> {
        Some(self)
    }

    fn issuer_mut(&mut self) -> Option<&mut dyn Issuer> {
        Some(self)
    }

    fn owner_solicitor(&mut self) -> Option<&mut dyn OwnerSolicitor<FlowRequest>> {
        Some(self)
    }

    fn scopes(&mut self) -> Option<&mut dyn Scopes<FlowRequest>> {
        None
    }

    fn response(
        &mut self,
        _: &mut FlowRequest,
        mut template: Template<'_>,
    ) -> Result<FlowResponse, FlowError> {
        if let Some(error) = template.access_token_error() {
            self.token_error = Some(error.kind().to_string());
        }
        Ok(FlowResponse::default())
    }

    fn error(&mut self, error: OAuthError) -> FlowError {
        match error {
            OAuthError::DenySilently | OAuthError::BadRequest => FlowError::Silent,
            OAuthError::PrimitiveError => FlowError::Primitive,
        }
    }

    fn web_error(&mut self, never: Never) -> FlowError {
        match never {}
    }

    fn extension(&mut self) -> Option<&mut dyn oxide_auth::endpoint::Extension> {
        Some(&mut self.addons)
    }
}

fn parameters<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> NormalizedParameter {
    let mut normalized = NormalizedParameter::new();
    for (key, value) in pairs {
        normalized.insert_or_poison(Cow::Owned(key.to_owned()), Cow::Owned(value.to_owned()));
    }
    normalized
}

/// Runs the authorization endpoint for a request's query string. `user` is the
/// signed-in user (id, is_staff) and when they signed in; `decision` the consent form's answer.
pub fn authorize(
    conn: &mut Writer<'_>,
    app: Option<&Application>,
    query: &str,
    user: Option<(i64, bool, i64)>,
    decision: Option<bool>,
) -> Result<Authorization, ApiError> {
    // `routes::authorize` refuses a query that does not decode before it gets here.
    let pairs = decode_form(query.as_bytes()).unwrap_or_default();
    if let Some(app) = app.filter(|a| !a.allows(GrantType::AuthorizationCode)) {
        return Ok(refuse_grant(app, &pairs));
    }
    let request = FlowRequest {
        query: parameters(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        body: NormalizedParameter::new(),
    };
    let mut flow = Flow::new(conn, app);
    flow.user = user.map(|(id, is_staff, _)| (id, is_staff));
    flow.auth_time = user.map(|(_, _, signed_in_at)| signed_in_at);
    flow.nonce = pairs.iter().find(|(k, _)| k == "nonce").map(|(_, v)| v.clone());
    flow.decision = decision;
    let outcome = AuthorizationFlow::prepare(&mut flow).and_then(|mut f| f.execute(request));
    if let Some(failure) = flow.failure.take() {
        return Err(failure);
    }
    match outcome {
        Err(FlowError::Silent) => Ok(Authorization::Refused),
        Err(FlowError::Primitive) => Err(ApiError::internal("authorization flow failed")),
        Ok(FlowResponse { location: Some(url), .. }) => {
            Ok(Authorization::Redirect(described(url, &pairs, app)))
        }
        Ok(FlowResponse { ask: Some(Ask::SignIn), .. }) => Ok(Authorization::SignIn),
        Ok(FlowResponse { ask: Some(Ask::Consent(scope)), .. }) => Ok(Authorization::Consent { scope }),
        Ok(FlowResponse { .. }) => Err(ApiError::internal("authorization flow gave no answer")),
    }
}

/// oxide-auth redirects an error with its code alone; a developer reading the
/// redirect should also learn what to fix (RFC 6749 §4.1.2.1 `error_description`).
fn described(mut url: Url, pairs: &[(String, String)], app: Option<&Application>) -> Url {
    let error = url.query_pairs().find(|(k, _)| k == "error").map(|(_, v)| v.into_owned());
    let Some(error) = error else { return url };
    if url.query_pairs().any(|(k, _)| k == "error_description") {
        return url;
    }
    let sent = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let description = match error.as_str() {
        "invalid_request" => match (sent("code_challenge"), sent("code_challenge_method")) {
            (None, _) if app.is_none_or(|a| a.client_type() == ClientType::Public) => {
                "This client must send a PKCE code_challenge (code_challenge_method=S256)."
            }
            (Some(_), method) if method != Some("S256") => "Only code_challenge_method=S256 is supported.",
            _ => "The authorization request is missing a parameter or has one that is not valid.",
        },
        "access_denied" => "The user denied the request.",
        "invalid_scope" => "The requested scope is unknown or not allowed.",
        "unsupported_response_type" => "Only response_type=code is supported.",
        _ => "The authorization request was refused.",
    };
    url.query_pairs_mut().append_pair("error_description", description);
    url
}

/// An application registered without the authorization_code grant: oxide-auth has no
/// notion of per-client grants, so this is decided before it runs.
fn refuse_grant(app: &Application, pairs: &[(String, String)]) -> Authorization {
    error_redirect(
        app,
        pairs,
        "unauthorized_client",
        "This application may not use the authorization code flow.",
    )
}

/// `prompt=none` (OIDC Core §3.1.2.1): where the flow would show a page, the client gets
/// `login_required` or `consent_required` instead.
pub fn without_pages(decided: Authorization, app: Option<&Application>, query: &str) -> Authorization {
    let pairs = decode_form(query.as_bytes()).unwrap_or_default();
    match (decided, app) {
        (Authorization::SignIn, Some(app)) => {
            error_redirect(app, &pairs, "login_required", "The user is not signed in (prompt=none).")
        }
        (Authorization::Consent { .. }, Some(app)) => error_redirect(
            app,
            &pairs,
            "consent_required",
            "The user has not approved this application (prompt=none).",
        ),
        (decided, _) => decided,
    }
}

/// An error for the client, sent back to its redirect URI with the request's `state`, but
/// only when that URI is one it registered; else the error page.
fn error_redirect(
    app: &Application,
    pairs: &[(String, String)],
    error: &str,
    description: &str,
) -> Authorization {
    let value = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let registered = value("redirect_uri").filter(|uri| app.redirect_uri_list().contains(uri));
    let Some(mut url) = registered.and_then(|uri| Url::parse(uri).ok()) else {
        return Authorization::Refused;
    };
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("error", error);
        query.append_pair("error_description", description);
        if let Some(state) = value("state") {
            query.append_pair("state", state);
        }
    }
    Authorization::Redirect(url)
}

/// What a valid code exchange yields: whose code it was, for which scope, and what an ID
/// token needs from the authorization request.
pub struct Exchanged {
    pub user_id: i64,
    pub scope: Scope,
    pub nonce: Option<String>,
    pub auth_time: Option<i64>,
}

/// Checks and consumes a code for `app` (already authenticated by the caller).
pub fn exchange(
    conn: &mut Writer<'_>,
    app: &Application,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
) -> Result<Exchanged, ApiError> {
    let mut body = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("client_id", app.client_id.as_str()),
    ];
    if let Some(verifier) = code_verifier {
        body.push(("code_verifier", verifier));
    }
    let request = FlowRequest { query: NormalizedParameter::new(), body: parameters(body) };
    let mut flow = Flow::new(conn, Some(app));
    flow.authenticated = Some(&app.client_id);
    let outcome = AccessTokenFlow::prepare(&mut flow).and_then(|mut f| f.execute(request));
    if let Some(failure) = flow.failure.take() {
        return Err(failure);
    }
    if outcome.is_err() {
        return Err(ApiError::internal("token flow failed"));
    }
    let Some(grant) = flow.captured.take() else {
        let kind = flow.token_error.unwrap_or_default();
        return Err(match kind.as_str() {
            "invalid_client" => {
                ApiError::InvalidClient { description: "Client authentication failed.".into(), basic: false }
            }
            "unauthorized_client" => {
                ApiError::UnauthorizedClient("This client may not exchange codes.".into())
            }
            _ => ApiError::invalid_grant(
                "The authorization code is invalid, expired, already used, or was issued for another \
                 redirect URI, client or code verifier.",
            ),
        });
    };
    let user_id = grant.owner_id.parse().map_err(ApiError::internal)?;
    Ok(Exchanged {
        user_id,
        scope: Scope::from_stored(&grant.scope.to_string()),
        nonce: flow.nonce.take(),
        auth_time: flow.auth_time,
    })
}
