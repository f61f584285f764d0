//! OpenID Connect's say over the sign-in page (SPEC §13): `prompt=none` (answer without a
//! page), `prompt=login` and `max_age` (sign in again), `login_hint` (the login to offer).

use crate::params::decode_form;

#[derive(Debug, Default)]
pub struct Prompt {
    /// Redirect with `login_required` or `consent_required` rather than show a page.
    pub none: bool,
    /// A session from before this request does not count.
    pub login: bool,
    /// A session older than this many seconds does not count.
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
}

const ASKS_FOR_SIGN_IN: [&str; 2] = ["prompt", "max_age"];

impl Prompt {
    /// The controls a pending request's query carries; what does not parse is ignored.
    pub fn of(query: &str) -> Self {
        let mut prompt = Prompt::default();
        for (key, value) in decode_form(query.as_bytes()).unwrap_or_default() {
            match key.as_str() {
                "prompt" => {
                    let words: Vec<&str> = value.split_whitespace().collect();
                    prompt.none = words.contains(&"none");
                    prompt.login = words.contains(&"login");
                }
                "max_age" => prompt.max_age = value.trim().parse().ok().filter(|age: &i64| *age >= 0),
                "login_hint" => prompt.login_hint = Some(value).filter(|hint| !hint.trim().is_empty()),
                _ => {}
            }
        }
        prompt
    }

    /// Whether a browser session signed in at `since` will do at `now`.
    pub fn accepts(&self, since: i64, now: i64) -> bool {
        !self.login && self.max_age.is_none_or(|age| now - since <= age)
    }
}

/// The pending request once the sign-in it asked for has happened: without `prompt` and
/// `max_age`, so that the pages that follow (consent) do not ask for it again.
pub fn satisfied(query: &str) -> String {
    let pairs = decode_form(query.as_bytes()).unwrap_or_default();
    if !pairs.iter().any(|(key, _)| ASKS_FOR_SIGN_IN.contains(&key.as_str())) {
        return query.to_owned();
    }
    let mut kept = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs.iter().filter(|(key, _)| !ASKS_FOR_SIGN_IN.contains(&key.as_str())) {
        kept.append_pair(key, value);
    }
    kept.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_and_max_age_set_aside_older_sessions() {
        assert!(Prompt::of("client_id=a").accepts(0, 1000));
        assert!(!Prompt::of("prompt=login").accepts(1000, 1000));
        let max_age = Prompt::of("max_age=60");
        assert!(max_age.accepts(950, 1000));
        assert!(!max_age.accepts(900, 1000));
        assert!(Prompt::of("prompt=none").none);
        assert_eq!(Prompt::of("login_hint=ada%40example.com").login_hint.as_deref(), Some("ada@example.com"));
    }

    #[test]
    fn a_satisfied_request_no_longer_asks_for_a_sign_in() {
        assert_eq!(satisfied("client_id=a&prompt=login&max_age=0&state=s+t"), "client_id=a&state=s+t");
        assert_eq!(satisfied("client_id=a&state=x"), "client_id=a&state=x");
    }
}
