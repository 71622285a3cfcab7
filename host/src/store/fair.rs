//! Which queued task a claim takes: accounts take turns, weighted by the
//! share operators give them, instead of first in, first out.
//!
//! Each claim picks, among the accounts that have a task queued and are
//! below their `max_running`, the one with the fewest running tasks per
//! share (`(running + 1) / share`; ties: the oldest task), and claims that
//! account's oldest task. An account with a backlog of thousands therefore
//! holds at most its share of the workers while another account has work,
//! and no account waits behind another's backlog. Counts are the store's,
//! so they hold across nodes: a claim is one statement (SQLite runs one
//! writer at a time), and on Postgres one transaction under an advisory
//! lock, so two nodes never both see an account below its `max_running`.
//!
//! Both lookups per account are index seeks (`tasks_queued_account`,
//! `tasks_running_account`): a claim costs the same with 10 or 100,000
//! tasks queued. Tasks of accounts no longer configured are claimed oldest
//! first when no configured account has one ready.

use super::{ClaimParams, Share};

/// SQL placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// `?`
    Sqlite,
    /// `$1`, `$2`, …
    Postgres,
}

/// The statement claiming one task for `params` and returning `columns`,
/// or `None` when it could claim nothing (a spare slot and no accounts).
/// Binds: each share's [`binds`], then owner, lease end, now.
pub(super) fn claim_sql(dialect: Dialect, params: &ClaimParams, columns: &str) -> Option<String> {
    let mut n = 0;
    let mut next = || {
        n += 1;
        match dialect {
            Dialect::Sqlite => "?".to_owned(),
            Dialect::Postgres => format!("${n}"),
        }
    };
    let mut with = String::new();
    let mut picks = Vec::new();
    if !params.shares.is_empty() {
        let rows: Vec<String> = params
            .shares
            .iter()
            .map(|_| match dialect {
                Dialect::Sqlite => format!("({}, {}, {})", next(), next(), next()),
                Dialect::Postgres => {
                    format!("({}::text, {}::int8, {}::int8)", next(), next(), next())
                }
            })
            .collect();
        with = format!(
            "WITH shares (account, share, max_running) AS (VALUES {}), \
             heads AS (SELECT s.share, s.max_running, \
               (SELECT id FROM tasks WHERE state = 'queued' AND account = s.account \
                ORDER BY id LIMIT 1) AS id, \
               (SELECT COUNT(*) FROM tasks WHERE state = 'running' AND account = s.account) AS running \
               FROM shares s) ",
            rows.join(", ")
        );
        // Spare slots go only to accounts with nothing running.
        let idle = if params.idle_only {
            " AND running = 0"
        } else {
            ""
        };
        picks.push(format!(
            "(SELECT id FROM heads \
              WHERE id IS NOT NULL AND (max_running IS NULL OR running < max_running){idle} \
              ORDER BY (running + 1.0) / share, id LIMIT 1)"
        ));
    }
    if !params.idle_only {
        let others = if params.shares.is_empty() {
            ""
        } else {
            " AND account NOT IN (SELECT account FROM shares)"
        };
        picks.push(format!(
            "(SELECT id FROM tasks WHERE state = 'queued'{others} ORDER BY id LIMIT 1)"
        ));
    }
    let pick = match picks.as_slice() {
        [] => return None,
        [one] => one.clone(),
        [first, rest @ ..] => format!("COALESCE({first}, {})", rest.join(", ")),
    };
    let (owner, lease, now) = (next(), next(), next());
    Some(format!(
        "{with}UPDATE tasks SET state = 'running', lease_owner = {owner}, \
         lease_expires_at = {lease}, attempt = attempt + 1, \
         started_at = COALESCE(started_at, {now}) \
         WHERE state = 'queued' AND id = {pick} RETURNING {columns}"
    ))
}

/// One share's binds: account, share, max_running.
pub(super) fn binds(share: &Share) -> (String, i64, Option<i64>) {
    (
        share.account.clone(),
        i64::from(share.share.max(1)),
        share.max_running.map(i64::from),
    )
}
