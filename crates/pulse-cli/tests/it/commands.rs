//! Every command, its `--json` shape, its exit code, and the dry-run-then-`--yes` flow, on a
//! SQLite file and on PostgreSQL.

use pulse::{CommandDeadLetterStatus, DeadLetterId, EntryFilter, Resolution};
use serde_json::{Value, json};

use crate::fixture::{Fixture, run_pulse};

/// One test per case and store: `sqlite::<case>`, `postgres::<case>`.
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let fixture = crate::fixture::Fixture::sqlite().await;
                    super::$case(&fixture).await;
                    fixture.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let fixture = crate::fixture::Fixture::postgres().await;
                    super::$case(&fixture).await;
                    fixture.close().await;
                }
            )*
        }
    };
}

on_both_stores!(
    reads_show_the_store,
    list_pages_with_the_printed_cursor,
    replay_is_a_dry_run_until_yes_and_records_a_paced_request,
    dismiss_and_resolve_are_dry_runs_until_yes,
    purge_deletes_only_old_terminal_entries,
    exit_codes_say_what_went_wrong,
);

fn ids(value: &Value) -> Vec<String> {
    value.as_array().unwrap().iter().map(|entry| entry["id"].as_str().unwrap().to_owned()).collect()
}

/// `stats`, `groups` and `show` print what the library reads, as tables and as JSON.
async fn reads_show_the_store(fixture: &Fixture) {
    let charges = fixture.seed("billing.charge", "gateway timed out", 3).await;
    fixture.seed("orders.ship", "carrier down", 2).await;
    assert_eq!(
        fixture.run(&["--json", "stats"]).json(),
        json!({"new": 5, "replaying": 0, "resolved": 0, "dismissed": 0, "total": 5})
    );
    let table = fixture.run(&["stats"]);
    assert_eq!(
        (table.code, table.stdout.as_str()),
        (0, "STATUS     ENTRIES\nNew        5\nReplaying  0\nResolved   0\nDismissed  0\nTotal      5\n")
    );
    let groups = fixture.run(&["--json", "groups"]).json();
    let summary: Vec<(String, u64)> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| (group["command_type"].as_str().unwrap().to_owned(), group["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(summary, [("billing.charge".to_owned(), 3), ("orders.ship".to_owned(), 2)]);
    let entry = fixture.dead_letters().await.get_entry(charges[0]).await.unwrap().unwrap();
    let shown = fixture.run(&["--json", "show", &charges[0].to_string()]).json();
    assert_eq!(
        shown,
        json!({
            "id": entry.id.to_string(),
            "tenant": "default",
            "message_id": null,
            "command_type": "billing.charge",
            "command_version": 1,
            "status": "new",
            "resolution": null,
            "note": null,
            "changed_by": null,
            "exception_type": "GatewayError",
            "exception_message": "gateway timed out",
            "exception_details": null,
            "fingerprint": entry.fingerprint.as_str(),
            "source": null,
            "metadata": {},
            "attempt_count": 1,
            "first_failed_at": entry.first_failed_at.to_string(),
            "occurred_at": entry.occurred_at.to_string(),
            "resolved_at": null,
            "replay_requested_at": null,
            "replay_request": null,
            "payload": "{\"n\":0}",
            "original_payload": null,
            "created_at": entry.created_at.to_string(),
            "updated_at": entry.updated_at.to_string(),
            "revision": 1,
        })
    );
    let human = fixture.run(&["show", &charges[0].to_string()]);
    assert_eq!(human.code, 0);
    assert!(human.stdout.contains("Payload:\n{\n  \"n\": 0\n}\n"), "{}", human.stdout);
    assert!(!human.stdout.contains('\u{1b}'), "no colour without a terminal");
}

/// A page's cursor, printed as JSON and under the table, gives the next page; the last page has
/// none.
async fn list_pages_with_the_printed_cursor(fixture: &Fixture) {
    let mut seeded = fixture.seed("billing.charge", "gateway timed out", 3).await;
    seeded.sort();
    let first = fixture.run(&["--json", "list", "--oldest-first", "--limit", "2"]).json();
    let expected: Vec<String> = seeded.iter().map(DeadLetterId::to_string).collect();
    assert_eq!(ids(&first["entries"]), expected[..2]);
    let cursor = first["next_cursor"].as_str().expect("a second page").to_owned();
    let second =
        fixture.run(&["--json", "list", "--oldest-first", "--limit", "2", "--cursor", &cursor]).json();
    assert_eq!(
        (ids(&second["entries"]), second["next_cursor"].clone()),
        (expected[2..].to_vec(), Value::Null)
    );
    let table = fixture.run(&["list", "--oldest-first", "--limit", "2"]);
    assert!(table.stdout.ends_with(&format!("More: --cursor {cursor}\n")), "{}", table.stdout);
    let filtered = fixture.run(&["--json", "list", "--status", "dismissed"]).json();
    assert_eq!(filtered, json!({"entries": [], "next_cursor": null}));
}

/// `replay` says what it would do and changes nothing; with `--yes` it records one request,
/// paced, with the note and who asked, which `requests` lists, follows and cancels.
async fn replay_is_a_dry_run_until_yes_and_records_a_paced_request(fixture: &Fixture) {
    fixture.seed("billing.charge", "gateway timed out", 3).await;
    fixture.seed("orders.ship", "carrier down", 1).await;
    let dead_letters = fixture.dead_letters().await;
    let group = dead_letters.error_groups(1).await.unwrap()[0].fingerprint.to_string();
    let dry = fixture.run(&["--json", "replay", "--group", &group]).json();
    assert_eq!(
        dry,
        json!({"dry_run": true, "entries": 3, "by_command_type": {"billing.charge": 3}, "by_tenant": {"default": 3}})
    );
    assert_eq!(
        dead_letters.replay_requests(None, 10).await.unwrap(),
        Vec::new(),
        "a dry run records nothing"
    );
    let human = fixture.run(&["replay", "--group", &group]);
    assert!(human.stdout.starts_with("Would replay 3 New entries.\n"), "{}", human.stdout);
    assert!(human.stdout.ends_with("Nothing changed: add --yes to go ahead.\n"), "{}", human.stdout);

    let done = fixture.run(&[
        "--json",
        "replay",
        "--group",
        &group,
        "--rate",
        "2",
        "--note",
        "gateway fixed",
        "--yes",
    ]);
    let request = done.json()["request"].clone();
    let id = request["id"].as_str().unwrap().to_owned();
    let stored = dead_letters.replay_request(id.parse().unwrap()).await.unwrap();
    assert_eq!(
        request,
        json!({
            "id": id,
            "tenant": null,
            "selection": format!("fingerprint = {group}"),
            "requested_by": "ana",
            "requested_at": stored.requested_at.to_string(),
            "note": "gateway fixed",
            "per_second": 2,
            "requested": 3,
            "cancelled_at": null,
            "cancelled_by": null,
            "cancelled": 0,
        })
    );
    let listed = fixture.run(&["--json", "requests", "list"]).json();
    assert_eq!(listed, json!({"requests": [request.clone()]}));
    let progress = fixture.run(&["--json", "requests", "show", &id]).json();
    assert_eq!(
        progress,
        json!({
            "request": request, "remaining": 3, "claimed": 0, "replayed": 0, "failed": 0, "cancelled": 0,
            "other": 0, "done": false,
        })
    );
    let cancelled = fixture.run(&["--json", "requests", "cancel", &id]).json();
    assert_eq!((cancelled["cancelled"].clone(), cancelled["cancelled_by"].clone()), (json!(3), json!("ana")));
    let pending = EntryFilter::default().replay_pending(true);
    assert_eq!(dead_letters.count(&pending).await.unwrap().total, 0);
}

/// `dismiss` and `resolve` show the entry or the plan and change nothing; with `--yes` they
/// change it, recording the note and who did it; a resolved entry cannot be dismissed.
async fn dismiss_and_resolve_are_dry_runs_until_yes(fixture: &Fixture) {
    let ids = fixture.seed("billing.charge", "gateway timed out", 3).await;
    let dead_letters = fixture.dead_letters().await;
    let id = ids[0].to_string();
    let dry = fixture.run(&["--json", "dismiss", &id, "--note", "duplicate"]).json();
    assert_eq!((dry["dry_run"].clone(), dry["entry"]["status"].clone()), (json!(true), json!("new")));
    assert_eq!(dead_letters.get_entry(ids[0]).await.unwrap().unwrap().status, CommandDeadLetterStatus::New);
    let dismissed = fixture.run(&["--json", "dismiss", &id, "--note", "duplicate", "--yes"]).json();
    assert_eq!(
        (
            dismissed["entry"]["status"].clone(),
            dismissed["entry"]["note"].clone(),
            dismissed["entry"]["changed_by"].clone()
        ),
        (json!("dismissed"), json!("duplicate"), json!("ana"))
    );
    let again = fixture.run(&["dismiss", &id, "--yes"]);
    assert_eq!(again.code, 0, "dismissing a dismissed entry changes nothing: {again:?}");
    let conflict = fixture.run(&["resolve", &id, "--yes"]);
    assert_eq!(conflict.code, 4, "{conflict:?}");
    assert!(
        conflict.stderr.starts_with(&format!("error: dead letter {id}: it is Dismissed")),
        "{}",
        conflict.stderr
    );

    let plan = fixture.run(&["--json", "resolve", "--command-type", "billing.charge"]).json();
    assert_eq!(plan["entries"], json!(2));
    let resolved = fixture.run(&[
        "--json",
        "resolve",
        "--command-type",
        "billing.charge",
        "--note",
        "refunded",
        "--yes",
    ]);
    assert_eq!(resolved.json(), json!({"dry_run": false, "done": 2, "failed": 0, "skipped": 0}));
    for id in &ids[1..] {
        let entry = dead_letters.get_entry(*id).await.unwrap().unwrap();
        assert_eq!(
            (entry.status, entry.resolution, entry.note.as_deref(), entry.changed_by.map(String::from)),
            (
                CommandDeadLetterStatus::Resolved,
                Some(Resolution::HandledExternally),
                Some("refunded"),
                Some("ana".into())
            )
        );
    }
}

/// `purge` is a dry run until `--yes`, and deletes only entries resolved before the age given.
async fn purge_deletes_only_old_terminal_entries(fixture: &Fixture) {
    let ids = fixture.seed("billing.charge", "gateway timed out", 2).await;
    fixture.dead_letters().await.dismiss(ids[0], None).await.unwrap();
    let dry = fixture.run(&["--json", "purge", "--older-than", "0s"]).json();
    assert_eq!((dry["dry_run"].clone(), dry["dismissed"].clone()), (json!(true), json!(1)));
    let too_young = fixture.run(&["--json", "purge", "--older-than", "7d"]).json();
    assert_eq!((too_young["resolved"].clone(), too_young["dismissed"].clone()), (json!(0), json!(0)));
    let kept = fixture.run(&["--json", "purge", "--older-than", "7d", "--yes"]).json();
    assert_eq!(kept["purged"], json!(0), "resolved just now: kept");
    let purged = fixture.run(&["--json", "purge", "--older-than", "0s", "--yes"]).json();
    assert_eq!(purged["purged"], json!(1));
    assert_eq!(fixture.dead_letters().await.statistics().await.unwrap().total, 1);
}

/// Exit codes: 2 for usage errors and invalid input, 3 for what does not exist, 4 for a
/// conflict; errors on stderr say what to do.
async fn exit_codes_say_what_went_wrong(fixture: &Fixture) {
    let unknown = DeadLetterId::new_at(pulse::Timestamp::UNIX_EPOCH).to_string();
    let missing = fixture.run(&["show", &unknown]);
    assert_eq!(
        (missing.code, missing.stderr.as_str()),
        (
            3,
            format!(
                "error: dead letter {unknown} not found\nhint: `pulse list` shows the entries there are\n"
            )
            .as_str()
        )
    );
    let cases: [(&[&str], i32); 6] = [
        (&["show", "not-an-id"], 2),
        (&["replay"], 2),
        (&["replay", "--all", "--command-type", "x"], 2),
        (&["replay", "--all", "--wait"], 2),
        (&["list", "--limit", "0"], 2),
        (&["requests", "show", "0195c6a0-0000-7000-8000-000000000000"], 3),
    ];
    for (args, code) in cases {
        let run = fixture.run(args);
        assert_eq!(run.code, code, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: errors go to stderr: {run:?}");
    }
}

/// A missing SQLite file is an error that says what to do, and is not created; `migrate status`
/// says a new file is not current, `migrate apply` creates it.
#[test]
fn a_missing_file_is_reported_and_migrate_creates_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let db = path.display().to_string();
    let args = |rest: &[&str]| -> Vec<String> {
        ["--db", db.as_str()].iter().chain(rest).map(|arg| (*arg).to_owned()).collect()
    };
    let missing = run_pulse(&args(&["stats"]));
    assert_eq!(
        (missing.code, missing.stderr.as_str()),
        (
            3,
            format!(
                "error: no Pulse database at {db}: pass --db PATH, or --database-url for PostgreSQL; `pulse migrate \
                 apply` creates a new one\n"
            )
            .as_str()
        )
    );
    assert!(!path.exists(), "nothing was created");
    let apply = run_pulse(&args(&["migrate", "apply"]));
    assert_eq!((apply.code, apply.stdout.as_str()), (0, "The schema is current.\n"), "{apply:?}");
    let status = run_pulse(&args(&["--json", "migrate", "status"]));
    assert_eq!(status.json(), json!({"current": true}));
}

/// A URL that cannot be reached fails with exit code 1 and never echoes its password.
#[test]
fn an_unreachable_database_never_echoes_its_password() {
    let args: Vec<String> =
        ["--database-url", "postgres://ana:s3cret-pw@127.0.0.1:1/pulse", "stats"].map(String::from).to_vec();
    let run = run_pulse(&args);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(!run.stderr.contains("s3cret-pw") && !run.stdout.contains("s3cret-pw"), "{run:?}");
    assert!(run.stderr.starts_with("error: store unavailable"), "{}", run.stderr);
}
