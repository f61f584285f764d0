//! Response headers shared by every answer that carries a secret or a personal detail.

use actix_web::http::header;
use actix_web::HttpResponseBuilder;

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1): no cache on the way
/// keeps a token, a client secret or a user's profile.
pub fn no_store(response: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    response.insert_header((header::CACHE_CONTROL, "no-store")).insert_header((header::PRAGMA, "no-cache"))
}
