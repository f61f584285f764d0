use std::fmt;

/// An algorithm `IdTokenAlg::parse` does not know; its text is what the caller is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ID token algorithm '{0}': expected RS256 or EdDSA")]
pub struct UnknownIdTokenAlg(pub String);

/// How an application's ID tokens are signed (its `id_token_signed_response_alg`). RS256 by
/// default: OpenID Connect requires providers to offer it, and some relying parties accept
/// nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdTokenAlg {
    #[default]
    Rs256,
    EdDsa,
}

impl IdTokenAlg {
    pub const ALL: [IdTokenAlg; 2] = [IdTokenAlg::Rs256, IdTokenAlg::EdDsa];

    /// Exactly `RS256` or `EdDSA`, the names JOSE gives them.
    pub fn parse(raw: &str) -> Result<Self, UnknownIdTokenAlg> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str() == raw.trim())
            .ok_or_else(|| UnknownIdTokenAlg(raw.to_owned()))
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
