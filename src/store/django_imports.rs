//! The record of what `import-django` brought over: per kind of row, the Django id, the
//! local row it became and a digest of the source row as it was imported.

use diesel::prelude::*;

use super::schema::django_imports;
use crate::db::{DbConnection, Writer};

/// The kinds of Django rows an import brings over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    User,
    Application,
    SocialLink,
    RefreshToken,
    AccessToken,
}

impl ImportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Application => "application",
            Self::SocialLink => "social_link",
            Self::RefreshToken => "refresh_token",
            Self::AccessToken => "access_token",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = django_imports)]
pub struct ImportRecord {
    pub local_id: i64,
    pub digest: String,
}

impl ImportRecord {
    pub fn find(
        conn: &mut DbConnection,
        kind: ImportKind,
        django_id: i64,
    ) -> QueryResult<Option<ImportRecord>> {
        django_imports::table
            .find((kind.as_str(), django_id))
            .select(ImportRecord::as_select())
            .get_result(conn)
            .optional()
    }

    /// Records (or re-records) that `django_id` became `local_id`, as `digest` describes it.
    pub fn save(
        conn: &mut Writer<'_>,
        kind: ImportKind,
        django_id: i64,
        record: &ImportRecord,
        at: i64,
    ) -> QueryResult<()> {
        let updated = diesel::update(django_imports::table.find((kind.as_str(), django_id)))
            .set((
                django_imports::local_id.eq(record.local_id),
                django_imports::digest.eq(&record.digest),
                django_imports::imported_at.eq(at),
            ))
            .execute(&mut **conn)?;
        if updated == 0 {
            diesel::insert_into(django_imports::table)
                .values((
                    django_imports::kind.eq(kind.as_str()),
                    django_imports::django_id.eq(django_id),
                    django_imports::local_id.eq(record.local_id),
                    django_imports::digest.eq(&record.digest),
                    django_imports::imported_at.eq(at),
                ))
                .execute(&mut **conn)?;
        }
        Ok(())
    }
}
