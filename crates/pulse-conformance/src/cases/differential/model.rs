//! The reference model: what each operation should do, written apart from the shared state
//! machine.

use super::*;

/// What the model knows of one entry: everything a caller can compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Model {
    pub(super) tenant: TenantId,
    pub(super) message_id: Option<String>,
    pub(super) command_type: String,
    pub(super) exception_type: String,
    pub(super) message: String,
    pub(super) fingerprint: Fingerprint,
    pub(super) status: Status,
    pub(super) attempts: u32,
    pub(super) first_failed_at: Timestamp,
    pub(super) occurred_at: Timestamp,
    pub(super) resolved_at: Option<Timestamp>,
    pub(super) lease: Option<(Uuid, Timestamp)>,
    pub(super) requested_at: Option<Timestamp>,
    /// The latest request that marked the entry.
    pub(super) request: Option<ReplayRequestId>,
}

impl Model {
    /// The backend's entry, in the model's terms.
    pub(super) fn of(entry: &DeadLetterEntry) -> Self {
        Self {
            tenant: entry.tenant.clone(),
            message_id: entry.message_id.clone(),
            command_type: entry.command_type.clone(),
            exception_type: entry.exception_type.clone(),
            message: entry.exception_message.clone(),
            fingerprint: entry.fingerprint.clone(),
            status: entry.status,
            attempts: entry.attempt_count,
            first_failed_at: entry.first_failed_at,
            occurred_at: entry.occurred_at,
            resolved_at: entry.resolved_at,
            lease: entry.lease.map(|lease| (lease.token, lease.expires_at)),
            requested_at: entry.replay_requested_at,
            request: entry.replay_request,
        }
    }

    pub(super) fn live(&self, now: Timestamp) -> bool {
        self.status == Status::Replaying && self.lease.is_some_and(|(_, expires)| expires > now)
    }

    /// The row of the state table the entry is in.
    pub(super) fn state(&self, now: Timestamp) -> &'static str {
        match self.status {
            Status::New => "a New entry",
            Status::Replaying if self.live(now) => "a Replaying entry with a live lease",
            Status::Replaying => "a Replaying entry with an expired lease",
            Status::Resolved => "a Resolved entry",
            Status::Dismissed => "a Dismissed entry",
        }
    }

    pub(super) fn close(&mut self, status: Status, now: Timestamp) {
        self.status = status;
        self.resolved_at = Some(now);
        self.lease = None;
        self.requested_at = None;
        self.request = None;
    }
}

/// What the model knows of one replay request.
#[derive(Debug, Clone)]
pub(super) struct RequestModel {
    pub(super) id: ReplayRequestId,
    pub(super) tenant: Option<TenantId>,
    pub(super) requested: u64,
    pub(super) cancelled: Option<u64>,
}

/// How an operation ended, as far as callers can tell.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Ok,
    NotFound,
    Dismissed,
    Conflict,
    LeaseLost,
    Unexpected(String),
}

pub(super) fn outcome<T>(result: &Result<T, Error>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(Error::NotFound { .. }) => Outcome::NotFound,
        Err(Error::Dismissed { .. }) => Outcome::Dismissed,
        Err(Error::Conflict { .. }) => Outcome::Conflict,
        Err(Error::LeaseLost { .. }) => Outcome::LeaseLost,
        Err(other) => Outcome::Unexpected(format!("{other:?}")),
    }
}

pub(super) struct World {
    pub(super) tenants: [TenantId; 2],
    /// Every entry stored, in order: `e0`, `e1`, ...; purged ones stay, as names.
    pub(super) stored: Vec<DeadLetterId>,
    pub(super) entries: BTreeMap<DeadLetterId, Model>,
    /// Tickets held, with the step that took each.
    pub(super) tickets: Vec<(ReplayTicket, usize)>,
    pub(super) requests: Vec<RequestModel>,
    /// The index of the operation running.
    pub(super) step: usize,
}

impl World {
    pub(super) fn new() -> Self {
        Self {
            tenants: TENANTS.map(tenant),
            stored: Vec::new(),
            entries: BTreeMap::new(),
            tickets: Vec::new(),
            requests: Vec::new(),
            step: 0,
        }
    }

    pub(super) fn target(&self, target: Target) -> Option<DeadLetterId> {
        match target {
            Target::Stored(n) if !self.stored.is_empty() => Some(self.stored[n as usize % self.stored.len()]),
            _ => None,
        }
    }

