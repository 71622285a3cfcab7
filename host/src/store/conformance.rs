//! The store conformance suite: every [`TaskStore`] backend runs
//! [`exercise`] (and [`concurrent_claims`] where it has real concurrency)
//! from its own tests, so SQLite and Postgres keep one behaviour.
#![allow(clippy::unwrap_used, reason = "test suite: a failure is a panic")]

use serde_json::json;

use super::{
    Change, ClaimParams, CompleteParams, FailureKind, Lease, Micros, NewTask, OutputFile,
    ProgressParams, Share, TaskFailure, TaskState, TaskStore, Usage,
};

const SEC: i64 = 1_000_000;

pub(crate) fn new_task(key: &str, created_at: i64) -> NewTask {
    NewTask {
        key: key.to_owned(),
        account: "acct".to_owned(),
        task_name: "image.info".to_owned(),
        params: json!({"url": "http://example.com/a.png"}),
        task_metas: Some(json!({"id": 7})),
        options: None,
        dedup_hash: Some(format!("h-{key}")),
        max_attempts: 2,
        created_at,
        expires_at: created_at + 100 * SEC,
        failure: None,
        lease: None,
        waits_for: Vec::new(),
    }
}

fn claim(owner: &str, now: i64, limit: u32) -> ClaimParams {
    ClaimParams {
        owner: owner.to_owned(),
        now,
        lease_expires_at: now + 10 * SEC,
        limit,
        shares: std::sync::Arc::from([]),
        idle_only: false,
    }
}

/// Run every single-connection case against `store` (it must be empty).
pub async fn exercise(store: &dyn TaskStore) {
    insert_and_read(store).await;
    durable_callbacks(store).await;
    claim_order_and_exclusivity(store).await;
    lease_guards_transitions(store).await;
    progress_and_partial_results(store).await;
    rescue_requeues_then_fails(store).await;
    dedup_and_counts(store).await;
    retention(store).await;
    notifications(store).await;
    cancellation(store).await;
    fair_claims(store).await;
    uploads_kept(store).await;
    waiting_for_inputs(store).await;
    templates(store).await;
}

