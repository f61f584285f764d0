//! Request parameters from a form or a JSON body, whichever the client sent.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;

use crate::error::ApiError;

/// SPEC §1: bodies over 64 KiB get 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Flat string parameters. JSON numbers and booleans become their text; JSON arrays of
/// strings are joined with spaces (so `"scope": ["read", "write"]` works), and an item
/// with whitespace in it is refused; nested objects are ignored, as are unknown keys.
#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The value as sent, empty included (`get` treats empty as absent).
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn require(&self, key: &str) -> Result<&str, ApiError> {
        self.get(key).ok_or_else(|| ApiError::invalid_request(format!("The '{key}' parameter is required.")))
    }

    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(pairs.into_iter().collect())
    }

    fn parse(content_type: &str, body: &[u8]) -> Result<Self, ApiError> {
        let params = Self::parse_any(content_type, body)?;
        // PostgreSQL cannot store NUL in text, and no legitimate parameter contains one.
        if params.0.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
            return Err(ApiError::invalid_request("Parameters may not contain NUL characters."));
        }
        Ok(params)
    }

    fn parse_any(content_type: &str, body: &[u8]) -> Result<Self, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if mime == "application/json" || mime.ends_with("+json") {
            return Self::parse_json(body);
        }
        // JSON under another type (none, `text/plain` from a bare `fetch`, curl's form
        // default) would otherwise be read as one odd form key, and the client told that
        // `grant_type` is missing. It is not read as JSON either: `text/plain` and forms
        // are the types a cross-site page may post without a CORS preflight.
        if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            let sent =
                if mime.is_empty() { "no Content-Type".to_owned() } else { format!("Content-Type {mime}") };
            return Err(ApiError::invalid_request(format!(
                "The body looks like JSON but was sent with {sent}: send it with \
                 Content-Type: application/json (or send a form as application/x-www-form-urlencoded)."
            )));
        }
        // Form bodies without a Content-Type are read as forms, as they always were.
        if mime.is_empty() || mime == "application/x-www-form-urlencoded" || mime == "text/plain" {
            let pairs = decode_form(body)
                .ok_or_else(|| ApiError::invalid_request("The form body is not UTF-8 once decoded."))?;
            return Ok(Self::from_pairs(pairs));
        }
        Err(ApiError::invalid_request(
            "Send the body as application/x-www-form-urlencoded or application/json.",
        ))
    }

    fn parse_json(body: &[u8]) -> Result<Self, ApiError> {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid_request(format!("The JSON body could not be parsed: {e}.")))?;
        let serde_json::Value::Object(object) = value else {
            return Err(ApiError::invalid_request("The JSON body must be an object."));
        };
        let mut params = HashMap::new();
        for (key, value) in object {
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Array(items) => {
                    let items: Vec<&str> = items.iter().filter_map(|v| v.as_str()).collect();
                    // Joined with spaces, an item with whitespace in it would become two.
                    if items.iter().any(|item| item.chars().any(char::is_whitespace)) {
                        return Err(ApiError::invalid_request(format!(
                            "The items of '{key}' may not contain whitespace."
                        )));
                    }
                    items.join(" ")
                }
                serde_json::Value::Null | serde_json::Value::Object(_) => continue,
            };
            params.insert(key, text);
        }
        Ok(Self(params))
    }
}

/// The pairs of an `application/x-www-form-urlencoded` body, or `None` when a key or
/// value is not UTF-8 once percent-decoded. Decoders that replace invalid bytes with
/// U+FFFD would make two different passwords of invalid bytes compare equal.
pub fn decode_form(body: &[u8]) -> Option<Vec<(String, String)>> {
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(at) => Some((decode_component(&pair[..at])?, decode_component(&pair[at + 1..])?)),
            None => Some((decode_component(pair)?, String::new())),
        })
        .collect()
}

/// One form-encoded key or value: `+` is a space, `%XX` a byte, and the result must be UTF-8.
pub fn decode_component(raw: &[u8]) -> Option<String> {
    // Copied only when it has a `+`: most values on the token endpoint have none.
    let spaced: Cow<[u8]> = if raw.contains(&b'+') {
        Cow::Owned(raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect())
    } else {
        Cow::Borrowed(raw)
    };
    percent_encoding::percent_decode(&spaced).decode_utf8().ok().map(Cow::into_owned)
}

impl FromRequest for Params {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > BODY_LIMIT) {
                return Err(ApiError::PayloadTooLarge);
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk =
                    chunk.map_err(|_| ApiError::invalid_request("The request body could not be read."))?;
                if body.len() + chunk.len() > BODY_LIMIT {
                    return Err(ApiError::PayloadTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Params::parse(&content_type, &body)
        })
    }
}

/// The decoded value of `name` in a query string, if it is there and decodes.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    decode_form(query.as_bytes())?.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_json_give_the_same_parameters() {
        let form =
            Params::parse("application/x-www-form-urlencoded", b"grant_type=password&username=a%40b.c")
                .unwrap();
        let json = Params::parse(
            "application/json; charset=utf-8",
            br#"{"grant_type":"password","username":"a@b.c"}"#,
        )
        .unwrap();
        assert_eq!(form.get("username"), Some("a@b.c"));
        assert_eq!(json.get("username"), Some("a@b.c"));
        assert_eq!(form.get("grant_type"), json.get("grant_type"));
    }

    #[test]
    fn json_scalars_become_text_and_objects_are_ignored() {
        let p = Params::parse("application/json", br#"{"a":1,"b":true,"c":{"x":1},"d":["read","write"]}"#)
            .unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("true"));
        assert_eq!(p.get("c"), None);
        assert_eq!(p.get("d"), Some("read write"));
        assert!(Params::parse("application/json", br#"{"redirect_uris":["https://a/cb\nhttps://b/cb"]}"#)
            .is_err());
        assert!(Params::parse("application/json", br#"{"scope":["read write"]}"#).is_err());
    }

    #[test]
    fn forms_decode_plus_and_percent_but_refuse_what_is_not_utf8() {
        let p = Params::parse("", b"a=x+y%2Bz&b&&c=%C3%A9").unwrap();
        assert_eq!(p.raw("a"), Some("x y+z"));
        assert_eq!(p.raw("b"), Some(""));
        assert_eq!(p.get("c"), Some("\u{e9}"));
        assert!(Params::parse("", b"password=%ff%ff").is_err());
        assert!(Params::parse("", b"password=ok&%fe=1").is_err());
        assert!(Params::parse("", b"password=\xff").is_err());
    }

    #[test]
    fn json_without_a_json_content_type_is_refused_by_name() {
        let json = br#" {"grant_type":"password"}"#;
        for content_type in ["", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"] {
            let Err(ApiError::InvalidRequest(description)) = Params::parse(content_type, json) else {
                panic!("{content_type:?}: accepted");
            };
            assert!(description.contains("Content-Type: application/json"), "{description}");
        }
        // A form that omits its Content-Type is still a form.
        assert_eq!(Params::parse("", b"grant_type=password").unwrap().get("grant_type"), Some("password"));
        assert_eq!(
            Params::parse("text/plain", b"grant_type=password").unwrap().get("grant_type"),
            Some("password")
        );
    }

    #[test]
    fn malformed_bodies_are_invalid_requests() {
        assert!(Params::parse("application/json", b"{not json").is_err());
        assert!(Params::parse("application/json", b"[1,2]").is_err());
        assert!(Params::parse("multipart/form-data; boundary=x", b"--x").is_err());
    }
}
