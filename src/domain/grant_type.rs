use std::fmt;

/// A grant type name `GrantType::parse_list` does not know; its text is what the caller
/// is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown grant type '{0}'")]
pub struct UnknownGrantType(pub String);

/// The grants an application may be allowed to use (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    Password,
    RefreshToken,
    ClientCredentials,
    AuthorizationCode,
    ConvertToken,
    TokenExchange,
}

impl GrantType {
    pub const ALL: [GrantType; 6] = [
        Self::AuthorizationCode,
        Self::Password,
        Self::RefreshToken,
        Self::ClientCredentials,
        Self::ConvertToken,
        Self::TokenExchange,
    ];

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == raw.trim())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode => "authorization_code",
            Self::ConvertToken => "convert_token",
            Self::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    /// Parses a comma- or space-separated list, refusing unknown names.
    pub fn parse_list(raw: &str) -> Result<Vec<Self>, UnknownGrantType> {
        let mut grants = Vec::new();
        for name in raw.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()) {
            let grant = Self::parse(name).ok_or_else(|| UnknownGrantType(name.to_owned()))?;
            if !grants.contains(&grant) {
                grants.push(grant);
            }
        }
        Ok(grants)
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::GrantType;

    #[test]
    fn grant_lists_accept_commas_and_spaces_and_refuse_unknown_names() {
        assert_eq!(
            GrantType::parse_list("password, refresh_token convert_token").unwrap(),
            vec![GrantType::Password, GrantType::RefreshToken, GrantType::ConvertToken]
        );
        assert!(GrantType::parse_list("password,implicit").is_err());
    }
}
