use std::fmt;

/// A client type `ClientType::parse` does not know; its text is what the caller is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown client type '{0}': expected confidential or public")]
pub struct UnknownClientType(pub String);

/// RFC 6749 §2.1: confidential clients hold a secret, public clients cannot.
/// Confidential unless asked otherwise, as the admin API registers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientType {
    #[default]
    Confidential,
    Public,
}

impl ClientType {
    pub fn parse(raw: &str) -> Result<Self, UnknownClientType> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "confidential" => Ok(Self::Confidential),
            "public" => Ok(Self::Public),
            other => Err(UnknownClientType(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }
}

impl fmt::Display for ClientType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
