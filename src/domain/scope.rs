use std::collections::BTreeSet;
use std::fmt;

/// A set of known scope names, kept sorted so equal scopes print identically.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope(BTreeSet<&'static str>);

/// A scope name this server does not know; its text is what the client is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope '{0}'")]
pub struct UnknownScope(pub String);

/// Scopes this server knows, each with what it lets an application do, in the words the
/// consent page puts to a person. `admin` is granted to staff users only.
const KNOWN: [(&str, &str); 6] = [
    ("openid", "Sign you in with your account here"),
    ("email", "See your email address"),
    ("profile", "See your name and username"),
    ("read", "See your account and the data it holds"),
    ("write", "Change your account and its data on your behalf"),
    ("admin", "Administer this server with your staff rights"),
];
pub const ADMIN: &str = "admin";
/// OpenID Connect's scopes (SPEC §13): `openid` asks for an ID token, the others for claims.
pub const OPENID: &str = "openid";
pub const EMAIL: &str = "email";
pub const PROFILE: &str = "profile";

/// The static name of a known scope.
fn known(name: &str) -> Option<&'static str> {
    KNOWN.iter().find(|(known, _)| *known == name).map(|(known, _)| *known)
}

impl Scope {
    /// What a token gets when the request names no scope.
    pub fn default_grant() -> Self {
        Self(["read", "write"].into_iter().collect())
    }

    /// Parses a space-separated list; an unknown name is `invalid_scope`.
    pub fn parse(raw: &str) -> Result<Self, UnknownScope> {
        let mut set = BTreeSet::new();
        for name in raw.split_whitespace() {
            set.insert(known(name).ok_or_else(|| UnknownScope(name.to_owned()))?);
        }
        Ok(Self(set))
    }

    /// The requested scope, or the default when none (or an empty one) was asked for.
    pub fn requested(raw: Option<&str>) -> Result<Self, UnknownScope> {
        match raw.map(str::trim).filter(|s| !s.is_empty()) {
            Some(raw) => Self::parse(raw),
            None => Ok(Self::default_grant()),
        }
    }

    /// Parses a stored scope; names no longer known are dropped rather than failing.
    pub fn from_stored(raw: &str) -> Self {
        Self(raw.split_whitespace().filter_map(known).collect())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    pub fn is_subset(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn without(mut self, name: &str) -> Self {
        self.0.remove(name);
        self
    }

    /// Whether the token is an OpenID Connect sign-in, which comes with an ID token.
    pub fn is_openid(&self) -> bool {
        self.contains(OPENID)
    }

    /// Each scope as `(name, what it allows)`, least power first (the order of `KNOWN`).
    pub fn described(&self) -> Vec<(&'static str, &'static str)> {
        KNOWN.iter().filter(|(name, _)| self.contains(name)).copied().collect()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for name in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(name)?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn scopes_print_sorted_and_deduplicated() {
        assert_eq!(Scope::parse("write read write").unwrap().to_string(), "read write");
    }

    #[test]
    fn missing_or_blank_scope_means_the_default() {
        assert_eq!(Scope::requested(None).unwrap(), Scope::default_grant());
        assert_eq!(Scope::requested(Some("  ")).unwrap(), Scope::default_grant());
    }

    #[test]
    fn unknown_scope_is_refused() {
        assert!(Scope::parse("read launch_missiles").is_err());
    }

    #[test]
    fn every_scope_is_described_in_words() {
        let described = Scope::parse("admin write read").unwrap().described();
        assert_eq!(described.iter().map(|(name, _)| *name).collect::<Vec<_>>(), ["read", "write", "admin"]);
        assert!(described.iter().all(|(name, words)| !words.is_empty() && words != name));
        assert_eq!(Scope::parse("write").unwrap().described().len(), 1);
    }

    #[test]
    fn narrowing_is_a_subset() {
        let all = Scope::parse("read write").unwrap();
        assert!(Scope::parse("read").unwrap().is_subset(&all));
        assert!(!Scope::parse("admin").unwrap().is_subset(&all));
    }
}