/// Templates: stored per account and name, replaced in place (created
/// kept), listed by name, deleted once.
async fn templates(store: &dyn TaskStore) {
    assert!(
        store
            .template_put("acct", "b", r#"{"v":1}"#, 10)
            .await
            .unwrap()
    );
    assert!(
        store
            .template_put("acct", "a", r#"{"v":2}"#, 11)
            .await
            .unwrap()
    );
    assert!(
        store
            .template_put("other", "a", r#"{"v":3}"#, 12)
            .await
            .unwrap()
    );
    assert!(
        !store
            .template_put("acct", "b", r#"{"v":4}"#, 13)
            .await
            .unwrap()
    );
    let b = store.template_get("acct", "b").await.unwrap().unwrap();
    let body: serde_json::Value = serde_json::from_str(&b.body).unwrap();
    assert_eq!(
        (body, b.created_at, b.updated_at),
        (json!({"v": 4}), 10, 13)
    );
    let names: Vec<serde_json::Value> = store
        .template_list("acct")
        .await
        .unwrap()
        .iter()
        .map(|t| serde_json::from_str(&t.body).unwrap())
        .collect();
    assert_eq!(names, vec![json!({"v": 2}), json!({"v": 4})]);
    assert_eq!(store.template_count("acct").await.unwrap(), 2);
    assert!(store.template_delete("acct", "a").await.unwrap());
    assert!(!store.template_delete("acct", "a").await.unwrap());
    assert!(store.template_get("acct", "a").await.unwrap().is_none());
    assert!(store.template_get("other", "a").await.unwrap().is_some());
}

/// Tasks that read other tasks' outputs: inserted waiting (counted as
/// queued, never claimed), released when every input succeeded, failed
/// naming the input when one fails or is cancelled — down a chain —
/// settled at insert against inputs already final, and their inputs kept
/// past expiry until they finish.
async fn waiting_for_inputs(store: &dyn TaskStore) {
    let t0 = 20_000 * SEC;
    let leased = |key: &str| {
        let mut t = new_task(key, t0);
        t.account = "pipe".into();
        t.lease = Some(Lease {
            owner: "w".into(),
            expires_at: t0 + 30 * SEC,
        });
        t
    };
    let waiting = |key: &str, inputs: &[&str]| {
        let mut t = new_task(key, t0);
        t.account = "pipe".into();
        t.waits_for = inputs.iter().map(|k| (*k).to_owned()).collect();
        // Kept longer than its inputs (whose retention may be shorter).
        t.expires_at = t0 + 1_000 * SEC;
        // Ignored: a waiting task is claimed once released.
        t.lease = Some(Lease {
            owner: "w".into(),
            expires_at: t0 + 30 * SEC,
        });
        t
    };
    let state =
        |key: &'static str| async move { store.task_get(key, t0).await.unwrap().unwrap().state };
    store
        .task_insert_many(vec![
            leased("PU1"),
            leased("PU2"),
            waiting("PD1", &["PU1", "PU2"]),
            waiting("PD2", &["PD1"]),
            waiting("PD3", &["PU1"]),
        ])
        .await
        .unwrap();
    assert_eq!(state("PD1").await, TaskState::Waiting);
    assert_eq!(store.task_count_queued("pipe").await.unwrap(), 3);
    let claimed = store.task_claim(claim("w2", t0 + 1, 50)).await.unwrap();
    assert!(
        claimed.iter().all(|t| t.account != "pipe"),
        "a waiting task is never claimed"
    );
    let mut rx = store.subscribe();
    // PU1 succeeds: PD3 (its only input) goes to the queue, PD1 waits on.
    assert!(complete(store, "PU1", "w", t0 + 2).await);
    let notified = next_change(store, &mut rx, "PD3", t0).await;
    assert!(matches!(notified, None | Some(TaskState::Queued)));
    assert_eq!(state("PD3").await, TaskState::Queued);
    assert_eq!(state("PD1").await, TaskState::Waiting);
    // PU2 fails: PD1 fails naming it, and PD2 (reading PD1) naming PD1.
    let broken = TaskFailure {
        kind: FailureKind::InvalidInput,
        public: json!("bad input"),
        detail: None,
    };
    assert!(
        store
            .task_fail_if_running("PU2", "w", &broken, None, t0 + 3)
            .await
            .unwrap()
    );
    for (key, upstream) in [("PD1", "PU2"), ("PD2", "PD1")] {
        let row = store.task_get(key, t0).await.unwrap().unwrap();
        assert_eq!(row.state, TaskState::Failed, "{key}");
        assert_eq!(row.finalized_at, Some(t0 + 3));
        let failure = row.failure.unwrap();
        assert_eq!(failure.kind, FailureKind::InvalidInput);
        assert_eq!(
            failure.public,
            json!(format!(
                "input task {upstream} failed, so this task did not run"
            ))
        );
    }
    // Inserted after its inputs ended: settled at once.
    store
        .task_insert_many(vec![
            waiting("PD4", &["PU1"]),
            waiting("PD5", &["PU1", "PU2"]),
            waiting("PD6", &["NOSUCHTASK"]),
        ])
        .await
        .unwrap();
    assert_eq!(state("PD4").await, TaskState::Queued);
    assert_eq!(state("PD5").await, TaskState::Failed);
    assert_eq!(state("PD6").await, TaskState::Failed);
    // Cancelling a waiting task fails it, and its dependents name it.
    store
        .task_insert_many(vec![
            leased("PU3"),
            waiting("PW1", &["PU3"]),
            waiting("PW2", &["PW1"]),
        ])
        .await
        .unwrap();
    let cancelled = TaskFailure {
        kind: FailureKind::Cancelled,
        public: json!("cancelled"),
        detail: None,
    };
    let found = store
        .task_cancel("PW1", "pipe", &cancelled, t0 + 4)
        .await
        .unwrap();
    assert_eq!(found, Some(TaskState::Queued), "waiting reads as queued");
    assert_eq!(state("PW1").await, TaskState::Failed);
    let row = store.task_get("PW2", t0).await.unwrap().unwrap();
    assert_eq!(
        row.failure.unwrap().public,
        json!("input task PW1 was cancelled, so this task did not run")
    );
    // PU1 expired, but PD3 and PD4 will still read it: kept until they end.
    let later = t0 + 100 * SEC;
    let deleted = store.task_delete_expired(later).await.unwrap();
    assert!(!deleted.contains(&"PU1".to_owned()), "{deleted:?}");
    assert!(deleted.contains(&"PU2".to_owned()), "{deleted:?}");
    assert!(
        store.task_get("PU1", later).await.unwrap().is_none(),
        "expired"
    );
    assert!(store.task_get("PU1", Micros::MIN).await.unwrap().is_some());
    for key in ["PD3", "PD4"] {
        store
            .task_cancel(key, "pipe", &cancelled, later)
            .await
            .unwrap();
    }
    let deleted = store.task_delete_expired(later + 1).await.unwrap();
    assert!(deleted.contains(&"PU1".to_owned()), "{deleted:?}");
}

/// The bytes of an account's uploads still kept: succeeded `upload`
/// tasks only, its own, unexpired.
async fn uploads_kept(store: &dyn TaskStore) {
    let t0 = 9_000 * SEC;
    for (key, account) in [("UP1", "acct"), ("UP2", "acct"), ("UP3", "other")] {
        let mut up = new_task(key, t0);
        up.task_name = "upload".into();
        up.account = account.into();
        up.lease = Some(Lease {
            owner: "w0".into(),
            expires_at: t0 + 30 * SEC,
        });
        store.task_insert(up).await.unwrap();
    }
    assert!(complete(store, "UP1", "w0", t0).await);
    assert!(complete(store, "UP3", "w0", t0).await);
    // UP2 never finished: nothing of it is kept.
    assert_eq!(
        store.upload_bytes_kept("acct", t0).await.unwrap(),
        USAGE.bytes_in
    );
    assert_eq!(
        store.upload_bytes_kept("other", t0).await.unwrap(),
        USAGE.bytes_in
    );
    assert_eq!(store.upload_bytes_kept("nobody", t0).await.unwrap(), 0);
    assert_eq!(
        store
            .upload_bytes_kept("acct", t0 + 100 * SEC)
            .await
            .unwrap(),
        0,
        "expired"
    );
}

async fn insert_and_read(store: &dyn TaskStore) {
    store
        .task_insert(new_task("A1", 1_000 * SEC))
        .await
        .unwrap();
    let row = store.task_get("A1", 1_000 * SEC).await.unwrap().unwrap();
    assert_eq!(
        row,
        new_task("A1", 1_000 * SEC).row(),
        "what create answers with"
    );
    assert_eq!(row.state, TaskState::Queued);
    assert_eq!(row.task_metas, Some(json!({"id": 7})));
    assert_eq!(row.params["url"], "http://example.com/a.png");
    assert!(store.task_get("nope", 0).await.unwrap().is_none());
    // Duplicate keys are refused.
    assert!(
        store
            .task_insert(new_task("A1", 1_000 * SEC))
            .await
            .is_err()
    );
    // Inserted already failed (parameter errors at create time).
    let mut failed = new_task("A2", 1_000 * SEC);
    failed.failure = Some(TaskFailure {
        kind: FailureKind::InvalidParameters,
        public: json!({"parameters": {"url": ["this field is required"]}}),
        detail: None,
    });
    store.task_insert(failed.clone()).await.unwrap();
    let row = store.task_get("A2", 1_000 * SEC).await.unwrap().unwrap();
    assert_eq!(row, failed.row());
    assert_eq!(row.state, TaskState::Failed);
    assert_eq!(row.finalized_at, Some(1_000 * SEC));
    // Inserted already claimed (a node with a free worker slot): running,
    // first attempt, leased; no claim takes it, its owner completes it.
    let mut claimed = new_task("A3", 1_000 * SEC);
    claimed.lease = Some(Lease {
        owner: "w0".into(),
        expires_at: 1_030 * SEC,
    });
    store.task_insert(claimed.clone()).await.unwrap();
    let row = store.task_get("A3", 1_000 * SEC).await.unwrap().unwrap();
    assert_eq!(row, claimed.row());
    assert_eq!(
        (row.state, row.attempt, row.lease_owner.as_deref()),
        (TaskState::Running, 1, Some("w0"))
    );
    assert_eq!(
        (row.started_at, row.lease_expires_at),
        (Some(1_000 * SEC), Some(1_030 * SEC))
    );
    // Drain A1 so later cases start from an empty queue.
    let claimed = store
        .task_claim(claim("w0", 1_001 * SEC, 10))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        claimed[0].key, "A1",
        "a task inserted claimed is not claimed again"
    );
    complete(store, "A1", "w0", 1_002 * SEC).await;
    assert!(complete(store, "A3", "w0", 1_002 * SEC).await);
}

/// A run's usage, stored with its final state.
const USAGE: Usage = Usage {
    wall_ms: 1_250,
    cpu_ms: 2_400,
    peak_memory_bytes: 48 << 20,
    bytes_in: 1_000_000,
    bytes_out: 52_000,
};

async fn complete(store: &dyn TaskStore, key: &str, owner: &str, now: i64) -> bool {
    let mut values = serde_json::Map::new();
    values.insert("width".into(), json!(10));
    store
        .task_complete_if_running(CompleteParams {
            key: key.to_owned(),
            owner: owner.to_owned(),
            values,
            usage: USAGE,
            now,
        })
        .await
        .unwrap()
}

/// Callbacks are due once a task is final, claimed by one caller at a
/// time (leased), rescheduled or ended by their record, never for
/// expired tasks.
async fn durable_callbacks(store: &dyn TaskStore) {
    let t0 = 3_000 * SEC;
    let lease = |now: i64| now + 20 * SEC;
    let due = |now: i64| async move { store.callbacks_claim(now, lease(now), 10).await.unwrap() };
    let mut task = new_task("CB1", t0);
    task.options = Some(json!({"url_callback": "http://example.com/cb"}));
    store.task_insert(task).await.unwrap();
    assert!(due(t0).await.is_empty(), "not final yet");
    assert_eq!(
        store
            .task_claim(claim("w", t0 + SEC, 10))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(complete(store, "CB1", "w", t0 + 2 * SEC).await);
    let first = due(t0 + 3 * SEC).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].task.key, "CB1");
    assert_eq!(first[0].task.state, TaskState::Succeeded);
    assert_eq!(first[0].attempts, 0);
    assert!(
        due(t0 + 4 * SEC).await.is_empty(),
        "leased to the first claimer"
    );
    // The claimer died: the lease lapses and another node claims it.
    assert_eq!(due(t0 + 23 * SEC).await.len(), 1);
    // A failed attempt schedules the next one.
    store
        .callback_record("CB1", Some(t0 + 40 * SEC), 1)
        .await
        .unwrap();
    assert!(due(t0 + 39 * SEC).await.is_empty());
    let retry = due(t0 + 40 * SEC).await;
    assert_eq!(retry[0].attempts, 1);
    // Delivered: never again.
    store.callback_record("CB1", None, 2).await.unwrap();
    assert!(due(t0 + 80 * SEC).await.is_empty());

    // Failed at creation, with an errback: due at once. Tasks without
    // callbacks are never due.
    let mut failed = new_task("CB2", t0);
    failed.options = Some(json!({"url_errback": "http://example.com/eb"}));
    failed.failure = Some(TaskFailure {
        kind: FailureKind::InvalidParameters,
        public: json!({"parameters": {}}),
        detail: None,
    });
    store.task_insert(failed).await.unwrap();
    let failed_due = due(t0 + SEC).await;
    assert_eq!(failed_due.len(), 1);
    assert_eq!(failed_due[0].task.key, "CB2");
    // Expired tasks call back no more.
    store
        .callback_record("CB2", Some(t0 + 2 * SEC), 1)
        .await
        .unwrap();
    assert!(due(t0 + 100 * SEC).await.is_empty(), "expired");
}

async fn claim_order_and_exclusivity(store: &dyn TaskStore) {
    for (i, key) in ["B1", "B2", "B3"].iter().enumerate() {
        store
            .task_insert(new_task(key, 2_000 * SEC + i as i64))
            .await
            .unwrap();
    }
    let first = store.task_claim(claim("w1", 2_010 * SEC, 2)).await.unwrap();
    let keys: Vec<_> = first.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(keys, ["B1", "B2"], "oldest first, at most limit");
    assert!(first.iter().all(|t| t.state == TaskState::Running
        && t.attempt == 1
        && t.lease_owner.as_deref() == Some("w1")
        && t.started_at == Some(2_010 * SEC)));
    let second = store.task_claim(claim("w2", 2_011 * SEC, 5)).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].key, "B3");
    assert!(
        store
            .task_claim(claim("w3", 2_012 * SEC, 5))
            .await
            .unwrap()
            .is_empty()
    );
    for (key, owner) in [("B1", "w1"), ("B2", "w1"), ("B3", "w2")] {
        assert!(complete(store, key, owner, 2_020 * SEC).await);
    }
}

