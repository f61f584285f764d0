//! Django's own hashes (tests/fixtures/django_hashes, made by make_vectors.sh) verify here,
//! and hashes that are malformed or too costly are refused without running.

use serde::Deserialize;

use super::*;

#[derive(Deserialize)]
struct Vectors {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    hasher: String,
    cost: String,
    password: String,
    encoded: String,
}

fn vectors() -> Vec<Vector> {
    let json =
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/django_hashes/vectors.json"));
    serde_json::from_str::<Vectors>(json).expect("vectors.json parses").vectors
}

fn usable() -> impl Iterator<Item = Vector> {
    vectors().into_iter().filter(|v| v.hasher != "unusable")
}

/// The cheapest vector of `hasher` with an ASCII password.
fn cheap(hasher: &str) -> Vector {
    usable().find(|v| v.hasher == hasher && v.cost == "low").expect("a low-cost vector")
}

fn check(encoded: &str, password: &str) -> Result<bool, LegacyHashError> {
    verify(encoded, password, &mut Memory::new())
}

fn over_limit(result: Result<bool, LegacyHashError>) -> &'static str {
    match result {
        Err(LegacyHashError::OverLimit { parameter, .. }) => parameter,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_vectors_cover_every_hasher_at_low_cost_and_at_djangos_default() {
    let all = vectors();
    for hasher in ["pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "scrypt"] {
        for cost in ["low", "default"] {
            assert!(all.iter().any(|v| v.hasher == hasher && v.cost == cost), "{hasher} at {cost} cost");
        }
        let passwords: Vec<&str> = all.iter().filter(|v| v.hasher == hasher).map(|v| &*v.password).collect();
        assert!(passwords.iter().any(|p| !p.is_ascii()), "{hasher}: a non-ASCII password");
        assert!(passwords.iter().any(|p| p.chars().count() == 1), "{hasher}: a one-character password");
    }
    assert!(all.iter().any(|v| v.hasher == "bcrypt" && v.password.len() > 72));
    assert!(all.iter().any(|v| v.hasher == "bcrypt_sha256" && v.password.len() > 72));
    assert!(all.iter().any(|v| v.hasher == "unusable"));
}

#[test]
fn every_django_vector_is_identified_by_its_hasher() {
    for v in vectors() {
        assert_eq!(identify(&v.encoded).map(Hasher::name), Some(&*v.hasher), "{}", v.encoded);
    }
}

#[test]
fn every_django_vector_verifies_with_its_password() {
    let mut memory = Memory::new();
    for v in usable() {
        assert_eq!(verify(&v.encoded, &v.password, &mut memory), Ok(true), "{}", v.encoded);
    }
}

#[test]
fn no_django_vector_verifies_a_wrong_password() {
    let mut memory = Memory::new();
    for v in usable() {
        let mut last_changed = v.password.clone();
        let last = last_changed.pop().expect("passwords are not empty");
        last_changed.push(if last == 'x' { 'y' } else { 'x' });
        let mut wrong = vec![format!("!{}", v.password)];
        // bcrypt reads only 72 bytes (see the test below); Django's costs take a while.
        if (v.hasher != "bcrypt" || v.password.len() <= 72) && v.cost == "low" {
            wrong.extend([last_changed, String::new()]);
        }
        for wrong in wrong {
            assert_eq!(verify(&v.encoded, &wrong, &mut memory), Ok(false), "{wrong:?} for {}", v.encoded);
        }
    }
}

#[actix_web::test]
async fn a_django_hash_verifies_under_the_hash_limiter_in_its_buffer() {
    let limiter = crate::auth::passwords::HashLimiter::new(1);
    let v = cheap("argon2");
    let (encoded, password) = (v.encoded.clone(), v.password.clone());
    let right = limiter.run(move |memory| Ok(verify(&encoded, &password, memory))).await.unwrap();
    let wrong = limiter.run(move |memory| Ok(verify(&v.encoded, "wrong", memory))).await.unwrap();
    assert_eq!((right, wrong), (Ok(true), Ok(false)));
}

#[test]
fn bcrypt_reads_72_bytes_of_the_password_and_bcrypt_sha256_all_of_it() {
    for v in usable().filter(|v| v.password.len() > 72) {
        let same_start = format!("{}, and then something else", &v.password[..72]);
        let expected = v.hasher == "bcrypt";
        assert_eq!(check(&v.encoded, &same_start), Ok(expected), "{}", v.hasher);
    }
}

#[test]
fn an_unusable_password_never_verifies() {
    let unusable = vectors().into_iter().find(|v| v.hasher == "unusable").unwrap();
    for encoded in [&*unusable.encoded, "!", ""] {
        assert_eq!(identify(encoded), Some(Hasher::Unusable));
        assert_eq!(check(encoded, &unusable.password), Ok(false));
        assert_eq!(check(encoded, ""), Ok(false));
    }
}

#[test]
fn our_own_and_djangos_unsupported_hashes_are_not_identified() {
    let ours = crate::auth::passwords::hash_with("correct horse", &mut Memory::new()).unwrap();
    for encoded in [&*ours, "md5$salt$0123456789abcdef0123456789abcdef", "crypt$$abN/qM.L/H8EQ", "argon2"] {
        assert_eq!(identify(encoded), None, "{encoded}");
        assert_eq!(check(encoded, "correct horse"), Err(LegacyHashError::Unsupported));
    }
}

#[test]
fn pbkdf2_with_a_billion_iterations_is_refused_without_running() {
    for hasher in ["pbkdf2_sha256", "pbkdf2_sha1"] {
        let v = cheap(hasher);
        let absurd = v.encoded.replacen("$1000$", "$1000000000$", 1);
        assert_eq!(
            check(&absurd, &v.password),
            Err(LegacyHashError::OverLimit {
                hasher: identify(&v.encoded).unwrap(),
                parameter: "iterations",
                value: 1_000_000_000,
                limit: 10_000_000,
            })
        );
        let beyond_u64 = v.encoded.replacen("$1000$", "$100000000000000000000000$", 1);
        assert_eq!(over_limit(check(&beyond_u64, &v.password)), "iterations");
    }
}

#[test]
fn argon2_with_gigabytes_or_too_many_passes_or_lanes_is_refused_without_running() {
    let v = cheap("argon2");
    let params = v.encoded.split('$').nth(3).unwrap().to_owned();
    assert_eq!(params, "m=64,t=1,p=2", "the script's cheap argon2 parameters");
    for (absurd, parameter) in [
        ("m=4194304,t=1,p=2", "memory (KiB)"),
        ("m=262145,t=1,p=2", "memory (KiB)"),
        ("m=64,t=1000,p=2", "passes"),
        ("m=1024,t=1,p=64", "lanes"),
    ] {
        let encoded = v.encoded.replacen(&params, absurd, 1);
        assert_eq!(over_limit(check(&encoded, &v.password)), parameter, "{absurd}");
    }
}

#[test]
fn bcrypt_over_cost_16_is_refused_without_running() {
    for hasher in ["bcrypt_sha256", "bcrypt"] {
        let v = cheap(hasher);
        for cost in ["17", "31", "99"] {
            let encoded = v.encoded.replacen("$04$", &format!("${cost}$"), 1);
            assert_eq!(over_limit(check(&encoded, &v.password)), "cost", "{encoded}");
        }
    }
}

#[test]
fn scrypt_over_its_cost_memory_or_work_is_refused_without_running() {
    let v = cheap("scrypt");
    let fields: Vec<&str> = v.encoded.split('$').collect();
    assert_eq!((fields[1], fields[3], fields[4]), ("16", "8", "1"), "the script's cheap scrypt parameters");
    let with = |n: &str, r: &str, p: &str| format!("scrypt${n}${}${r}${p}${}", fields[2], fields[5]);
    for (n, r, p, parameter) in [
        ("1073741824", "8", "1", "n"),
        ("1048576", "8", "1", "memory (bytes)"),
        ("16", "4294967296", "1", "memory (bytes)"),
        ("16", "8", "1000", "r·p"),
        ("262144", "8", "16", "work (n·r·p)"),
    ] {
        assert_eq!(over_limit(check(&with(n, r, p), &v.password)), parameter, "n={n} r={r} p={p}");
    }
}

#[test]
fn malformed_hashes_are_errors_not_wrong_passwords() {
    let pbkdf2 = cheap("pbkdf2_sha256").encoded;
    let scrypt = cheap("scrypt").encoded;
    let bcrypt = cheap("bcrypt").encoded;
    let argon2 = cheap("argon2").encoded;
    let cases = [
        pbkdf2.replacen("$1000$", "$0$", 1),
        pbkdf2.replacen("$1000$", "$01000$", 1),
        pbkdf2.replacen("$1000$", "$-1000$", 1),
        format!("{}A", pbkdf2.trim_end_matches('=')),
        "pbkdf2_sha256$1000$$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
        "pbkdf2_sha256$1000$salt$AAAA".into(),
        scrypt.replacen("scrypt$16$", "scrypt$15$", 1),
        scrypt.replacen("scrypt$16$", "scrypt$1$", 1),
        scrypt.replacen("$8$1$", "$0$1$", 1),
        scrypt.replacen("$8$1$", "$8$0$", 1),
        bcrypt.replacen("$2b$", "$2x$", 1),
        bcrypt.replacen("$04$", "$03$", 1),
        bcrypt.replacen("$04$", "$4$", 1),
        bcrypt.replacen("bcrypt$$", "bcrypt$", 1),
        argon2.replacen("$v=19$", "$v=18$", 1),
        argon2.replacen("argon2$argon2id$", "argon2$argon2x$", 1),
        argon2.replacen(",p=2", "", 1),
        argon2.replacen("m=64", "m=8", 1),
    ];
    for encoded in cases {
        assert!(
            matches!(check(&encoded, "correct horse battery staple"), Err(LegacyHashError::Malformed { .. })),
            "{encoded}"
        );
    }
}

/// Every prefix of a hash, and the hash with each character replaced in turn, gives an
/// answer without panicking; a truncated hash never verifies.
#[test]
fn truncated_and_garbled_hashes_never_panic() {
    let mut memory = Memory::new();
    for hasher in ["pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "scrypt"] {
        let v = cheap(hasher);
        let boundaries = v.encoded.char_indices().map(|(i, _)| i);
        for end in boundaries.clone() {
            let truncated = &v.encoded[..end];
            assert_ne!(verify(truncated, &v.password, &mut memory), Ok(true), "{truncated}");
        }
        for at in boundaries {
            for replacement in ['$', '0', '9', 'Z', '=', 'é', '\0'] {
                let mut garbled = v.encoded.clone();
                let len = garbled[at..].chars().next().unwrap().len_utf8();
                garbled.replace_range(at..at + len, replacement.encode_utf8(&mut [0; 4]));
                let _ = verify(&garbled, &v.password, &mut memory);
            }
        }
    }
}
