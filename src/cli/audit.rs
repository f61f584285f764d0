//! The audit events of changes made from the command line: no user and no address, but
//! the command line and the operating-system user that ran it.

use diesel::QueryResult;

use crate::db::Writer;
use crate::store::audit::{self, NewAuditEvent};

/// `cli user=NAME` (as the environment names the user), else `cli uid=N`. It says
/// where the change came from; anyone who can run the command can also set `USER`.
pub fn operator() -> String {
    let named = ["USER", "LOGNAME"].iter().find_map(|key| std::env::var(key).ok().filter(|u| !u.is_empty()));
    match named {
        Some(user) => format!("cli user={user}"),
        // SAFETY: getuid has no preconditions and cannot fail.
        None => format!("cli uid={}", unsafe { libc::getuid() }),
    }
}

/// Records a command-line change; call it inside the change's transaction. `detail`
/// (never a secret) follows the operator.
pub fn record(
    conn: &mut Writer<'_>,
    action: &str,
    target_type: &str,
    target_id: &str,
    detail: &str,
) -> QueryResult<usize> {
    let operator = operator();
    let detail = if detail.is_empty() { operator } else { format!("{operator}; {detail}") };
    audit::record(
        conn,
        NewAuditEvent { action, target_type, target_id, detail: &detail, ..Default::default() },
    )
}
