use std::fmt;

/// An ID token algorithm `IdTokenAlg::parse` does not know; its text is what the caller is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ID token signing algorithm '{0}': expected RS256 or EdDSA")]
pub struct UnknownIdTokenAlg(pub String);

/// How an application's ID tokens are signed (its `id_token_signed_response_alg`, SPEC §13).
/// RS256 by default: OpenID Connect requires every relying party to accept it, while EdDSA
/// is only for applications known to verify it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdTokenAlg {
    #[default]
    Rs256,
    EdDsa,
}

impl IdTokenAlg {
    pub const ALL: [IdTokenAlg; 2] = [Self::Rs256, Self::EdDsa];

    /// Exactly the JOSE names: `alg` values are case-sensitive (RFC 7515 §4.1.1), so
    /// `rs256` is refused rather than stored as something no relying party would match.
    pub fn parse(raw: &str) -> Result<Self, UnknownIdTokenAlg> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == raw).ok_or_else(|| UnknownIdTokenAlg(raw.to_owned()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::EdDsa => "EdDSA",
        }
    }
}

impl fmt::Display for IdTokenAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::IdTokenAlg;

    #[test]
    fn only_the_exact_jose_names_parse_and_rs256_is_the_default() {
        assert_eq!(IdTokenAlg::parse("RS256"), Ok(IdTokenAlg::Rs256));
        assert_eq!(IdTokenAlg::parse("EdDSA"), Ok(IdTokenAlg::EdDsa));
        for refused in ["rs256", "EDDSA", " RS256", "HS256", "none", ""] {
            assert!(IdTokenAlg::parse(refused).is_err(), "{refused:?}");
        }
        assert_eq!(IdTokenAlg::default(), IdTokenAlg::Rs256);
        for alg in IdTokenAlg::ALL {
            assert_eq!(IdTokenAlg::parse(alg.as_str()), Ok(alg));
        }
    }
}