async fn lease_guards_transitions(store: &dyn TaskStore) {
    store
        .task_insert(new_task("C1", 3_000 * SEC))
        .await
        .unwrap();
    store.task_claim(claim("w1", 3_001 * SEC, 1)).await.unwrap();
    // Another worker cannot touch it.
    assert!(!complete(store, "C1", "intruder", 3_002 * SEC).await);
    assert!(
        !store
            .task_heartbeat_if_running("C1", "intruder", 9_999 * SEC)
            .await
            .unwrap()
    );
    assert!(
        store
            .task_heartbeat_if_running("C1", "w1", 3_050 * SEC)
            .await
            .unwrap()
    );
    let failure = TaskFailure {
        kind: FailureKind::InvalidInput,
        public: json!("the file is not an image"),
        detail: Some("magic bytes 00 00".into()),
    };
    assert!(
        !store
            .task_fail_if_running("C1", "intruder", &failure, Some(&USAGE), 3_003 * SEC)
            .await
            .unwrap()
    );
    assert!(
        store
            .task_fail_if_running("C1", "w1", &failure, Some(&USAGE), 3_003 * SEC)
            .await
            .unwrap()
    );
    let row = store.task_get("C1", 3_004 * SEC).await.unwrap().unwrap();
    assert_eq!(row.state, TaskState::Failed);
    assert_eq!(row.failure, Some(failure.clone()));
    assert_eq!(row.usage, Some(USAGE));
    assert_eq!(row.lease_owner, None);
    // A final task stays final: the conditional transition loses.
    assert!(!complete(store, "C1", "w1", 3_005 * SEC).await);
    assert!(
        !store
            .task_fail_if_running("C1", "w1", &failure, None, 3_005 * SEC)
            .await
            .unwrap()
    );
}

