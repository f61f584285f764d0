//! `embed_migrations!` reads `migrations/` at compile time, but cargo only watches the
//! crate's sources: without this, a new or edited migration is not compiled in until
//! something under `src/` changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
