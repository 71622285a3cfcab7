//! Which queued task a claim takes: accounts take turns, weighted by the
//! share operators give them, instead of first in, first out.
//!
//! Each claim picks, among the accounts that have a task queued and are
//! below their `max_running`, the one with the fewest running tasks per
//! share (`(running + 1) / share`; ties: the oldest task), and claims that
//! account's oldest task. An account with a backlog of thousands therefore
//! holds at most its share of the workers while another account has work,
//! and no account waits behind another's backlog. Counts are the store's,
//! so they hold across nodes.
//!
//! Both lookups per account are index seeks (`tasks_queued_account`,
//! `tasks_running_account`): a claim costs the same with 10 or 100,000
//! tasks queued. Tasks of accounts no longer configured are claimed
//! oldest first when no configured account has one ready.

use super::ClaimParams;

/// SQL placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// `?`
    Sqlite,
    /// `$1`, `$2`, …
    Postgres,
}

/// The query picking the next task's `id` among configured accounts
/// (`params.shares` non-empty), with the binds in [`binds`] order.
pub(super) fn pick_sql(dialect: Dialect, params: &ClaimParams) -> String {
    let mut n = 0;
    let mut next = || {
        n += 1;
        match dialect {
            Dialect::Sqlite => "?".to_owned(),
            Dialect::Postgres => format!("${n}"),
        }
    };
    let rows: Vec<String> = params
        .shares
        .iter()
        .map(|_| match dialect {
            Dialect::Sqlite => format!("({}, {}, {})", next(), next(), next()),
            Dialect::Postgres => format!("({}::text, {}::int8, {}::int8)", next(), next(), next()),
        })
        .collect();
    // Spare slots go only to accounts with nothing running.
    let idle = if params.idle_only {
        " AND running = 0"
    } else {
        ""
    };
    format!(
        "WITH shares (account, share, max_running) AS (VALUES {rows}), \
         heads AS (SELECT s.share, s.max_running, \
           (SELECT id FROM tasks WHERE state = 'queued' AND account = s.account ORDER BY id LIMIT 1) AS id, \
           (SELECT COUNT(*) FROM tasks WHERE state = 'running' AND account = s.account) AS running \
           FROM shares s) \
         SELECT id FROM heads \
         WHERE id IS NOT NULL AND (max_running IS NULL OR running < max_running){idle} \
         ORDER BY (running + 1.0) / share, id LIMIT 1",
        rows = rows.join(", ")
    )
}

/// The query picking the oldest task of an account not in `params.shares`.
pub(super) fn others_sql(dialect: Dialect, params: &ClaimParams) -> String {
    let list: Vec<String> = (1..=params.shares.len())
        .map(|i| match dialect {
            Dialect::Sqlite => "?".to_owned(),
            Dialect::Postgres => format!("${i}"),
        })
        .collect();
    let others = if list.is_empty() {
        String::new()
    } else {
        format!(" AND account NOT IN ({})", list.join(", "))
    };
    format!("SELECT id FROM tasks WHERE state = 'queued'{others} ORDER BY id LIMIT 1")
}

/// One share's binds: account, share, max_running.
pub(super) fn binds(share: &super::Share) -> (String, i64, Option<i64>) {
    (
        share.account.clone(),
        i64::from(share.share.max(1)),
        share.max_running.map(i64::from),
    )
}

/// Lost races (another claimer took the picked task first) tolerated in
/// one claim before it gives up until the next wake-up.
pub(super) const MAX_LOST_RACES: u32 = 8;
