//! Argon2id password hashing, bounded so a login flood cannot exhaust memory.
//!
//! Each hash needs 19 MiB of working memory. Letting argon2 allocate it per call made
//! the allocator keep a copy in every blocking thread's arena (hundreds of MB, even GBs,
//! under a flood); instead `HashLimiter` lends one of at most `permits` buffers to each
//! hash, so the memory in use is fixed at `permits` x 19 MiB however many requests wait.
//! The buffers are mapped from the OS, not the heap, and unmapped when a burst of
//! hashes ends: a heap allocator keeps a large freed block for reuse, which left an
//! idle server holding 19 MiB per core after its first sign-ins.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use subtle::ConstantTimeEq;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// OWASP's minimum for argon2id: 19 MiB, two passes, one lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;
const OUTPUT_LEN: usize = 32;

fn params() -> Params {
    Params::new(MEMORY_KIB, PASSES, LANES, Some(OUTPUT_LEN)).expect("argon2 parameters are valid")
}

/// Argon2's working memory: anonymous pages of our own (zeroed by the OS, and any bit
/// pattern is a valid `Block`), unmapped when dropped.
pub struct Memory {
    blocks: *mut Block,
    len: usize,
}

// The mapping is owned by this value alone, like a `Vec`'s buffer.
unsafe impl Send for Memory {}

impl Memory {
    /// No mapping until a hash needs one.
    pub fn new() -> Self {
        Self { blocks: std::ptr::NonNull::dangling().as_ptr(), len: 0 }
    }

    /// At least the blocks `params` need, mapping a larger area if this one is smaller.
    fn for_params(&mut self, params: &Params) -> Result<&mut [Block], ApiError> {
        let needed = params.block_count();
        if self.len < needed {
            *self = Self::new();
            let bytes = needed * std::mem::size_of::<Block>();
            // SAFETY: a fresh private anonymous mapping; failure is checked below.
            let area = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    bytes,
                    libc::PROT_READ | libc::PROT_WRITE,
                    // Every page is written by the hash: fault them in with one call.
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                    -1,
                    0,
                )
            };
            if area == libc::MAP_FAILED {
                return Err(ApiError::internal(std::io::Error::last_os_error()));
            }
            // Page-aligned, so aligned for `Block`.
            *self = Self { blocks: area.cast(), len: needed };
        }
        // SAFETY: `len` blocks are mapped, readable and writable, and borrowed mutably
        // through `self` only.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.blocks, needed) })
    }
}

impl Default for Memory {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: the area this value mapped, with its length; nothing borrows it now.
            unsafe { libc::munmap(self.blocks.cast(), self.len * std::mem::size_of::<Block>()) };
        }
    }
}

/// Hashes into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
pub fn hash_with(password: &str, memory: &mut Memory) -> Result<String, ApiError> {
    let params = params();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(ApiError::internal)?;
    let mut out = [0u8; OUTPUT_LEN];
    let blocks = memory.for_params(&params)?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), salt_raw, &mut out, blocks)
        .map_err(ApiError::internal)?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        salt.as_str(),
        STANDARD_NO_PAD.encode(out)
    ))
}

/// Verifies against a stored PHC hash (any argon2 variant and parameters).
fn verify_with(password: &str, stored: &str, memory: &mut Memory) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else { return false };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Ok(params), Some(salt), Some(expected)) = (Params::try_from(&parsed), parsed.salt, parsed.hash)
    else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_raw) = salt.decode_b64(&mut salt_bytes) else { return false };
    let mut out = vec![0u8; expected.len()];
    let Ok(blocks) = memory.for_params(&params) else { return false };
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt_raw,
        &mut out,
        blocks,
    );
    hashed.is_ok() && bool::from(out.ct_eq(expected.as_bytes()))
}

/// Verifies against a stored hash; `None` (unknown user, unusable password) still costs
/// one verification against a dummy hash so timing does not reveal who exists.
pub fn verify(password: &str, stored: Option<&str>, memory: &mut Memory) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy =
        DUMMY.get_or_init(|| hash_with("portcullis dummy password", &mut Memory::new()).unwrap_or_default());
    match stored {
        Some(hash) => verify_with(password, hash, memory),
        None => {
            verify_with(password, dummy, memory);
            false
        }
    }
}

/// Limits concurrent argon2 work to the number of cores (more parallel hashes than
/// cores add memory and latency, not throughput) and lends each one a reused buffer.
#[derive(Clone)]
pub struct HashLimiter {
    permits: Arc<Semaphore>,
    /// Turns for password attempts, twice the permits: see `turn`.
    turns: Arc<Semaphore>,
    buffers: Arc<Mutex<Vec<Memory>>>,
    /// Hashes running or waiting for a permit, and attempts holding or waiting for a turn.
    pending: Arc<AtomicUsize>,
}

