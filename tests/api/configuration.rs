//! `--help` and docs/CONFIGURATION.md name the same settings with the same defaults, and
//! the settings' sources take precedence as documented.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};

fn portcullis(args: &[&str], env: &[(&str, &str)], dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("portcullis runs")
}

fn help(args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = portcullis(args, env, dir.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Each variable `--help` names, with its default if it shows one.
fn help_settings(help: &str) -> BTreeMap<String, Option<String>> {
    let mut settings = BTreeMap::new();
    for (at, _) in help.match_indices("[env: ") {
        let rest = &help[at + "[env: ".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect();
        let line = rest.lines().next().unwrap_or_default();
        let default = line
            .split_once("[default: ")
            .map(|(_, tail)| tail.rsplit_once(']').map_or(tail, |(value, _)| value).to_owned());
        settings.insert(name, default);
    }
    settings
}

/// Each variable of the document's table, with its default column.
fn documented_settings() -> BTreeMap<String, String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CONFIGURATION.md")).unwrap();
    doc.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // | `NAME` | key | default | meaning |
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let plausible = name.chars().all(|c| c.is_ascii_uppercase() || c == '_');
            plausible.then(|| (name.to_owned(), cells.get(3).copied().unwrap_or_default().to_owned()))
        })
        .collect()
}

#[test]
fn the_configuration_document_and_help_name_the_same_settings_and_defaults() {
    let shown = help_settings(&help(&["serve", "--help"], &[]));
    let documented = documented_settings();
    let in_help: BTreeSet<_> = shown.keys().collect();
    let in_doc: BTreeSet<_> = documented.keys().collect();
    assert!(in_help.len() > 25, "too few settings in --help: {in_help:?}");
    assert_eq!(
        in_help.difference(&in_doc).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "in serve --help, not in docs/CONFIGURATION.md"
    );
    assert_eq!(
        in_doc.difference(&in_help).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "in docs/CONFIGURATION.md, not in serve --help"
    );
    for (name, default) in &shown {
        if let Some(default) = default {
            assert_eq!(documented[name], format!("`{default}`"), "{name}'s default");
        }
    }
    // The top-level help lists them too.
    let top = help_settings(&help(&["--help"], &[]));
    assert_eq!(top.keys().collect::<BTreeSet<_>>(), in_help);
}

#[test]
fn help_shows_the_environments_values_but_never_a_secret() {
    let secrets = [
        ("PORTCULLIS_SECRET_KEY", "key-that-must-not-show"),
        ("PORTCULLIS_GOOGLE_CLIENT_SECRET", "google-secret-that-must-not-show"),
        ("PORTCULLIS_FACEBOOK_APP_SECRET", "facebook-secret-that-must-not-show"),
        ("DATABASE_URL", "postgres://portcullis:db-password-that-must-not-show@db/portcullis"),
    ];
    let mut env = secrets.to_vec();
    env.push(("PORTCULLIS_BIND", "0.0.0.0:9999"));
    for args in [&["--help"][..], &["serve", "--help"], &["app", "create", "--help"]] {
        let shown = help(args, &env);
        assert!(shown.contains("[env: PORTCULLIS_BIND=0.0.0.0:9999]"), "{args:?}: {shown}");
        assert!(!shown.contains("must-not-show"), "{args:?} shows a secret: {shown}");
        for (name, _) in secrets {
            assert!(shown.contains(&format!("[env: {name}]")), "{args:?} does not list {name}");
        }
    }
}

#[test]
fn a_flag_wins_over_the_environment_which_wins_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.toml"), "database_url = \"sqlite://from-file.db\"\n").unwrap();
    let migrate = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["--config", "p.toml", "migrate"];
        all.extend_from_slice(args);
        let output = portcullis(&all, env, dir.path());
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    };
    let exists = |name: &str| dir.path().join(name).exists();
    migrate(&[], &[]);
    assert!(exists("from-file.db"));
    // An empty variable is unset: the file's value stands.
    migrate(&[], &[("DATABASE_URL", "")]);
    migrate(&[], &[("DATABASE_URL", "sqlite://from-env.db")]);
    assert!(exists("from-env.db"));
    migrate(&["--database-url", "sqlite://from-flag.db"], &[("DATABASE_URL", "sqlite://from-env.db")]);
    assert!(exists("from-flag.db"));
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 4, "p.toml and three databases");

    // The file's values are parsed like the environment's.
    std::fs::write(dir.path().join("p.toml"), "access_token_ttl = 0\n").unwrap();
    let refused = portcullis(&["--config", "p.toml", "migrate"], &[], dir.path());
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("PORTCULLIS_ACCESS_TOKEN_TTL: must be positive")
    );
}

/// docs/OPERATIONS.md names every variable the program reads: each `PORTCULLIS_*` name
/// written in the sources (the settings table and the few read directly, such as
/// `PORTCULLIS_OLD_SECRET_KEY`), `DATABASE_URL` and `RUST_LOG`.
#[test]
fn the_operations_guide_names_every_variable_the_code_reads() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(root.join("docs/OPERATIONS.md")).expect("docs/OPERATIONS.md");
    let mut read = std::collections::BTreeSet::new();
    let mut pending = vec![root.join("src")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path).unwrap();
                // Every string literal that is exactly such a name: `"NAME"`.
                for (start, _) in source.match_indices('"') {
                    let rest = &source[start + 1..];
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    let closed = rest[name.len()..].starts_with('"');
                    let wanted =
                        name.starts_with("PORTCULLIS_") || name == "DATABASE_URL" || name == "RUST_LOG";
                    if closed && wanted {
                        read.insert(name);
                    }
                }
            }
        }
    }
    assert!(read.contains("PORTCULLIS_SECRET_KEY") && read.contains("PORTCULLIS_OLD_SECRET_KEY"), "{read:?}");
    let missing: Vec<&String> = read.iter().filter(|name| !guide.contains(&format!("`{name}`"))).collect();
    assert!(missing.is_empty(), "docs/OPERATIONS.md does not name {missing:?}");
}
