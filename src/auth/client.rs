//! Client authentication (RFC 6749 §2.3.1): HTTP Basic or `client_id`/`client_secret`
//! in the body, whichever the client sends, but not both.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::HttpRequest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

use super::django_hashes;
use super::legacy_secrets::LegacySecrets;
use crate::domain::ClientType;
use crate::error::ApiError;
use crate::params::Params;
use crate::store::applications::Application;
use crate::tokens::random;

pub struct ClientCredentials {
    pub client_id: String,
    secret: Option<SecretString>,
    pub via_basic: bool,
}

impl ClientCredentials {
    /// The credentials presented, if any.
    pub fn from_request(req: &HttpRequest, params: &Params) -> Result<Option<Self>, ApiError> {
        let basic = basic_credentials(req)?;
        match basic {
            Some((client_id, secret)) => {
                if params.get("client_secret").is_some() {
                    return Err(ApiError::invalid_request("Use one client authentication method, not two."));
                }
                if params.get("client_id").is_some_and(|body_id| body_id != client_id) {
                    return Err(ApiError::invalid_request(
                        "The client_id in the body differs from HTTP Basic.",
                    ));
                }
                Ok(Some(Self { client_id, secret: Some(SecretString::from(secret)), via_basic: true }))
            }
            None => Ok(params.get("client_id").map(|client_id| Self {
                client_id: client_id.to_owned(),
                secret: params.get("client_secret").map(|s| SecretString::from(s.to_owned())),
                via_basic: false,
            })),
        }
    }

    /// Like `from_request`, but a request without any is `invalid_client`.
    pub fn required(req: &HttpRequest, params: &Params) -> Result<Self, ApiError> {
        Self::from_request(req, params)?.ok_or_else(|| ApiError::InvalidClient {
            description:
                "Client authentication is required: send client_id (and client_secret) or HTTP Basic.".into(),
            basic: false,
        })
    }

    pub(super) fn failure(&self, description: &str) -> ApiError {
        ApiError::InvalidClient { description: description.into(), basic: self.via_basic }
    }

    pub(super) fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// `app`, if it is the application these credentials name and (when confidential)
    /// the secret matches its hash: ours, or a Django one an import brought (`legacy`).
    pub(super) fn verify(
        &self,
        app: Arc<Application>,
        legacy: &LegacySecrets,
    ) -> Result<Arc<Application>, ApiError> {
        if app.client_type() == ClientType::Public {
            // Public clients have no secret to check; one sent anyway is ignored, as
            // tutorial frontends often send an empty or placeholder secret.
            return Ok(app);
        }
        let secret = self
            .secret
            .as_ref()
            .ok_or_else(|| self.failure("This client must authenticate with its secret."))?;
        let stored = app.secret_hash.as_deref().unwrap_or_default();
        // An empty hash is no secret at all, not Django's unusable one: refused below.
        let django = django_hashes::identify(stored).filter(|h| *h != django_hashes::Hasher::Unusable);
        let matches = if django.is_some() {
            legacy.verify(&app, stored, secret.expose_secret())?
        } else {
            random::matches_hash(secret.expose_secret(), stored)
        };
        if !matches {
            return Err(self.failure(UNKNOWN));
        }
        Ok(app)
    }
}

/// One answer for an unknown client and a wrong secret: telling them apart would
/// confirm which client ids exist.
pub(super) const UNKNOWN: &str = "Unknown client or invalid client credentials.";

/// Decodes `Authorization: Basic`, whose parts are form-encoded per RFC 6749 §2.3.1.
fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    // The scheme is case-insensitive (RFC 7235), and `Basic` alone, its credentials
    // trimmed away in transit, is Basic with malformed credentials, not no Basic.
    let (scheme, encoded) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let malformed =
        || ApiError::InvalidClient { description: "Malformed HTTP Basic credentials.".into(), basic: true };
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
    if text.contains('\0') {
        return Err(malformed());
    }
    let decode = |s: &str| crate::params::decode_component(s.as_bytes()).ok_or_else(malformed);
    let (id, secret) = (decode(id)?, decode(secret)?);
    if id.contains('\0') || secret.contains('\0') {
        return Err(malformed());
    }
    Ok(Some((id, secret)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20app:s%3Acret"));
        let req = TestRequest::default().insert_header((header::AUTHORIZATION, header)).to_http_request();
        let creds = ClientCredentials::from_request(&req, &Params::default()).unwrap().unwrap();
        assert_eq!(creds.client_id, "my app");
        assert_eq!(creds.secret.unwrap().expose_secret(), "s:cret");
        assert!(creds.via_basic);

        // A bare scheme is malformed Basic, answered with its challenge.
        for bare in ["Basic", "Basic ", "BASIC    "] {
            let req = TestRequest::default().insert_header((header::AUTHORIZATION, bare)).to_http_request();
            let refused = ClientCredentials::from_request(&req, &Params::default()).err();
            assert!(matches!(refused, Some(ApiError::InvalidClient { basic: true, .. })), "{bare:?}");
        }

        // Decoded strictly: invalid bytes are refused, not turned into U+FFFD.
        let header = format!("Basic {}", STANDARD.encode("app:%ff%fe"));
        let req = TestRequest::default().insert_header((header::AUTHORIZATION, header)).to_http_request();
        assert!(ClientCredentials::from_request(&req, &Params::default()).is_err());
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let header = format!("Basic {}", STANDARD.encode("app:secret"));
        let req = TestRequest::default().insert_header((header::AUTHORIZATION, header)).to_http_request();
        let params = Params::from_pairs([("client_secret".to_owned(), "secret".to_owned())]);
        assert!(ClientCredentials::from_request(&req, &params).is_err());
    }
}
