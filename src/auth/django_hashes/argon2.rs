//! `argon2$argon2id$v=19$m=102400,t=2,p=8$<salt>$<hash>`: Django stores argon2-cffi's PHC
//! string after `argon2` (Django 1.10-2.x wrote `argon2i`, and the earliest ones no `v=`,
//! which means version 0x10). The hash is computed by `passwords::verify`, our argon2id's
//! own check, in the buffer the caller's `HashLimiter` lends.

use argon2::password_hash::PasswordHash;
use argon2::Params;

use super::{within, Hasher, LegacyHashError};
use crate::auth::passwords::{self, Memory};

/// Django's default is 100 MiB (`m=102400`, in KiB); a quarter GiB leaves room for a
/// project that raised it while a few concurrent attempts still fit in a server's memory.
const MAX_MEMORY_KIB: u64 = 256 * 1024;
/// Django's default is 2 passes and argon2-cffi's 3; each pass rereads all the memory. At
/// every limit a hash costs about 13 times Django's default (a quarter of a second here).
const MAX_PASSES: u64 = 10;
/// Django's default is 8 lanes. Ours are computed one after another, so lanes cost time
/// without adding memory beyond `m`; more than 16 serves no deployment.
const MAX_LANES: u64 = 16;

const HASHER: Hasher = Hasher::Argon2;

pub fn verify(fields: &str, password: &str, memory: &mut Memory) -> Result<bool, LegacyHashError> {
    let malformed = |reason| LegacyHashError::malformed(HASHER, reason);
    let phc = format!("${fields}");
    let parsed = PasswordHash::new(&phc).map_err(|_| malformed("not an argon2 PHC string"))?;
    if !matches!(parsed.algorithm.as_str(), "argon2id" | "argon2i" | "argon2d") {
        return Err(malformed("not an argon2 variety"));
    }
    let cost =
        |name| parsed.params.get_decimal(name).map(u64::from).ok_or_else(|| malformed("m, t or p missing"));
    within(HASHER, "memory (KiB)", cost("m")?, MAX_MEMORY_KIB)?;
    within(HASHER, "passes", cost("t")?, MAX_PASSES)?;
    within(HASHER, "lanes", cost("p")?, MAX_LANES)?;
    if !matches!(parsed.version, None | Some(0x10) | Some(0x13)) {
        return Err(malformed("unknown version"));
    }
    Params::try_from(&parsed).map_err(|_| malformed("parameters argon2 does not accept"))?;
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err(malformed("salt or hash missing"));
    }
    let Some((variety, rest)) = fields.split_once('$') else { return Err(malformed("no variety")) };
    let phc = match parsed.version {
        // Spelled out: the PHC parser takes a missing version as the current one.
        None => format!("${variety}$v=16${rest}"),
        Some(_) => phc,
    };
    Ok(passwords::verify(password, Some(&phc), memory))
}
