//! `/auth/token/` (drf-social-oauth2's URLs end in a slash, as Django's do) and
//! `//auth//token` reach the route `/auth/token`.
//!
//! actix's `NormalizePath` does the same, but runs a regex over a fresh copy of every
//! path, a cost the profiles showed (bench/notes.md); this leaves the paths that need
//! nothing, nearly all of them, untouched.

use actix_web::dev::ServiceRequest;
use actix_web::http::uri::{PathAndQuery, Uri};

/// Rewrites the request's path when it has an empty segment (a doubled or trailing
/// slash), before routing sees it.
pub fn clean(req: &mut ServiceRequest) {
    let Some(path) = cleaned(req.path()) else { return };
    let mut parts = req.uri().clone().into_parts();
    let with_query = match req.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let Ok(path_and_query) = PathAndQuery::try_from(with_query) else { return };
    parts.path_and_query = Some(path_and_query);
    let Ok(uri) = Uri::from_parts(parts) else { return };
    req.match_info_mut().get_mut().update(&uri);
    req.head_mut().uri = uri;
}

/// The path without empty segments, or `None` when it has none to drop.
fn cleaned(path: &str) -> Option<String> {
    let has_empty = path.len() > 1 && (path.ends_with('/') || path.contains("//"));
    if !has_empty {
        return None;
    }
    let mut clean = String::with_capacity(path.len());
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        clean.push('/');
        clean.push_str(segment);
    }
    if clean.is_empty() {
        clean.push('/');
    }
    Some(clean)
}

#[cfg(test)]
mod tests {
    use super::cleaned;

    #[test]
    fn only_paths_with_empty_segments_change() {
        assert_eq!(cleaned("/auth/token"), None);
        assert_eq!(cleaned("/"), None);
        assert_eq!(cleaned("/auth/token/").as_deref(), Some("/auth/token"));
        assert_eq!(cleaned("//auth//convert-token//").as_deref(), Some("/auth/convert-token"));
        assert_eq!(cleaned("//").as_deref(), Some("/"));
    }
}