    /// The entry `target` names, or an id no entry has.
    pub(super) fn id(&self, target: Target) -> DeadLetterId {
        self.target(target).unwrap_or_else(|| DeadLetterId::new_at(Timestamp::from_micros(0)))
    }

    pub(super) fn label(&self, id: DeadLetterId) -> String {
        self.stored
            .iter()
            .position(|s| *s == id)
            .map_or_else(|| "an unknown id".to_owned(), |n| format!("e{n}"))
    }

    pub(super) fn labels<'a>(&self, ids: impl IntoIterator<Item = &'a DeadLetterId>) -> String {
        let labels: Vec<String> = ids.into_iter().map(|id| self.label(*id)).collect();
        format!("[{}]", labels.join(", "))
    }

    pub(super) fn scoped(&self, h: &Harness, tenant: Option<usize>) -> DeadLetters {
        tenant.map_or_else(|| h.store.clone(), |t| h.store.for_tenant(self.tenants[t].clone()))
    }

    pub(super) fn in_scope(&self, model: &Model, tenant: Option<usize>) -> bool {
        tenant.is_none_or(|t| model.tenant == self.tenants[t])
    }

    /// The operation in words, with the entries it names.
    pub(super) fn describe(&self, op: &Op) -> String {
        let scope = |tenant: Option<usize>| {
            tenant.map_or("across tenants".to_owned(), |t| format!("in tenant {}", TENANTS[t]))
        };
        match op {
            Op::Store(s) => {
                let mut line = format!(
                    "store in tenant {}: {} failing with {}",
                    TENANTS[s.tenant],
                    s.command_type(),
                    s.failure
                );
                if let Some(m) = s.message_id {
                    line += &format!(", message id m-{m}");
                }
                if let Some(ago) = s.first_failed_ago {
                    line += &format!(", first failed {}s ago", ago.as_secs());
                }
                line + &format!("; then the clock moves {} ms", s.advance.as_millis())
            }
            Op::BeginReplay(t) => format!("begin_replay({})", self.label(self.id(*t))),
            Op::FinishReplay { ticket, failure } => match self.tickets.len() {
                0 => "finish_replay: no ticket held, skipped".to_owned(),
                len => {
                    let (held, taken) = &self.tickets[*ticket as usize % len];
                    let how = failure.map_or("succeeded".to_owned(), |f| format!("failed with {f}"));
                    format!(
                        "finish_replay({}, lease taken at step {}): {how}",
                        self.label(held.entry.id),
                        taken + 1
                    )
                }
            },
            Op::Dismiss(t) => format!("dismiss({})", self.label(self.id(*t))),
            Op::Resolve(t) => format!("resolve({}, handled externally)", self.label(self.id(*t))),
            Op::RequestReplay(t) => format!("request_replay({})", self.label(self.id(*t))),
            Op::Claim { tenant, limit } => format!("claim_requested({limit}) {}", scope(*tenant)),
            Op::Purge { age, limit } => {
                format!("purge(resolved before now - {}s, limit {limit})", age.as_secs())
            }
            Op::Advance(by) => format!("the clock moves {}s", by.as_secs()),
            Op::Request { tenant, command, pace } => {
                let pace = pace.map_or("unpaced".to_owned(), |p| format!("{p} per second"));
                format!("request_replays of New {} {}, {pace}", COMMANDS[*command], scope(*tenant))
            }
            Op::Cancel { request } => match self.requests.len() {
                0 => "cancel_replay_request: no request made, skipped".to_owned(),
                len => format!("cancel_replay_request(r{})", *request as usize % len),
            },
            Op::Check(probe) => format!(
                "check everything; list {} {} by pages of {}; error groups up to {}",
                self.narrow_words(&probe.narrow),
                scope(probe.tenant),
                probe.page,
                probe.groups
            ),
        }
    }

    pub(super) fn narrow_words(&self, narrow: &Narrow) -> String {
        match narrow {
            Narrow::Every => "every entry".to_owned(),
            Narrow::Statuses(statuses) => format!("entries in {statuses:?}"),
            Narrow::Command(c) => format!("entries of {}", COMMANDS[*c]),
            Narrow::Exception(e) => format!("entries failing with {}", EXCEPTIONS[*e]),
            Narrow::Group(t) => format!("the error group of {}", self.label(self.id(*t))),
            Narrow::Occurred { ago, span } => {
                format!("entries failing from now - {}s for {}s", ago.as_secs(), span.as_secs())
            }
            Narrow::Pending(pending) => format!("entries with pending request = {pending}"),
        }
    }

    pub(super) async fn step(&mut self, h: &Harness, op: &Op, line: &mut String) -> Result<(), Mismatch> {
        let now = h.clock.now();
        match op {
            Op::Store(input) => self.store(h, input, line).await,
            Op::BeginReplay(target) => self.begin_replay(h, *target, now).await,
            Op::FinishReplay { ticket, failure } => self.finish_replay(h, *ticket, *failure, now).await,
            Op::Dismiss(target) => self.dismiss(h, *target, now).await,
            Op::Resolve(target) => self.resolve(h, *target, now).await,
            Op::RequestReplay(target) => self.request_replay(h, *target, now, line).await,
            Op::Claim { tenant, limit } => self.claim(h, *tenant, *limit, now, line).await,
            Op::Purge { age, limit } => self.purge(h, now.saturating_sub(*age), *limit, line).await,
            Op::Advance(by) => {
                h.clock.advance(*by);
                Ok(())
            }
            Op::Request { tenant, command, pace } => {
                self.request(h, *tenant, COMMANDS[*command], *pace, line).await
            }
            Op::Cancel { request } => self.cancel(h, *request).await,
            Op::Check(probe) => self.check(h, probe).await,
        }
    }

    /// The returned entry is the model's.
    pub(super) fn expect_entry(&self, entry: &DeadLetterEntry, what: &str) -> Result<(), Mismatch> {
        let Some(model) = self.entries.get(&entry.id) else {
            return Err(Mismatch {
                rule: format!("{what} returns a known entry"),
                detail: format!("{entry:?}"),
            });
        };
        expect(&Model::of(entry), model, format!("{what} returns the entry as the contract changes it"))
            .map_err(|m| Mismatch { detail: format!("{}: {}", self.label(entry.id), m.detail), ..m })
    }

    /// The outcome the state table gives `what` on `id`.
    pub(super) fn expect_outcome(
        &self,
        got: &Outcome,
        want: &Outcome,
        what: &str,
        id: DeadLetterId,
        now: Timestamp,
    ) -> Result<(), Mismatch> {
        let state = self.entries.get(&id).map_or("an unknown id", |m| m.state(now));
        let rule = format!("{what} on {state} gives {want:?} (the state table)");
        expect(got, want, rule)
    }

    pub(super) async fn store(
        &mut self,
        h: &Harness,
        op: &StoreOp,
        line: &mut String,
    ) -> Result<(), Mismatch> {
        let now = h.clock.now();
        let tenant = self.tenants[op.tenant].clone();
        let message_id = op.message_id.map(|m| format!("m-{m}"));
        let mut input =
            NewDeadLetter::new(op.command_type(), "{}", op.failure.failure()).tenant(tenant.clone());
        input.message_id.clone_from(&message_id);
        input.first_failed_at = op.first_failed_ago.map(|ago| now.saturating_sub(ago));
        let receipt = succeed(h.store.store(input).await, "storing a valid entry")?;
        let existing = self
            .entries
            .iter()
            .find(|(_, m)| m.tenant == tenant && m.message_id.is_some() && m.message_id == message_id)
            .map(|(id, _)| *id);
        match existing {
            Some(id) => {
                *line += &format!(" -> duplicate of {}", self.label(id));
                let rule = "storing a message id already stored in the tenant returns the existing id as a duplicate";
                expect((receipt.id, receipt.duplicate), (id, true), rule)?;
            }
            None => {
                expect(receipt.duplicate, false, "a new message id is not a duplicate")?;
                let model = Model {
                    tenant,
                    message_id,
                    command_type: op.command_type().to_owned(),
                    exception_type: op.failure.exception_type().to_owned(),
                    message: op.failure.message(),
                    fingerprint: fingerprint(
                        op.command_type(),
                        op.failure.exception_type(),
                        &op.failure.message(),
                    ),
                    status: Status::New,
                    attempts: 1,
                    first_failed_at: op.first_failed_ago.map_or(now, |ago| now.saturating_sub(ago)),
                    occurred_at: now,
                    resolved_at: None,
                    lease: None,
                    requested_at: None,
                    request: None,
                };
                self.stored.push(receipt.id);
                *line += &format!(" -> {}", self.label(receipt.id));
                self.entries.insert(receipt.id, model);
            }
        }
        h.clock.advance(op.advance);
        Ok(())
    }

    pub(super) async fn begin_replay(
        &mut self,
        h: &Harness,
        target: Target,
        now: Timestamp,
    ) -> Result<(), Mismatch> {
        let id = self.id(target);
        let result = h.store.begin_replay(id).await;
        let want = self.replay_outcome(id, now);
        self.expect_outcome(&outcome(&result), &want, "begin_replay", id, now)?;
        if let Ok(ticket) = result {
            self.took_lease(ticket, now, "begin_replay")?;
        }
        Ok(())
    }

    /// What starting a replay of `id` at `now` gives, by `begin_replay` or a request for it: it
    /// starts only from an unresolved entry that no live lease holds.
    fn replay_outcome(&self, id: DeadLetterId, now: Timestamp) -> Outcome {
        match self.entries.get(&id) {
            None => Outcome::NotFound,
            Some(m) if m.status == Status::Dismissed => Outcome::Dismissed,
            Some(m) if m.status == Status::Resolved || m.live(now) => Outcome::Conflict,
            Some(_) => Outcome::Ok,
        }
    }

    /// Records that `ticket`'s replay began at `now` (by `what`) and checks what it returned.
    fn took_lease(&mut self, ticket: ReplayTicket, now: Timestamp, what: &str) -> Result<(), Mismatch> {
        let model = self.entries.get_mut(&ticket.entry.id).expect("an entry the model knows");
        model.status = Status::Replaying;
        model.lease = Some((ticket.lease.token, ticket.lease.expires_at));
        expect(ticket.lease.expires_at, now.saturating_add(LEASE), "a lease runs for the lease duration")?;
        self.expect_entry(&ticket.entry, what)?;
        self.tickets.push((ticket, self.step));
        Ok(())
    }

    pub(super) async fn finish_replay(
        &mut self,
        h: &Harness,
        ticket: u32,
        failure: Option<FailureKind>,
        now: Timestamp,
    ) -> Result<(), Mismatch> {
        if self.tickets.is_empty() {
            return Ok(());
        }
        let (ticket, _) = self.tickets.remove(ticket as usize % self.tickets.len());
        let (id, token) = (ticket.entry.id, ticket.lease.token);
        let replayed = failure.map_or(ReplayOutcome::Succeeded, |f| ReplayOutcome::Failed(f.failure()));
        let result = h.store.finish_replay(ticket, replayed).await;
        let want = match self.entries.get(&id) {
            None => Outcome::NotFound,
            Some(m) if m.status == Status::Replaying && m.lease.is_some_and(|(t, _)| t == token) => {
                Outcome::Ok
            }
            Some(_) => Outcome::LeaseLost,
        };
        let state = match self.entries.get(&id) {
            None => "a purged entry",
            Some(m) if m.lease.is_some_and(|(t, _)| t == token) => "an entry it holds the lease of",
            Some(_) => "an entry whose lease another replay took, or that left Replaying",
        };
        expect(outcome(&result), want, format!("finish_replay on {state} (the state table)"))?;
        let Ok(entry) = result else { return Ok(()) };
        let model = self.entries.get_mut(&id).expect("an entry the model knows");
        model.lease = None;
        model.requested_at = None;
        match failure {
            None => {
                model.status = Status::Resolved;
                model.resolved_at = Some(now);
            }
            Some(f) => {
                model.status = Status::New;
                model.attempts += 1;
                model.occurred_at = now;
                model.exception_type = f.exception_type().to_owned();
                model.message = f.message();
                model.fingerprint = fingerprint(&model.command_type, f.exception_type(), &f.message());
            }
        }
        self.expect_entry(&entry, "finish_replay")
    }

    pub(super) async fn dismiss(
        &mut self,
        h: &Harness,
        target: Target,
        now: Timestamp,
    ) -> Result<(), Mismatch> {
        let id = self.id(target);
        let result = h.store.dismiss(id, None).await;
        let want = match self.entries.get(&id) {
            None => Outcome::NotFound,
            Some(m) if m.status == Status::Dismissed => Outcome::Ok,
            Some(m) if m.status == Status::Resolved || m.live(now) => Outcome::Conflict,
            Some(_) => Outcome::Ok,
        };
        self.expect_outcome(&outcome(&result), &want, "dismiss", id, now)?;
        let Ok(entry) = result else { return Ok(()) };
        let model = self.entries.get_mut(&id).expect("an entry the model knows");
        if model.status != Status::Dismissed {
            model.close(Status::Dismissed, now);
        }
        self.expect_entry(&entry, "dismiss")
    }

    pub(super) async fn resolve(
        &mut self,
        h: &Harness,
        target: Target,
        now: Timestamp,
    ) -> Result<(), Mismatch> {
        let id = self.id(target);
        let result = h.store.resolve(id, Resolution::HandledExternally, None).await;
        let want = match self.entries.get(&id) {
            None => Outcome::NotFound,
            Some(m) if m.status.is_terminal() || m.live(now) => Outcome::Conflict,
            Some(_) => Outcome::Ok,
        };
        self.expect_outcome(&outcome(&result), &want, "resolve", id, now)?;
        let Ok(entry) = result else { return Ok(()) };
        self.entries.get_mut(&id).expect("an entry the model knows").close(Status::Resolved, now);
        self.expect_entry(&entry, "resolve")
    }

    pub(super) async fn request_replay(
        &mut self,
        h: &Harness,
        target: Target,
        now: Timestamp,
        line: &mut String,
    ) -> Result<(), Mismatch> {
        let id = self.id(target);
        let result = h.store.request_replay(id).await;
        let want = self.replay_outcome(id, now);
        self.expect_outcome(&outcome(&result), &want, "request_replay", id, now)?;
        let Ok(entry) = result else { return Ok(()) };
        let model = self.entries.get_mut(&id).expect("an entry the model knows");
        // A New entry without a pending request gets one of its own, in the all-tenants scope;
        // one already requested, or whose expired replay still holds its request, keeps it.
        if model.requested_at.is_none() && model.status == Status::New {
            let Some(request) = entry.replay_request else {
                return Err(Mismatch {
                    rule: "a requested entry names its request".to_owned(),
                    detail: format!("{entry:?}"),
                });
            };
            let rule = "request_replay of an entry without a pending request makes a new request";
            if model.request == Some(request) {
                return Err(Mismatch { rule: rule.to_owned(), detail: format!("it kept {request}") });
            }
            model.requested_at = Some(now);
            model.request = Some(request);
            *line += &format!(" -> r{}", self.requests.len());
            self.requests.push(RequestModel { id: request, tenant: None, requested: 1, cancelled: None });
        }
        self.expect_entry(&entry, "request_replay")
    }

    /// The claim takes the entries whose slot has come, earliest slot first, up to `limit`;
    /// among entries of one slot the contract leaves the choice and the order to the backend.
    pub(super) async fn claim(
        &mut self,
        h: &Harness,
        tenant: Option<usize>,
        limit: u32,
        now: Timestamp,
        line: &mut String,
    ) -> Result<(), Mismatch> {
        let claimed = succeed(self.scoped(h, tenant).claim_requested(limit).await, "claim_requested")?;
        let mut due: Vec<(Timestamp, DeadLetterId)> = self
            .entries
            .iter()
            .filter(|(_, m)| {
                self.in_scope(m, tenant)
                    && m.requested_at.is_some_and(|slot| slot <= now)
                    && m.status != Status::Dismissed
                    && !m.live(now)
            })
            .filter_map(|(id, m)| Some((m.requested_at?, *id)))
            .collect();
        due.sort();
        let got: Vec<DeadLetterId> = claimed.iter().map(|t| t.entry.id).collect();
        *line += &format!(" -> {}", self.labels(&got));
        let rule = "claim_requested takes up to its limit of the due entries in its scope, earliest slot first, \
                    skipping live leases";
        let slots = |ids: &mut dyn Iterator<Item = DeadLetterId>| -> Vec<Option<Timestamp>> {
            ids.map(|id| self.entries.get(&id).and_then(|m| m.requested_at)).collect()
        };
        let want_slots: Vec<Option<Timestamp>> =
            due.iter().take(limit as usize).map(|(slot, _)| Some(*slot)).collect();
        let eligible: BTreeSet<DeadLetterId> = due.iter().map(|(_, id)| *id).collect();
        let distinct: BTreeSet<DeadLetterId> = got.iter().copied().collect();
        if slots(&mut got.iter().copied()) != want_slots
            || !got.iter().all(|id| eligible.contains(id))
            || distinct.len() != got.len()
        {
            let detail = format!(
                "got {} (slots {:?}), the due entries in slot order are {}",
                self.labels(&got),
                slots(&mut got.iter().copied()),
                self.labels(due.iter().map(|(_, id)| id)),
            );
            return Err(Mismatch { rule: rule.to_owned(), detail });
        }
        for ticket in claimed {
            self.took_lease(ticket, now, "claim_requested")?;
        }
        Ok(())
    }

    pub(super) async fn purge(
        &mut self,
        h: &Harness,
        cutoff: Timestamp,
        limit: u32,
        line: &mut String,
    ) -> Result<(), Mismatch> {
        let purged = succeed(h.store.purge(cutoff, limit).await, "purge")?;
        let candidates: Vec<DeadLetterId> = self
            .entries
            .iter()
            .filter(|(_, m)| m.status.is_terminal() && m.resolved_at.is_some_and(|at| at < cutoff))
            .map(|(id, _)| *id)
            .collect();
        let rule = "purge deletes up to its limit of the terminal entries resolved before the cut-off";
        expect(purged, candidates.len().min(limit as usize) as u64, rule)?;
        // Which ones went is the backend's choice: learn it.
        let mut gone = Vec::new();
        for id in candidates {
            if succeed(h.store.get_entry(id).await, "get_entry")?.is_none() {
                self.entries.remove(&id);
                gone.push(id);
            }
        }
        *line += &format!(" -> {}", self.labels(&gone));
        expect(gone.len() as u64, purged, "purge deletes as many entries as it reports")
    }

    /// A paced or unpaced request for one command type, in a random scope: the model marks the
    /// New entries without a pending request, oldest failure first, at the request's slots.
    pub(super) async fn request(
        &mut self,
        h: &Harness,
        tenant: Option<usize>,
        command_type: &str,
        pace: Option<NonZeroU32>,
        line: &mut String,
    ) -> Result<(), Mismatch> {
        let filter = EntryFilter::default().command_type(command_type);
        let mut spec = ReplayRequestSpec::new(ReplaySelection::Matching(filter));
        spec.per_second = pace;
        let request = succeed(self.scoped(h, tenant).request_replays(spec).await, "request_replays")?;
        let mut marked: Vec<(Timestamp, DeadLetterId)> = self
            .entries
            .iter()
            .filter(|(_, m)| {
                m.status == Status::New
                    && m.requested_at.is_none()
                    && m.command_type == command_type
                    && self.in_scope(m, tenant)
            })
            .map(|(id, m)| (m.occurred_at, *id))
            .collect();
        marked.sort();
        *line +=
            &format!(" -> r{} marks {}", self.requests.len(), self.labels(marked.iter().map(|(_, id)| id)));
        let rule = "a request marks the New entries it selects that have no pending request";
        expect(request.requested, marked.len() as u64, rule)?;
        for ((_, id), n) in marked.iter().zip(0..) {
            let model = self.entries.get_mut(id).expect("a marked entry");
            model.requested_at = Some(request.slot(n));
            model.request = Some(request.id);
        }
        self.requests.push(RequestModel {
            id: request.id,
            tenant: tenant.map(|t| self.tenants[t].clone()),
            requested: request.requested,
            cancelled: None,
        });
        Ok(())
    }

    /// Cancels a request: its New entries still waiting lose it.
    pub(super) async fn cancel(&mut self, h: &Harness, request: u32) -> Result<(), Mismatch> {
        if self.requests.is_empty() {
            return Ok(());
        }
        let index = request as usize % self.requests.len();
        let request = self.requests[index].clone();
        let handle =
            request.tenant.as_ref().map_or_else(|| h.store.clone(), |t| h.store.for_tenant(t.clone()));
        let cancelled = succeed(handle.cancel_replay_request(request.id).await, "cancel_replay_request")?;
        let want = match request.cancelled {
            Some(count) => count,
            None => {
                let mut count = 0;
                for model in self.entries.values_mut() {
                    if model.request == Some(request.id)
                        && model.requested_at.is_some()
                        && model.status == Status::New
                    {
                        model.request = None;
                        model.requested_at = None;
                        count += 1;
                    }
                }
                self.requests[index].cancelled = Some(count);
                count
            }
        };
        let rule = "cancelling takes the request from its New entries not yet claimed; cancelling again changes nothing";
        expect(cancelled.cancelled, want, rule)
    }
}
