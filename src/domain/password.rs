use secrecy::{ExposeSecret, SecretString};

/// A password that passed the sign-up rules; its text never reaches Debug output.
pub struct NewPassword(SecretString);

/// Context a new password is checked against.
pub struct PasswordRules<'a> {
    pub email: Option<&'a str>,
    pub username: Option<&'a str>,
}

pub const MIN_LENGTH: usize = 8;
const MAX_LENGTH: usize = 1024;

/// Passwords that appear at the top of every breach list; all of them are at least
/// eight characters long, since shorter ones already fail the length rule.
const COMMON: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "password!",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "qwertyui",
    "qwertyuiop",
    "qwerty123",
    "qwerty12",
    "1qaz2wsx",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "zaq12wsx",
    "asdfghjk",
    "asdfghjkl",
    "asdf1234",
    "zxcvbnm1",
    "iloveyou",
    "iloveyou1",
    "sunshine",
    "sunshine1",
    "princess",
    "princess1",
    "football",
    "football1",
    "baseball",
    "baseball1",
    "superman",
    "starwars",
    "trustno1",
    "whatever",
    "welcome1",
    "welcome123",
    "letmein1",
    "letmein123",
    "master123",
    "abc12345",
    "abcd1234",
    "abcdefgh",
    "12345abc",
    "changeme",
    "changeme1",
    "computer",
    "michelle",
    "jennifer",
    "jordan23",
    "liverpool",
    "chelsea1",
    "arsenal1",
    "mercedes",
    "corvette",
    "dragon12",
    "monkey12",
    "charlie1",
    "shadow12",
    "michael1",
    "jessica1",
    "matthew1",
    "internet",
    "firebird",
    "samantha",
    "butterfly",
    "passport",
    "blink182",
    "pokemon1",
    "pussycat",
    "cocacola",
    "metallica",
    "hello123",
    "admin123",
    "administrator",
    "root1234",
    "test1234",
    "testtest",
    "guest123",
    "secret12",
    "freedom1",
    "loveyou1",
    "lovelove",
    "babygirl",
    "elephant",
    "q1w2e3r4",
    "q1w2e3r4t5",
    "aa123456",
    "a1234567",
    "a12345678",
    "ashley12",
    "hunter12",
    "hunter22",
    "killer12",
    "soccer12",
    "whatever1",
    "11111111a",
    "qazwsxedc",
    "1234qwer",
    "qwer1234",
    "portcullis",
];

impl NewPassword {
    /// Checks the SPEC §5 rules and returns every failed rule as a message.
    pub fn parse(raw: &str, rules: &PasswordRules<'_>) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let length = raw.chars().count();
        if length < MIN_LENGTH {
            problems.push(format!(
                "This password is too short. It must contain at least {MIN_LENGTH} characters."
            ));
        }
        if length > MAX_LENGTH {
            problems
                .push(format!("This password is too long. It may contain at most {MAX_LENGTH} characters."));
        }
        if !raw.is_empty() && raw.chars().all(|c| c.is_ascii_digit()) {
            problems.push("This password is entirely numeric.".into());
        }
        let lowered = raw.to_lowercase();
        let similar = |value: Option<&str>| {
            value
                .map(str::to_lowercase)
                .is_some_and(|v| !v.is_empty() && (v == lowered || lowered.contains(&v)))
        };
        if similar(rules.email)
            || similar(rules.email.and_then(|e| e.split('@').next()).filter(|l| l.len() >= 4))
        {
            problems.push("This password is too similar to the email.".into());
        } else if similar(rules.username.filter(|u| u.len() >= 4)) {
            problems.push("This password is too similar to the username.".into());
        }
        if COMMON.contains(&lowered.as_str()) {
            problems.push("This password is too common.".into());
        }
        if problems.is_empty() {
            Ok(Self(SecretString::from(raw.to_owned())))
        } else {
            Err(problems)
        }
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str) -> Result<NewPassword, Vec<String>> {
        NewPassword::parse(password, &PasswordRules { email: Some("ada@example.com"), username: Some("ada") })
    }

    #[test]
    fn good_password_passes() {
        assert!(check("correct horse battery").is_ok());
    }

    #[test]
    fn each_rule_names_its_failure() {
        assert!(check("short1").err().unwrap().iter().any(|m| m.contains("too short")));
        assert!(check("1234567890").err().unwrap().iter().any(|m| m.contains("numeric")));
        assert!(check("ada@example.com").err().unwrap().iter().any(|m| m.contains("email")));
        assert!(check("Password123").err().unwrap().iter().any(|m| m.contains("common")));
    }
}
