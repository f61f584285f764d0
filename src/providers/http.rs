//! The HTTP client for every provider call (one per thread), and its adapter for the
//! `oauth2` crate.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::Value;
use thread_local::ThreadLocal;

use super::ProviderError;

/// Every provider call goes through these clients: one timeout
/// (`PORTCULLIS_PROVIDER_TIMEOUT_MS`), and no redirects (a token endpoint that redirects
/// is misconfigured, and following it could leak the code elsewhere).
///
/// Each thread has a client of its own. hyper drives a pooled connection on the runtime
/// that opened it, and every actix worker is a runtime of its own: with one shared pool, a
/// call from one worker would often wait for another, busy worker to move its bytes.
/// (A thread that inherits the slot of one that ended finds that client's connections
/// closed with their runtime, and the pool opens new ones.)
pub struct ProviderHttp {
    timeout: Duration,
    per_thread: ThreadLocal<reqwest::Client>,
}

impl ProviderHttp {
    pub fn new(timeout_ms: u64) -> Self {
        Self { timeout: Duration::from_millis(timeout_ms.max(1)), per_thread: ThreadLocal::new() }
    }

    /// This thread's client (its connections are driven by this thread's runtime).
    pub fn client(&self) -> &reqwest::Client {
        self.per_thread.get_or(|| {
            reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(self.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("TLS backend available")
        })
    }
}

/// A transport failure or a 5xx means the provider is unavailable, not that it refused.
pub fn unavailable(provider: &str, error: impl std::fmt::Display) -> ProviderError {
    ProviderError::Unavailable(format!("{provider} did not answer: {error}"))
}

/// Sends the request and reads a JSON body. 4xx answers are returned with their body so
/// the caller can say why the provider refused.
pub async fn json(provider: &str, request: reqwest::RequestBuilder) -> Result<(u16, Value), ProviderError> {
    let response = request.send().await.map_err(|e| unavailable(provider, e))?;
    let status = response.status().as_u16();
    if status >= 500 {
        return Err(unavailable(provider, format!("status {status}")));
    }
    let body = response.bytes().await.map_err(|e| unavailable(provider, e))?;
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Ok((status, value))
}

/// Adapts our reqwest client to `oauth2::AsyncHttpClient` (the oauth2 crate's own adapter
/// pins an older reqwest).
pub struct OAuthHttp<'a>(pub &'a reqwest::Client);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OAuthHttpError(String);

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp<'_> {
    type Error = OAuthHttpError;
    type Future = BoxFuture<'c, Result<oauth2::HttpResponse, OAuthHttpError>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let mut builder = self.0.request(parts.method, parts.uri.to_string()).body(body);
            for (name, value) in &parts.headers {
                builder = builder.header(name, value);
            }
            let response = builder.send().await.map_err(|e| OAuthHttpError(e.to_string()))?;
            if response.status().is_server_error() {
                return Err(OAuthHttpError(format!("status {}", response.status())));
            }
            let mut out = oauth2::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                out = out.header(name, value);
            }
            let body = response.bytes().await.map_err(|e| OAuthHttpError(e.to_string()))?;
            out.body(body.to_vec()).map_err(|e| OAuthHttpError(e.to_string()))
        })
    }
}

/// Maps an `oauth2` code-exchange failure: the provider refusing the code is the
/// client's fault, anything else is the provider being unavailable.
pub fn exchange_error<RE: oauth2::ErrorResponse + 'static>(
    provider: &str,
    error: oauth2::RequestTokenError<OAuthHttpError, RE>,
) -> ProviderError {
    match error {
        oauth2::RequestTokenError::ServerResponse(response) => {
            ProviderError::Rejected(format!("{provider} refused the authorization code: {response}"))
        }
        oauth2::RequestTokenError::Parse(_, body) if body.is_empty() => unavailable(provider, "empty answer"),
        oauth2::RequestTokenError::Parse(e, _) => {
            ProviderError::Rejected(format!("{provider} answered the code exchange unexpectedly: {e}"))
        }
        oauth2::RequestTokenError::Request(e) => unavailable(provider, e),
        oauth2::RequestTokenError::Other(e) => unavailable(provider, e),
    }
}

/// An authorization code to exchange at a provider's token endpoint.
pub struct CodeExchange<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub auth_url: &'a str,
    pub token_url: &'a str,
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub code_verifier: Option<&'a str>,
}

