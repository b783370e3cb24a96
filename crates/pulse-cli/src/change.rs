//! The commands that change something: `replay`, `requests`, `dismiss`, `resolve`, `purge` and
//! `migrate`. Each is a dry run until `--yes`, except cancelling a request, which only stops
//! replays from starting.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use pulse::{
    BulkOptions, BulkPlan, CommandDeadLetterStatus, DeadLetters, EntryFilter, ReplayRequestSpec,
    ReplaySelection, Resolution, Selection,
};
use serde_json::json;

use crate::args::{CloseArgs, MigrateCommand, ReplayArgs, RequestsCommand, StoreArgs, Target};
use crate::failure::Failure;
use crate::open::Opened;
use crate::output::{Output, breakdown_json, entry_json, progress_json, request_json, shorten};
use crate::read::print_entry;

/// How often `--wait` reads a request's progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// What a command's selection is: one entry, or the New entries a filter selects.
enum Selected {
    One(pulse::DeadLetterId),
    Matching(EntryFilter),
}

/// The selection of `target`: an id, a narrowing filter, or `--all`; never everything by
/// accident.
fn selected(target: &Target) -> Result<Selected, Failure> {
    match (target.id, target.filter.narrows(), target.all) {
        (Some(id), false, false) => Ok(Selected::One(id)),
        (Some(_), _, _) => Err(Failure::Usage("give an entry's id or selection flags, not both".into())),
        (None, true, false) | (None, false, true) => Ok(Selected::Matching(target.filter.filter())),
        (None, true, true) => Err(Failure::Usage("--all selects every New entry: drop the other flags".into())),
        (None, false, false) => Err(Failure::Usage(
            "say which entries: an id, a flag such as --group or --command-type, or --all for every New entry".into(),
        )),
    }
}

/// Prints a dry run's plan: how many entries, by command type and by tenant.
fn print_plan(plan: &BulkPlan, verb: &str, out: &Output) {
    if out.json {
        out.document(&breakdown_json(plan.len(), &plan.by_command_type, &plan.by_tenant));
        return;
    }
    out.line(format!("Would {verb} {} New entries.", plan.len()));
    if !plan.is_empty() {
        let rows: Vec<Vec<String>> = plan
            .by_command_type
            .iter()
            .map(|(command, n)| vec!["command type".to_owned(), shorten(command, 50), n.to_string()])
            .chain(
                plan.by_tenant
                    .iter()
                    .map(|(tenant, n)| vec!["tenant".to_owned(), shorten(tenant, 50), n.to_string()]),
            )
            .collect();
        out.table(&["BY", "VALUE", "ENTRIES"], &rows);
    }
    out.line("Nothing changed: add --yes to go ahead.");
}

pub(crate) async fn replay(
    dead_letters: &DeadLetters,
    args: ReplayArgs,
    out: &Output,
) -> Result<(), Failure> {
    let selection = match selected(&args.target)? {
        Selected::One(id) => ReplaySelection::Entry(id),
        Selected::Matching(filter) => ReplaySelection::Matching(filter),
    };
    if !args.yes {
        let plan = match &selection {
            ReplaySelection::Entry(id) => {
                let entry = dead_letters.get_entry(*id).await?.ok_or(pulse::Error::NotFound { id: *id })?;
                pulse::plan(dead_letters, Selection::Query(EntryFilter::default().ids([entry.id]))).await?
            }
            ReplaySelection::Matching(filter) => {
                pulse::plan(dead_letters, Selection::Query(filter.clone())).await?
            }
            ReplaySelection::Entries(_) => unreachable!("the command line selects by id or filter"),
        };
        print_plan(&plan, "replay", out);
        return Ok(());
    }
    let mut spec = ReplayRequestSpec::new(selection);
    spec.note = args.note;
    spec.per_second = args.rate;
    let request = dead_letters.request_replays(spec).await?;
    if !args.wait {
        if out.json {
            out.document(&json!({ "dry_run": false, "request": request_json(&request) }));
        } else {
            out.line(format!("Requested replay of {} entries: request {}.", request.requested, request.id));
            out.line(format!("Follow it with: pulse requests show {}", request.id));
        }
        return Ok(());
    }
    let terminal = !out.json && std::io::stderr().is_terminal();
    loop {
        let progress = dead_letters.replay_progress(request.id).await?;
        if terminal {
            let settled = progress.replayed + progress.failed + progress.cancelled + progress.other;
            eprint!("\r{}", bar(settled, progress.request.requested));
            let _ = std::io::stderr().flush();
        }
        if progress.is_done() {
            if terminal {
                eprintln!();
            }
            if out.json {
                out.document(&json!({ "dry_run": false, "progress": progress_json(&progress) }));
            } else {
                out.line(format!(
                    "Request {}: {} replayed, {} failed, {} cancelled, {} otherwise settled.",
                    request.id, progress.replayed, progress.failed, progress.cancelled, progress.other
                ));
            }
            return Ok(());
        }
        tokio::time::sleep(PROGRESS_EVERY).await;
    }
}