async fn progress_and_partial_results(store: &dyn TaskStore) {
    store
        .task_insert(new_task("D1", 4_000 * SEC))
        .await
        .unwrap();
    store.task_claim(claim("w1", 4_001 * SEC, 1)).await.unwrap();
    let mut values = serde_json::Map::new();
    values.insert("duration".into(), json!(12.5));
    assert!(
        store
            .task_progress_if_running(ProgressParams {
                key: "D1".into(),
                owner: "w1".into(),
                progress: Some(40),
                values: Some(values),
                file: Some((
                    "preview".into(),
                    OutputFile {
                        path: "D1/preview.mp4".into(),
                        content_type: "video/mp4".into(),
                    },
                )),
            })
            .await
            .unwrap()
    );
    let row = store.task_get("D1", 4_002 * SEC).await.unwrap().unwrap();
    assert_eq!(row.progress, Some(40));
    assert_eq!(row.result, Some(json!({"duration": 12.5})));
    assert_eq!(row.files["preview"].path, "D1/preview.mp4");
    assert!(
        !store
            .task_progress_if_running(ProgressParams {
                key: "D1".into(),
                owner: "intruder".into(),
                progress: Some(90),
                values: None,
                file: None,
            })
            .await
            .unwrap()
    );
    assert!(complete(store, "D1", "w1", 4_003 * SEC).await);
    let row = store.task_get("D1", 4_004 * SEC).await.unwrap().unwrap();
    assert_eq!(row.state, TaskState::Succeeded);
    assert_eq!(row.progress, None);
    assert_eq!(row.result, Some(json!({"width": 10})));
    assert_eq!(row.usage, Some(USAGE));
    assert_eq!(row.files.len(), 1, "files published while running stay");
}