impl HashLimiter {
    pub fn new(permits: usize) -> Self {
        let permits = permits.max(1);
        Self {
            permits: Arc::new(Semaphore::new(permits)),
            turns: Arc::new(Semaphore::new(permits * 2)),
            buffers: Arc::new(Mutex::new(Vec::new())),
            pending: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Runs `work` (which hashes or verifies with the memory it is given) on the
    /// blocking pool once a permit is free.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut Memory) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_counted(Pending::count(&self.pending), work).await
    }

    /// `run` for a hash already counted in `pending` (by its turn).
    async fn run_counted<T, F>(&self, pending: Pending, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut Memory) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        let buffers = self.buffers.clone();
        actix_web::web::block(move || {
            let mut memory = buffers.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
            let result = work(&mut memory);
            // A buffer is kept while other hashes run or wait for one; the last hash of
            // a burst frees its buffer, so a server between sign-ins holds none.
            if pending.others() > 0 {
                buffers.lock().unwrap_or_else(|e| e.into_inner()).push(memory);
            } else {
                drop(memory);
                buffers.lock().unwrap_or_else(|e| e.into_inner()).clear();
            }
            result
        })
        .await?
    }

    /// A turn for a password attempt, taken before the work is known: what a caller
    /// does holding it (recording the attempt) happens at most twice the permits at a
    /// time, so attempts in flight stay bounded, while one turn's record is written
    /// another's hash keeps the cores busy.
    pub async fn turn(&self) -> Result<HashTurn, ApiError> {
        // Counted from here: while an attempt is being recorded, the buffers it will
        // hash with stay mapped.
        let pending = Pending::count(&self.pending);
        let turn = self.turns.clone().acquire_owned().await.map_err(ApiError::internal)?;
        Ok(HashTurn { _turn: turn, pending, limiter: self.clone() })
    }
}

/// One hash or password attempt counted in `HashLimiter::pending` until it is dropped.
struct Pending(Arc<AtomicUsize>);

impl Pending {
    fn count(pending: &Arc<AtomicUsize>) -> Self {
        pending.fetch_add(1, Ordering::SeqCst);
        Self(pending.clone())
    }

    /// The hashes and attempts counted besides this one.
    fn others(&self) -> usize {
        self.0.load(Ordering::SeqCst).saturating_sub(1)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct HashTurn {
    _turn: OwnedSemaphorePermit,
    pending: Pending,
    limiter: HashLimiter,
}

impl HashTurn {
    /// `HashLimiter::run`, then the turn ends.
    pub async fn run<T, F>(self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut Memory) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.limiter.run_counted(self.pending, work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let mut memory = Memory::new();
        let stored = hash_with("correct horse", &mut memory).unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse", Some(&stored), &mut memory));
        assert!(!verify("wrong horse", Some(&stored), &mut memory));
    }

    #[test]
    fn hashes_are_standard_phc_strings() {
        use argon2::password_hash::PasswordVerifier;
        let stored = hash_with("correct horse", &mut Memory::new()).unwrap();
        let parsed = PasswordHash::new(&stored).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
    }

    #[test]
    fn hashes_made_elsewhere_verify() {
        use argon2::password_hash::PasswordHasher;
        let stored = Argon2::default()
            .hash_password(b"from django", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(verify("from django", Some(&stored), &mut Memory::new()));
    }

    #[test]
    fn memory_grows_for_hashes_that_need_more() {
        use argon2::password_hash::PasswordHasher;
        let mut memory = Memory::new();
        let ours = hash_with("correct horse", &mut memory).unwrap();
        let bigger = Params::new(32 * 1024, 1, 1, None).unwrap();
        let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, bigger)
            .hash_password(b"correct horse", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(verify("correct horse", Some(&stored), &mut memory));
        assert_eq!(memory.len, 32 * 1024);
        assert!(verify("correct horse", Some(&ours), &mut memory), "a larger area serves smaller hashes");
    }

    #[actix_web::test]
    async fn a_buffer_outlives_its_hash_only_while_another_attempt_is_in_flight() {
        let limiter = HashLimiter::new(1);
        let kept = || limiter.buffers.lock().unwrap().len();
        limiter.run(|memory| hash_with("alone", memory)).await.unwrap();
        assert_eq!(kept(), 0, "a lone hash unmaps its buffer");
        let waiting = limiter.turn().await.unwrap();
        limiter.run(|memory| hash_with("first", memory)).await.unwrap();
        assert_eq!(kept(), 1, "an attempt holding a turn will hash next");
        waiting.run(|memory| hash_with("second", memory)).await.unwrap();
        assert_eq!(kept(), 0, "the last hash of the burst unmaps every buffer");
    }

    #[test]
    fn no_stored_hash_never_verifies() {
        assert!(!verify("portcullis dummy password", None, &mut Memory::new()));
    }
}