/// `[#####     ] 5/10`.
fn bar(done: u64, total: u64) -> String {
    const WIDTH: u64 = 30;
    let filled = (done.min(total) * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let filled = usize::try_from(filled).unwrap_or(0);
    format!("[{}{}] {done}/{total}", "#".repeat(filled), " ".repeat(30 - filled))
}

pub(crate) async fn requests(
    dead_letters: &DeadLetters,
    command: RequestsCommand,
    out: &Output,
) -> Result<(), Failure> {
    match command {
        RequestsCommand::List { limit, before } => {
            let requests = dead_letters.replay_requests(before, limit).await?;
            if out.json {
                out.document(&json!({ "requests": requests.iter().map(request_json).collect::<Vec<_>>() }));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = requests
                .iter()
                .map(|request| {
                    vec![
                        request.id.to_string(),
                        request.requested_at.to_string(),
                        request.requested_by.as_ref().map_or("-".to_owned(), ToString::to_string),
                        request.requested.to_string(),
                        request.per_second.map_or("-".to_owned(), |pace| format!("{pace}/s")),
                        if request.cancelled_at.is_some() { "cancelled".to_owned() } else { String::new() },
                        shorten(&request.selection, 40),
                    ]
                })
                .collect();
            out.table(&["ID", "REQUESTED AT", "BY", "ENTRIES", "PACE", "", "SELECTION"], &rows);
        }
        RequestsCommand::Show { id } => {
            let progress = dead_letters.replay_progress(id).await?;
            if out.json {
                out.document(&progress_json(&progress));
                return Ok(());
            }
            let request = &progress.request;
            out.line(format!("Request {} ({})", request.id, request.selection));
            out.line(format!(
                "Asked by {} at {}{}",
                request.requested_by.as_ref().map_or("-".to_owned(), ToString::to_string),
                request.requested_at,
                request.per_second.map_or(String::new(), |pace| format!(", {pace} per second")),
            ));
            if let Some(note) = &request.note {
                out.line(format!("Note: {note}"));
            }
            let rows: Vec<Vec<String>> = [
                ("requested", request.requested),
                ("waiting", progress.remaining),
                ("replaying", progress.claimed),
                ("replayed", progress.replayed),
                ("failed", progress.failed),
                ("cancelled", progress.cancelled),
                ("settled otherwise", progress.other),
            ]
            .into_iter()
            .map(|(what, n)| vec![what.to_owned(), n.to_string()])
            .collect();
            out.table(&["ENTRIES", "COUNT"], &rows);
        }
        RequestsCommand::Cancel { id } => {
            let request = dead_letters.cancel_replay_request(id).await?;
            if out.json {
                out.document(&request_json(&request));
            } else {
                out.line(format!(
                    "Request {id} cancelled: {} entries will not be replayed.",
                    request.cancelled
                ));
            }
        }
    }
    Ok(())
}

/// Dismiss or resolve.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Closing {
    Dismiss,
    Resolve,
}

impl Closing {
    fn verb(self) -> &'static str {
        match self {
            Self::Dismiss => "dismiss",
            Self::Resolve => "resolve",
        }
    }
}