async fn rescue_requeues_then_fails(store: &dyn TaskStore) {
    store
        .task_insert(new_task("E1", 5_000 * SEC))
        .await
        .unwrap();
    store
        .task_claim(claim("dead", 5_001 * SEC, 1))
        .await
        .unwrap();
    // Lease still valid: nothing to rescue.
    let out = store.task_rescue_stuck(5_002 * SEC).await.unwrap();
    assert!(out.requeued.is_empty() && out.failed.is_empty());
    // Lease expired (claim lease is 10 s): back to the queue.
    let out = store.task_rescue_stuck(5_020 * SEC).await.unwrap();
    assert_eq!(out.requeued, vec!["E1".to_owned()]);
    let again = store.task_claim(claim("w2", 5_021 * SEC, 1)).await.unwrap();
    assert_eq!(again[0].attempt, 2);
    assert_eq!(again[0].started_at, Some(5_001 * SEC), "first start kept");
    // The dead worker's late completion loses.
    assert!(!complete(store, "E1", "dead", 5_022 * SEC).await);
    // Second lease expires with attempts exhausted: failed for good.
    let out = store.task_rescue_stuck(5_040 * SEC).await.unwrap();
    assert_eq!(out.failed, vec!["E1".to_owned()]);
    let row = store.task_get("E1", 5_041 * SEC).await.unwrap().unwrap();
    assert_eq!(row.state, TaskState::Failed);
    assert_eq!(row.failure.map(|f| f.kind), Some(FailureKind::Internal));
}

