//! Several gates on one state, and the database failing under a gate: changes made on one
//! gate in force on the others, viewer counts summed, one event per change in the shared
//! log, and nothing lost while the database does not answer.

use crate::common::{wait_for, Linkd};
use diesel::connection::SimpleConnection;
use diesel::Connection;
use std::path::Path;
use std::time::Duration;

/// Runs `sql` on the SQLite database at `db`.
fn sqlite(db: &Path, sql: &str) {
    let mut c = diesel::sqlite::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    c.batch_execute(sql).unwrap();
}

/// The kinds of link `id`'s audit events, as `linkctl log` shows them.
async fn audit_kinds(l: &Linkd, id: i64) -> Vec<String> {
    let log = l.linkctl(&["--json", "log", &id.to_string()]).await.json();
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

/// Rows of the audit trail that the database refused are kept and written once it takes
/// them again, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_rows_refused_by_the_database_are_written_when_it_is_back() {
    let (_dir, l) = Linkd::start(|_| {}).await;
    let db = l.config.db_path.clone();
    sqlite(
        &db,
        "CREATE TRIGGER refuse BEFORE INSERT ON link_audit BEGIN SELECT RAISE(ABORT, 'disk says no'); END;",
    );
    let (id, _, _) = l.new_link(&["1h"]).await;
    // `log` waits for the writer's attempt: refused, so not there yet.
    assert_eq!(audit_kinds(&l, id).await, Vec::<String>::new());
    sqlite(&db, "DROP TRIGGER refuse;");
    wait_for(
        "the refused row is written",
        Duration::from_secs(10),
        || async { audit_kinds(&l, id).await == ["created"] },
    )
    .await;
    l.stop().await.unwrap();
}