pub(crate) async fn close(
    dead_letters: &DeadLetters,
    args: CloseArgs,
    closing: Closing,
    out: &Output,
) -> Result<(), Failure> {
    match selected(&args.target)? {
        Selected::One(id) => {
            if !args.yes {
                let entry = dead_letters.get_entry(id).await?.ok_or(pulse::Error::NotFound { id })?;
                if out.json {
                    out.document(&json!({ "dry_run": true, "entry": entry_json(&entry) }));
                } else {
                    print_entry(&entry, out);
                    out.line(format!(
                        "Would {} this entry. Nothing changed: add --yes to go ahead.",
                        closing.verb()
                    ));
                }
                return Ok(());
            }
            let entry = match closing {
                Closing::Dismiss => dead_letters.dismiss(id, args.note).await?,
                Closing::Resolve => {
                    dead_letters.resolve(id, Resolution::HandledExternally, args.note).await?
                }
            };
            if out.json {
                out.document(&json!({ "dry_run": false, "entry": entry_json(&entry) }));
            } else {
                out.line(format!("Entry {id} is {}.", entry.status));
            }
        }
        Selected::Matching(mut filter) => {
            filter.statuses = vec![CommandDeadLetterStatus::New];
            let plan = pulse::plan(dead_letters, Selection::Query(filter)).await?;
            if !args.yes {
                print_plan(&plan, closing.verb(), out);
                return Ok(());
            }
            let job = match closing {
                Closing::Dismiss => pulse::dismiss_all(dead_letters, plan, args.note, BulkOptions::default()),
                Closing::Resolve => pulse::resolve_all(
                    dead_letters,
                    plan,
                    Resolution::HandledExternally,
                    args.note,
                    BulkOptions::default(),
                ),
            };
            let progress = job.wait().await;
            if out.json {
                out.document(&json!({
                    "dry_run": false,
                    "done": progress.done,
                    "failed": progress.failed,
                    "skipped": progress.skipped,
                }));
            } else {
                out.line(format!(
                    "{} {} entries; {} had changed since the plan and were left alone; {} failed.",
                    match closing {
                        Closing::Dismiss => "Dismissed",
                        Closing::Resolve => "Resolved",
                    },
                    progress.done,
                    progress.skipped,
                    progress.failed
                ));
            }
            if progress.failed > 0 {
                return Err(Failure::Failed(format!(
                    "{} entries could not be changed: see the log",
                    progress.failed
                )));
            }
        }
    }
    Ok(())
}

pub(crate) async fn purge(
    dead_letters: &DeadLetters,
    older_than: Duration,
    yes: bool,
    out: &Output,
) -> Result<(), Failure> {
    let before = dead_letters.now().saturating_sub(older_than);
    if !yes {
        let purgeable = EntryFilter::default()
            .statuses([CommandDeadLetterStatus::Resolved, CommandDeadLetterStatus::Dismissed])
            .resolved_before(before);
        let counts = dead_letters.count(&purgeable).await?;
        if out.json {
            out.document(&json!({
                "dry_run": true,
                "resolved_before": before.to_string(),
                "resolved": counts.resolved,
                "dismissed": counts.dismissed,
            }));
        } else {
            out.line(format!(
                "Would delete {} Resolved and {} Dismissed entries, resolved before {before}. New and Replaying \
                 entries are never purged.",
                counts.resolved, counts.dismissed
            ));
            out.line("Nothing changed: add --yes to go ahead.");
        }
        return Ok(());
    }
    let mut purged = 0;
    loop {
        let step = dead_letters.purge(before, 1000).await?;
        purged += step;
        if step < 1000 {
            break;
        }
    }
    if out.json {
        out.document(&json!({ "dry_run": false, "resolved_before": before.to_string(), "purged": purged }));
    } else {
        out.line(format!("Deleted {purged} entries resolved before {before}."));
    }
    Ok(())
}

pub(crate) async fn migrate(args: &StoreArgs, command: &MigrateCommand, out: &Output) -> Result<(), Failure> {
    let apply = matches!(command, MigrateCommand::Apply);
    let opened = match Opened::open_with(args, apply).await {
        Ok(opened) => opened,
        Err(Failure::Pulse(pulse::Error::InvalidConfig { reason })) if !apply => {
            if out.json {
                out.document(&json!({ "current": false, "reason": reason }));
            } else {
                out.line(format!("Not current: {reason}"));
            }
            return Err(Failure::Failed("the schema is not current: run `pulse migrate apply`".into()));
        }
        Err(failure) => return Err(failure),
    };
    opened.close().await;
    if out.json {
        out.document(&json!({ "current": true }));
    } else if apply {
        out.line("The schema is current.");
    } else {
        out.line("The schema is current: nothing to apply.");
    }
    Ok(())
}