async fn dedup_and_counts(store: &dyn TaskStore) {
    let mut t = new_task("F1", 6_000 * SEC);
    t.dedup_hash = Some("same".into());
    store.task_insert(t).await.unwrap();
    // In flight: a hit (identical requests share one run).
    let hit = store
        .task_find_dedup("acct", "same", 6_001 * SEC)
        .await
        .unwrap();
    assert_eq!(hit.map(|t| t.key), Some("F1".to_owned()));
    // A failed task never is.
    let mut failed = new_task("F0", 6_000 * SEC);
    failed.dedup_hash = Some("bad".into());
    failed.failure = Some(TaskFailure {
        kind: FailureKind::Failed,
        public: json!("boom"),
        detail: None,
    });
    store.task_insert(failed).await.unwrap();
    assert!(
        store
            .task_find_dedup("acct", "bad", 6_001 * SEC)
            .await
            .unwrap()
            .is_none()
    );
    store.task_claim(claim("w", 6_001 * SEC, 1)).await.unwrap();
    complete(store, "F1", "w", 6_002 * SEC).await;
    let hit = store
        .task_find_dedup("acct", "same", 6_003 * SEC)
        .await
        .unwrap();
    assert_eq!(hit.map(|t| t.key), Some("F1".to_owned()));
    assert!(
        store
            .task_find_dedup("other", "same", 6_003 * SEC)
            .await
            .unwrap()
            .is_none()
    );
    // Expired: no hit.
    assert!(
        store
            .task_find_dedup("acct", "same", 6_200 * SEC)
            .await
            .unwrap()
            .is_none()
    );
    let n = store
        .task_count_created_since("acct", 6_000 * SEC)
        .await
        .unwrap();
    assert_eq!(n, 2);
    // Recent: newest first, this account's only, unexpired, limited.
    let mut newer = new_task("F2", 6_001 * SEC);
    newer.account = "other".into();
    store.task_insert(newer).await.unwrap();
    store
        .task_insert(new_task("F3", 6_001 * SEC))
        .await
        .unwrap();
    let keys = |rows: Vec<crate::store::TaskRow>| -> Vec<String> {
        rows.into_iter().map(|r| r.key).collect()
    };
    let recent = store
        .task_list_recent("acct", 6_003 * SEC, 100)
        .await
        .unwrap();
    // F0 and F1 share a creation time: the later insert comes first.
    assert_eq!(keys(recent), ["F3", "F0", "F1"]);
    let one = store
        .task_list_recent("acct", 6_003 * SEC, 1)
        .await
        .unwrap();
    assert_eq!(keys(one), ["F3"]);
    assert!(
        store
            .task_list_recent("acct", 6_200 * SEC, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let counts = store.task_counts().await.unwrap();
    let finished: u64 = counts
        .iter()
        .filter(|(_, state, _)| state == "succeeded" || state == "failed")
        .map(|(_, _, n)| n)
        .sum();
    assert!(finished >= 2, "{counts:?}");
    assert!(
        counts
            .windows(2)
            .all(|w| (&w[0].0, &w[0].1) < (&w[1].0, &w[1].1))
    );
}

async fn retention(store: &dyn TaskStore) {
    store
        .task_insert(new_task("G1", 7_000 * SEC))
        .await
        .unwrap();
    // Expired rows are invisible before the reaper runs...
    assert!(store.task_get("G1", 7_100 * SEC).await.unwrap().is_none());
    assert!(store.task_get("G1", 7_099 * SEC).await.unwrap().is_some());
    // ...and the reaper deletes every expired row once.
    let deleted = store.task_delete_expired(7_100 * SEC).await.unwrap();
    assert!(deleted.contains(&"G1".to_owned()));
    assert!(
        deleted.contains(&"A1".to_owned()),
        "older tasks expired too"
    );
    assert!(
        store
            .task_delete_expired(7_100 * SEC)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The next notification about `key` (on Postgres, notifications of
/// earlier cases' changes may still be in flight and arrive first); a row
/// it carries is the row as stored.
async fn next_change(
    store: &dyn TaskStore,
    rx: &mut tokio::sync::broadcast::Receiver<Change>,
    key: &str,
    now: Micros,
) -> Option<TaskState> {
    let wait = async {
        loop {
            let change = rx.recv().await.unwrap();
            if change.key == key {
                return change;
            }
        }
    };
    let change = tokio::time::timeout(std::time::Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("no notification about {key}"));
    let row = change.row?;
    let stored = store.task_get(key, now).await.unwrap().unwrap();
    assert_eq!(*row, stored, "the row notified is the row stored");
    Some(row.state)
}

async fn notifications(store: &dyn TaskStore) {
    let mut rx = store.subscribe();
    let t = 8_000 * SEC;
    store.task_insert(new_task("H1", t)).await.unwrap();
    let notified = next_change(store, &mut rx, "H1", t).await;
    assert!(matches!(notified, None | Some(TaskState::Queued)));
    store.task_claim(claim("w", t + 1, 1)).await.unwrap();
    let notified = next_change(store, &mut rx, "H1", t + 1).await;
    assert!(matches!(notified, None | Some(TaskState::Running)));
    let progress = ProgressParams {
        key: "H1".into(),
        owner: "w".into(),
        progress: Some(40),
        values: None,
        file: None,
    };
    assert!(store.task_progress_if_running(progress).await.unwrap());
    next_change(store, &mut rx, "H1", t + 2).await;
    complete(store, "H1", "w", t + 3).await;
    let notified = next_change(store, &mut rx, "H1", t + 3).await;
    assert!(matches!(notified, None | Some(TaskState::Succeeded)));
}

/// A queued task fails at once; a running one is marked (and its node
/// hears of it); a final one stays; another account's key is unknown.
async fn cancellation(store: &dyn TaskStore) {
    let cancelled = TaskFailure {
        kind: FailureKind::Cancelled,
        public: json!("cancelled"),
        detail: None,
    };
    let t = 9_000 * SEC;
    for key in ["K1", "K2", "K3"] {
        store.task_insert(new_task(key, t)).await.unwrap();
    }
    // K1 runs, K2 succeeds; K3 stays queued.
    let claimed = store.task_claim(claim("w", t + 1, 1)).await.unwrap();
    assert_eq!(claimed[0].key, "K1");
    store.task_claim(claim("w", t + 2, 1)).await.unwrap();
    assert!(complete(store, "K2", "w", t + 3).await);
    let mut rx = store.subscribe();
    // Another account's key is unknown, and nothing changes.
    let other = store
        .task_cancel("K1", "someone-else", &cancelled, t + 4)
        .await;
    assert_eq!(other.unwrap(), None);
    assert_eq!(
        store
            .task_get("K1", t + 4)
            .await
            .unwrap()
            .unwrap()
            .cancel_requested,
        None
    );
    // Running: marked, notified, still running until its node ends it.
    let running = store.task_cancel("K1", "acct", &cancelled, t + 5).await;
    assert_eq!(running.unwrap(), Some(TaskState::Running));
    next_change(store, &mut rx, "K1", t + 5).await;
    let row = store.task_get("K1", t + 6).await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.cancel_requested),
        (TaskState::Running, Some(t + 5))
    );
    assert!(
        store
            .task_fail_if_running("K1", "w", &cancelled, Some(&USAGE), t + 7)
            .await
            .unwrap()
    );
    // Queued: failed at once, with nothing used.
    store.task_insert(new_task("K4", t + 8)).await.unwrap();
    let queued = store.task_cancel("K4", "acct", &cancelled, t + 9).await;
    assert_eq!(queued.unwrap(), Some(TaskState::Queued));
    let row = store.task_get("K4", t + 10).await.unwrap().unwrap();
    assert_eq!(row.state, TaskState::Failed);
    assert_eq!(row.failure, Some(cancelled.clone()));
    assert_eq!(row.usage, Some(Usage::default()));
    // Final: left as it is.
    let done = store.task_cancel("K2", "acct", &cancelled, t + 11).await;
    assert_eq!(done.unwrap(), Some(TaskState::Succeeded));
    let row = store.task_get("K2", t + 12).await.unwrap().unwrap();
    assert_eq!((row.state, row.failure), (TaskState::Succeeded, None));
    // A cancelled queued task is never claimed.
    let k3 = store.task_cancel("K3", "acct", &cancelled, t + 13).await;
    assert_eq!(k3.unwrap(), Some(TaskState::Queued));
    let claimed = store.task_claim(claim("w", t + 14, 100)).await.unwrap();
    assert!(claimed.iter().all(|row| row.key != "K3"));
}

/// Many claimers at once never claim one task twice.
pub async fn concurrent_claims(store: &dyn TaskStore) {
    const TASKS: usize = 60;
    for i in 0..TASKS {
        store
            .task_insert(new_task(&format!("Z{i:03}"), 9_000 * SEC + i as i64))
            .await
            .unwrap();
    }
    let claims = (0..6).map(|w| async move {
        let mut mine = Vec::new();
        loop {
            let got = store
                .task_claim(claim(&format!("w{w}"), 9_001 * SEC, 3))
                .await
                .unwrap();
            if got.is_empty() {
                break mine;
            }
            mine.extend(got.into_iter().map(|t| t.key));
        }
    });
    let all: Vec<String> = futures::future::join_all(claims)
        .await
        .into_iter()
        .flatten()
        .collect();
    let unique: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), TASKS, "every task claimed");
    assert_eq!(unique.len(), TASKS, "no task claimed twice");
}

/// Accounts take turns by share, `max_running` caps an account, spare
/// claims go only to accounts with nothing running, and accounts that are
/// not configured come after the configured ones.
async fn fair_claims(store: &dyn TaskStore) {
    let t = 20_000 * SEC;
    let mut n = 0;
    let mut add = |account: &'static str| {
        n += 1;
        let mut task = new_task(&format!("F{n:02}{account}"), t + n);
        task.account = account.to_owned();
        task
    };
    // The unconfigured account's task is the oldest of all.
    let mut tasks = vec![add("zz")];
    for account in ["fa", "fb", "fc"] {
        for _ in 0..6 {
            tasks.push(add(account));
        }
    }
    tasks.push(add("fd"));
    store.task_insert_many(tasks).await.unwrap();
    let share = |account: &str, share: u32, max_running: Option<u32>| Share {
        account: account.to_owned(),
        share,
        max_running,
    };
    let shares: std::sync::Arc<[Share]> = std::sync::Arc::from([
        share("fa", 1, None),
        share("fb", 2, None),
        share("fc", 1, Some(1)),
        share("fd", 1, None),
    ]);
    let fair = |idle_only: bool| ClaimParams {
        shares: shares.clone(),
        idle_only,
        ..claim("w", t + 100, 1)
    };
    let mut order = Vec::new();
    for _ in 0..8 {
        let got = store.task_claim(fair(false)).await.unwrap();
        order.push(got[0].account.clone());
    }
    // (running + 1) / share, ties to the oldest task: fb (½), fa, fb, fc
    // (then capped), fd (its one task), fb, fa, fb.
    let expected = ["fb", "fa", "fb", "fc", "fd", "fb", "fa", "fb"];
    assert_eq!(order, expected, "turns by share");
    // Everyone configured has something running: no spare claim.
    assert!(store.task_claim(fair(true)).await.unwrap().is_empty());
    // Claims go on to fb and fa only (fc is at its max_running) …
    let more = store
        .task_claim(ClaimParams {
            limit: 6,
            ..fair(false)
        })
        .await
        .unwrap();
    assert!(more.iter().all(|t| t.account == "fa" || t.account == "fb"));
    assert_eq!(more.len(), 6, "fa and fb had 4 + 2 left");
    // … then to the unconfigured account, then nothing (fc waits).
    let last = store
        .task_claim(ClaimParams {
            limit: 5,
            ..fair(false)
        })
        .await
        .unwrap();
    let accounts: Vec<&str> = last.iter().map(|t| t.account.as_str()).collect();
    assert_eq!(accounts, ["zz"]);
    assert_eq!(store.task_count_queued("fc").await.unwrap(), 5);
    // Without shares, claims go oldest first: fc's five, leaving the
    // queue empty for the cases after this one.
    let rest = store.task_claim(claim("w", t + 200, 100)).await.unwrap();
    assert_eq!(rest.len(), 5);
    assert!(rest.iter().all(|t| t.account == "fc"));
}
