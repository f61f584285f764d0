//! A provider's signing keys, cached as its `Cache-Control` allows and refetched (at most
//! once per `MIN_REFETCH`) when a token names a key we do not have.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::DecodingKey;
use tokio::sync::Mutex;

use super::http::unavailable;
use super::ProviderError;

/// Unknown `kid`s refetch at most this often, so garbage tokens cannot make us hammer
/// the provider.
const MIN_REFETCH: Duration = Duration::from_secs(30);
/// Used when the provider sends no usable max-age.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);

struct Cached {
    keys: HashMap<String, DecodingKey>,
    expires: Instant,
    fetched: Instant,
}

pub struct JwksCache {
    provider: &'static str,
    url: String,
    http: reqwest::Client,
    // One fetch at a time: concurrent requests wait for it instead of all fetching.
    cached: Mutex<Option<Cached>>,
}

impl JwksCache {
    pub fn new(provider: &'static str, url: String, http: reqwest::Client) -> Self {
        Self { provider, url, http, cached: Mutex::new(None) }
    }

    pub async fn key(&self, kid: &str) -> Result<DecodingKey, ProviderError> {
        let mut cached = self.cached.lock().await;
        let now = Instant::now();
        if let Some(c) = cached.as_ref() {
            let fresh = c.expires > now;
            if let Some(key) = c.keys.get(kid).filter(|_| fresh) {
                return Ok(key.clone());
            }
            if fresh && now.duration_since(c.fetched) < MIN_REFETCH {
                return Err(unknown_kid(self.provider));
            }
        }
        match self.fetch().await {
            Ok(fetched) => {
                let key = fetched.keys.get(kid).cloned();
                *cached = Some(fetched);
                key.ok_or_else(|| unknown_kid(self.provider))
            }
            Err(error) => {
                // A provider outage should not fail tokens signed by keys we still hold.
                if let Some(c) = cached.as_mut() {
                    c.fetched = now;
                    if let Some(key) = c.keys.get(kid) {
                        return Ok(key.clone());
                    }
                }
                Err(error)
            }
        }
    }

    async fn fetch(&self) -> Result<Cached, ProviderError> {
        let response = self.http.get(&self.url).send().await.map_err(|e| unavailable(self.provider, e))?;
        if !response.status().is_success() {
            return Err(unavailable(self.provider, format!("keys answered {}", response.status())));
        }
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(DEFAULT_MAX_AGE);
        let set: JwkSet = response.json().await.map_err(|e| unavailable(self.provider, e))?;
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect();
        let now = Instant::now();
        Ok(Cached { keys, expires: now + max_age, fetched: now })
    }
}

fn unknown_kid(provider: &str) -> ProviderError {
    ProviderError::Rejected(format!("The ID token is signed by a key {provider} does not publish."))
}

/// `max-age` from a Cache-Control header (`public, max-age=19813, must-revalidate`).
fn max_age(header: &str) -> Option<Duration> {
    header
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::max_age;
    use std::time::Duration;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=19813, must-revalidate, no-transform"),
            Some(Duration::from_secs(19813))
        );
        assert_eq!(max_age("no-cache"), None);
    }
}
