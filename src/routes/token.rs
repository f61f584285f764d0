//! The token endpoints: `POST /auth/token`, which dispatches on `grant_type`, and
//! drf-social-oauth2's `POST /auth/convert-token`. They parse the request, hand it to
//! its grant (`crate::grants`) and shape the answer.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::auth::client::ClientCredentials;
use crate::auth::client_ip::client_ip_text;
use crate::domain::GrantType;
use crate::error::ApiError;
use crate::grants::authorization_code::{authorization_code, CodeRequest};
use crate::grants::client_credentials::client_credentials;
use crate::grants::convert::{convert, Conversion, Presented};
use crate::grants::password::{password, PasswordRequest};
use crate::grants::refresh::{refresh_token, RefreshRequest};
use crate::params::Params;
use crate::respond::no_store;
use crate::state::AppState;
use crate::store::users::User;
use crate::tokens::random::RefreshToken;
use crate::tokens::TokenResponse;

const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// `POST /auth/token`.
pub async fn token(
    req: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let grant_name = params.require("grant_type")?;
    let grant = GrantType::parse(grant_name).ok_or_else(|| {
        ApiError::UnsupportedGrantType(format!("The grant type '{grant_name}' is not supported."))
    })?;
    let client = ClientCredentials::required(&req, &params)?;
    let owned = |key: &str| params.get(key).map(str::to_owned);
    let tokens = match grant {
        GrantType::Password => {
            let request = PasswordRequest {
                username: params.require("username")?.to_owned(),
                password: params.require("password")?.to_owned(),
                scope: owned("scope"),
                address: address(&req, &state),
            };
            password(&state, client, request).await?
        }
        GrantType::RefreshToken => {
            let request = RefreshRequest {
                refresh_token: RefreshToken::presented(params.require("refresh_token")?.to_owned()),
                scope: owned("scope"),
            };
            refresh_token(&state, client, request).await?
        }
        GrantType::ClientCredentials => client_credentials(&state, client, owned("scope")).await?,
        GrantType::AuthorizationCode => {
            let request = CodeRequest {
                code: params.require("code")?.to_owned(),
                redirect_uri: params.require("redirect_uri")?.to_owned(),
                code_verifier: owned("code_verifier"),
            };
            authorization_code(&state, client, request).await?
        }
        GrantType::ConvertToken => return converted(&req, &state, client, &params).await,
        GrantType::TokenExchange => {
            let conversion = conversion(&req, &state, &params, GrantType::TokenExchange)?;
            let (tokens, _) = convert(&state, client, conversion).await?;
            return Ok(respond(Exchanged { tokens, issued_token_type: ACCESS_TOKEN_TYPE }));
        }
    };
    Ok(respond(tokens))
}

/// `POST /auth/convert-token`.
pub async fn convert_token(
    req: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if let Some(grant) = params.get("grant_type").filter(|g| *g != GrantType::ConvertToken.as_str()) {
        return Err(ApiError::UnsupportedGrantType(format!(
            "This endpoint takes grant_type=convert_token, not '{grant}'."
        )));
    }
    let client = ClientCredentials::required(&req, &params)?;
    converted(&req, &state, client, &params).await
}

/// 200 with the tokens, never cached (RFC 6749 §5.1).
fn respond(body: impl Serialize) -> HttpResponse {
    no_store(&mut HttpResponse::Ok()).json(body)
}

/// The user as drf-social-oauth2 returns it beside the tokens.
#[derive(Serialize)]
struct ConvertedUser {
    id: i64,
    email: Option<String>,
    first_name: String,
    last_name: String,
}

#[derive(Serialize)]
struct Converted {
    #[serde(flatten)]
    tokens: TokenResponse,
    user: ConvertedUser,
}

#[derive(Serialize)]
struct Exchanged {
    #[serde(flatten)]
    tokens: TokenResponse,
    issued_token_type: &'static str,
}

/// `convert_token`, on either endpoint.
async fn converted(
    req: &HttpRequest,
    state: &AppState,
    client: ClientCredentials,
    params: &Params,
) -> Result<HttpResponse, ApiError> {
    let conversion = conversion(req, state, params, GrantType::ConvertToken)?;
    let (tokens, user) = convert(state, client, conversion).await?;
    let User { id, email, first_name, last_name, .. } = user;
    Ok(respond(Converted { tokens, user: ConvertedUser { id, email, first_name, last_name } }))
}

/// What the client asks us to convert, from drf-style or RFC 8693 parameters.
fn conversion(
    req: &HttpRequest,
    state: &AppState,
    params: &Params,
    grant: GrantType,
) -> Result<Conversion, ApiError> {
    let owned = |key: &str| params.get(key).map(str::to_owned);
    let (backend, token) = if grant == GrantType::TokenExchange {
        let token_type = params.require("subject_token_type")?;
        if token_type != ACCESS_TOKEN_TYPE && token_type != ID_TOKEN_TYPE {
            return Err(ApiError::invalid_request(format!(
                "subject_token_type must be {ACCESS_TOKEN_TYPE} or {ID_TOKEN_TYPE}."
            )));
        }
        let subject = params.require("subject_token")?;
        // The provider tells ID tokens from access tokens by their shape; a declared
        // ID token that is not a JWT would otherwise be checked as an access token.
        if token_type == ID_TOKEN_TYPE && !crate::domain::looks_like_jwt(subject) {
            return Err(ApiError::invalid_request("subject_token is not a JWT, as an ID token is."));
        }
        (params.require("subject_issuer")?.to_owned(), Some(subject.to_owned()))
    } else {
        (params.require("backend")?.to_owned(), owned("token"))
    };
    let credential = match (token, owned("code")) {
        (Some(token), _) => Presented::Token(token),
        (None, Some(code)) => Presented::Code {
            code,
            redirect_uri: params.require("redirect_uri")?.to_owned(),
            code_verifier: owned("code_verifier"),
        },
        (None, None) => {
            return Err(ApiError::invalid_request("The 'token' parameter (or 'code') is required."))
        }
    };
    Ok(Conversion {
        grant,
        backend,
        credential,
        nonce: owned("nonce"),
        scope: owned("scope"),
        address: address(req, state),
    })
}

fn address(req: &HttpRequest, state: &AppState) -> String {
    client_ip_text(req, &state.settings.trusted_proxies)
}
