//! A provider's signing keys, cached as its `Cache-Control` allows, and refetched when a
//! token names a key we do not have (a rotation), at most once per `MIN_REFETCH`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::DecodingKey;
use tokio::sync::Mutex;

use super::http::{unavailable, ProviderHttp};
use super::ProviderError;

/// Unknown `kid`s refetch at most this often, so garbage tokens cannot make us hammer
/// the provider.
const MIN_REFETCH: Duration = Duration::from_secs(30);
/// Used when the provider sends no usable max-age.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);

struct Cached {
    keys: HashMap<String, DecodingKey>,
    expires: Instant,
}

enum Lookup {
    Hit(DecodingKey),
    /// No keys yet, or past their max-age.
    Stale,
    /// Fresh keys, but none with this `kid`: maybe the provider rotated.
    Miss,
}

pub struct JwksCache {
    provider: &'static str,
    url: String,
    http: Arc<ProviderHttp>,
    // Reads (every ID token) take only this lock, briefly.
    cached: RwLock<Option<Cached>>,
    // One fetch at a time; holds when an unknown kid last caused one.
    fetching: Mutex<Option<Instant>>,
}

impl JwksCache {
    pub fn new(provider: &'static str, url: String, http: Arc<ProviderHttp>) -> Self {
        Self { provider, url, http, cached: RwLock::new(None), fetching: Mutex::new(None) }
    }

    fn lookup(&self, kid: &str) -> Lookup {
        let cached = self.cached.read().unwrap_or_else(|e| e.into_inner());
        match cached.as_ref() {
            Some(c) if c.expires > Instant::now() => {
                c.keys.get(kid).cloned().map_or(Lookup::Miss, Lookup::Hit)
            }
            _ => Lookup::Stale,
        }
    }

    pub async fn key(&self, kid: &str) -> Result<DecodingKey, ProviderError> {
        if let Lookup::Hit(key) = self.lookup(kid) {
            return Ok(key);
        }
        let mut last_miss_fetch = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        match self.lookup(kid) {
            Lookup::Hit(key) => return Ok(key),
            Lookup::Stale => {}
            Lookup::Miss => {
                if last_miss_fetch.is_some_and(|at| at.elapsed() < MIN_REFETCH) {
                    return Err(unknown_kid(self.provider));
                }
                *last_miss_fetch = Some(Instant::now());
            }
        }
        match self.fetch().await {
            Ok(fetched) => {
                let key = fetched.keys.get(kid).cloned();
                *self.cached.write().unwrap_or_else(|e| e.into_inner()) = Some(fetched);
                key.ok_or_else(|| unknown_kid(self.provider))
            }
            Err(error) => {
                // A provider outage should not fail tokens signed by keys we still hold:
                // keep them a while longer rather than retrying on every request.
                let mut cached = self.cached.write().unwrap_or_else(|e| e.into_inner());
                match cached.as_mut().and_then(|c| {
                    c.expires = Instant::now() + MIN_REFETCH;
                    c.keys.get(kid).cloned()
                }) {
                    Some(key) => Ok(key),
                    None => Err(error),
                }
            }
        }
    }

    async fn fetch(&self) -> Result<Cached, ProviderError> {
        let response =
            self.http.client().get(&self.url).send().await.map_err(|e| unavailable(self.provider, e))?;
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
        Ok(Cached { keys, expires: now + max_age })
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