/// What a code exchange gave us: the access token is used once, the refresh token (if
/// any) is kept sealed with the link.
pub struct ExchangedTokens {
    pub access_token: String,
    /// Google adds an ID token when the `openid` scope was asked for.
    pub id_token: Option<String>,
    pub refresh_token: Option<secrecy::SecretString>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct IdTokenField {
    #[serde(default)]
    id_token: Option<String>,
}

impl oauth2::ExtraTokenFields for IdTokenField {}

type CodeClient = oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::StandardTokenResponse<IdTokenField, oauth2::basic::BasicTokenType>,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

pub async fn exchange_code(
    provider: &str,
    http: &ProviderHttp,
    exchange: CodeExchange<'_>,
) -> Result<ExchangedTokens, ProviderError> {
    use oauth2::TokenResponse as _;
    let misconfigured =
        |e: oauth2::url::ParseError| ProviderError::Unavailable(format!("{provider} URL is invalid: {e}"));
    let client: CodeClient = oauth2::Client::new(oauth2::ClientId::new(exchange.client_id.to_owned()))
        .set_client_secret(oauth2::ClientSecret::new(exchange.client_secret.to_owned()))
        .set_auth_uri(oauth2::AuthUrl::new(exchange.auth_url.to_owned()).map_err(misconfigured)?)
        .set_token_uri(oauth2::TokenUrl::new(exchange.token_url.to_owned()).map_err(misconfigured)?)
        .set_auth_type(oauth2::AuthType::RequestBody);
    let redirect = oauth2::RedirectUrl::new(exchange.redirect_uri.to_owned())
        .map_err(|_| ProviderError::Unsupported("redirect_uri is not a URL.".into()))?;
    let mut request = client
        .exchange_code(oauth2::AuthorizationCode::new(exchange.code.to_owned()))
        .set_redirect_uri(std::borrow::Cow::Owned(redirect));
    if let Some(verifier) = exchange.code_verifier {
        request = request.set_pkce_verifier(oauth2::PkceCodeVerifier::new(verifier.to_owned()));
    }
    let response =
        request.request_async(&OAuthHttp(http.client())).await.map_err(|e| exchange_error(provider, e))?;
    Ok(ExchangedTokens {
        access_token: response.access_token().secret().clone(),
        id_token: response.extra_fields().id_token.clone(),
        refresh_token: response.refresh_token().map(|t| t.secret().clone().into()),
    })
}

/// Where to send the browser to sign in at a provider.
pub struct AuthorizeRequest<'a> {
    pub sign_in: &'a super::RedirectSignIn<'a>,
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub code_verifier: Option<&'a str>,
    pub nonce: Option<&'a str>,
}

pub fn authorize_url(request: &AuthorizeRequest<'_>) -> Result<url::Url, ProviderError> {
    let sign_in = request.sign_in;
    let auth_url = oauth2::AuthUrl::new(sign_in.auth_url.to_owned())
        .map_err(|e| ProviderError::Unavailable(format!("{} URL is invalid: {e}", sign_in.label)))?;
    let redirect = oauth2::RedirectUrl::new(request.redirect_uri.to_owned())
        .map_err(|e| ProviderError::Unavailable(format!("The issuer URL is invalid: {e}")))?;
    let client = oauth2::basic::BasicClient::new(oauth2::ClientId::new(sign_in.client_id.to_owned()))
        .set_auth_uri(auth_url)
        .set_redirect_uri(redirect);
    let state = request.state.to_owned();
    let mut builder = client
        .authorize_url(move || oauth2::CsrfToken::new(state))
        .add_scopes(sign_in.scopes.iter().map(|s| oauth2::Scope::new((*s).to_owned())));
    for (name, value) in sign_in.extra_params {
        builder = builder.add_extra_param(*name, *value);
    }
    if let Some(nonce) = request.nonce {
        builder = builder.add_extra_param("nonce", nonce);
    }
    let challenge = request.code_verifier.map(|v| {
        oauth2::PkceCodeChallenge::from_code_verifier_sha256(&oauth2::PkceCodeVerifier::new(v.to_owned()))
    });
    if let Some(challenge) = challenge {
        builder = builder.set_pkce_challenge(challenge);
    }
    Ok(builder.url().0)
}
