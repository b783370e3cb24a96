//! Checks: the whole store against the model.

use super::*;

impl World {
    pub(super) async fn check(&self, h: &Harness, probe: &Probe) -> Result<(), Mismatch> {
        self.check_entries(h).await?;
        self.check_progress(h).await?;
        self.check_statistics(h).await?;
        self.check_pending(h).await?;
        for tenant in [None, Some(0), Some(1)] {
            self.check_groups(h, tenant, probe.groups).await?;
        }
        for order in [SortOrder::NewestFirst, SortOrder::OldestFirst] {
            self.check_listing(h, probe, order).await?;
        }
        Ok(())
    }

    pub(super) async fn check_entries(&self, h: &Harness) -> Result<(), Mismatch> {
        let all = walk(&h.store, &EntryFilter::default(), SortOrder::OldestFirst, 100).await?;
        let got: BTreeSet<DeadLetterId> = all.iter().map(|e| e.id).collect();
        let want: BTreeSet<DeadLetterId> = self.entries.keys().copied().collect();
        expect(
            self.labels(&got),
            self.labels(&want),
            "the store holds exactly the entries stored and not purged",
        )?;
        for entry in &all {
            self.expect_entry(entry, "list")?;
        }
        Ok(())
    }

    pub(super) async fn check_progress(&self, h: &Harness) -> Result<(), Mismatch> {
        for (n, request) in self.requests.iter().enumerate() {
            let progress = succeed(h.store.replay_progress(request.id).await, "replay_progress")?;
            let (mut remaining, mut claimed, mut replayed, mut failed) = (0, 0, 0, 0);
            for model in self.entries.values().filter(|m| m.request == Some(request.id)) {
                match (model.status, model.requested_at.is_some()) {
                    (Status::New, true) => remaining += 1,
                    (Status::New, false) => failed += 1,
                    (Status::Replaying, _) => claimed += 1,
                    (Status::Resolved, _) => replayed += 1,
                    (Status::Dismissed, _) => {}
                }
            }
            let want =
                (request.requested, remaining, claimed, replayed, failed, request.cancelled.unwrap_or(0));
            let got = (
                progress.request.requested,
                progress.remaining,
                progress.claimed,
                progress.replayed,
                progress.failed,
                progress.cancelled,
            );
            let rule = format!(
                "a request's progress (requested, waiting, replaying, replayed, failed, cancelled) is counted from \
                 its entries (r{n})"
            );
            expect(got, want, rule)?;
        }
        Ok(())
    }

    pub(super) fn statistics(&self, tenant: Option<usize>) -> Statistics {
        let mut stats = Statistics::default();
        for model in self.entries.values().filter(|m| self.in_scope(m, tenant)) {
            stats.add(model.status, 1);
        }
        stats
    }

    pub(super) async fn check_statistics(&self, h: &Harness) -> Result<(), Mismatch> {
        for tenant in [None, Some(0), Some(1)] {
            let got = succeed(self.scoped(h, tenant).statistics().await, "statistics")?;
            let scope = tenant.map_or("across tenants".to_owned(), |t| format!("in tenant {}", TENANTS[t]));
            expect(got, self.statistics(tenant), format!("statistics count the entries {scope} by status"))?;
        }
        Ok(())
    }

    pub(super) async fn check_pending(&self, h: &Harness) -> Result<(), Mismatch> {
        let mut pending: Vec<(Timestamp, DeadLetterId)> = self
            .entries
            .iter()
            .filter(|(_, m)| m.status == Status::New)
            .map(|(id, m)| (m.occurred_at, *id))
            .collect();
        pending.sort();
        let got = succeed(h.store.get_pending(1000, 0).await, "get_pending")?;
        let rule = "get_pending gives the New entries, oldest latest failure first, ties by id";
        expect(self.labels(got.iter().map(|e| &e.id)), self.labels(pending.iter().map(|(_, id)| id)), rule)
    }

    /// The error groups of the unresolved entries in scope, all of them, in the contract's
    /// order: largest first, then most recent, then by fingerprint.
    pub(super) fn error_groups(&self, tenant: Option<usize>) -> Vec<ErrorGroup> {
        let mut groups: BTreeMap<&Fingerprint, (ErrorGroup, (Timestamp, DeadLetterId))> = BTreeMap::new();
        for (id, m) in
            self.entries.iter().filter(|(_, m)| m.status.is_unresolved() && self.in_scope(m, tenant))
        {
            let latest = (m.occurred_at, *id);
            let (group, sample) = groups.entry(&m.fingerprint).or_insert_with(|| {
                let group = ErrorGroup {
                    fingerprint: m.fingerprint.clone(),
                    command_type: m.command_type.clone(),
                    exception_type: m.exception_type.clone(),
                    sample_message: m.message.clone(),
                    count: 0,
                    first_seen: m.first_failed_at,
                    last_seen: m.occurred_at,
                };
                (group, latest)
            });
            group.count += 1;
            group.first_seen = group.first_seen.min(m.first_failed_at);
            group.last_seen = group.last_seen.max(m.occurred_at);
            if latest > *sample {
                *sample = latest;
                group.sample_message.clone_from(&m.message);
            }
        }
        let mut groups: Vec<ErrorGroup> = groups.into_values().map(|(group, _)| group).collect();
        groups.sort_by(|a, b| {
            (b.count, b.last_seen)
                .cmp(&(a.count, a.last_seen))
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        groups
    }

    pub(super) async fn check_groups(
        &self,
        h: &Harness,
        tenant: Option<usize>,
        limit: u32,
    ) -> Result<(), Mismatch> {
        let got = succeed(self.scoped(h, tenant).error_groups(limit).await, "error_groups")?;
        let all = self.error_groups(tenant);
        let want = &all[..all.len().min(limit as usize)];
        if got == want {
            return Ok(());
        }
        let scope = tenant.map_or("across tenants".to_owned(), |t| format!("in tenant {}", TENANTS[t]));
        let rule = group_rule(&got, want, &all);
        let position = got.iter().zip(want).position(|(g, w)| g != w).unwrap_or(got.len().min(want.len()));
        let detail = format!(
            "error_groups({limit}) {scope}, first difference at position {position}:\n  got  {:?}\n  want {:?}\n\
             (got {} groups, want {})",
            got.get(position),
            want.get(position),
            got.len(),
            want.len()
        );
        Err(Mismatch { rule: rule.to_owned(), detail })
    }

    pub(super) async fn check_listing(
        &self,
        h: &Harness,
        probe: &Probe,
        order: SortOrder,
    ) -> Result<(), Mismatch> {
        let filter = self.filter(&probe.narrow, h.clock.now());
        let listed = walk(&self.scoped(h, probe.tenant), &filter, order, probe.page).await?;
        let got: Vec<DeadLetterId> = listed.iter().map(|e| e.id).collect();
        let mut want: Vec<(Timestamp, DeadLetterId)> = self
            .entries
            .iter()
            .filter(|(_, m)| self.in_scope(m, probe.tenant) && self.admits(&probe.narrow, m, h.clock.now()))
            .map(|(id, m)| (m.occurred_at, *id))
            .collect();
        want.sort();
        if order == SortOrder::NewestFirst {
            want.reverse();
        }
        let want: Vec<DeadLetterId> = want.into_iter().map(|(_, id)| id).collect();
        if got == want {
            return Ok(());
        }
        let distinct: BTreeSet<&DeadLetterId> = got.iter().collect();
        let rule = if distinct.len() < got.len() {
            "paging never repeats an entry".to_owned()
        } else if distinct == want.iter().collect::<BTreeSet<_>>() {
            format!("a listing is ordered by (latest failure, id), {order:?}")
        } else {
            "a listing pages through exactly the entries its scope and filter select".to_owned()
        };
        let detail = format!(
            "{} by pages of {}, {order:?}: got {}, want {}",
            self.narrow_words(&probe.narrow),
            probe.page,
            self.labels(&got),
            self.labels(&want)
        );
        Err(Mismatch { rule, detail })
    }

    pub(super) fn filter(&self, narrow: &Narrow, now: Timestamp) -> EntryFilter {
        let filter = EntryFilter::default();
        match narrow {
            Narrow::Every => filter,
            Narrow::Statuses(statuses) => filter.statuses(statuses.iter().copied()),
            Narrow::Command(c) => filter.command_type(COMMANDS[*c]),
            Narrow::Exception(e) => filter.exception_type(EXCEPTIONS[*e]),
            Narrow::Group(t) => filter.fingerprint(self.group_of(*t)),
            Narrow::Occurred { ago, span } => {
                let from = now.saturating_sub(*ago);
                filter.occurred_from(from).occurred_before(from.saturating_add(*span))
            }
            Narrow::Pending(pending) => filter.replay_pending(*pending),
        }
    }

    /// The model's own reading of a filter.
    pub(super) fn admits(&self, narrow: &Narrow, m: &Model, now: Timestamp) -> bool {
        match narrow {
            Narrow::Every => true,
            Narrow::Statuses(statuses) => statuses.is_empty() || statuses.contains(&m.status),
            Narrow::Command(c) => m.command_type == COMMANDS[*c],
            Narrow::Exception(e) => m.exception_type == EXCEPTIONS[*e],
            Narrow::Group(t) => m.fingerprint == self.group_of(*t),
            Narrow::Occurred { ago, span } => {
                let from = now.saturating_sub(*ago);
                from <= m.occurred_at && m.occurred_at < from.saturating_add(*span)
            }
            Narrow::Pending(pending) => m.requested_at.is_some() == *pending,
        }
    }

    /// The fingerprint of the entry `target` names, or one no entry has.
    pub(super) fn group_of(&self, target: Target) -> Fingerprint {
        self.target(target)
            .and_then(|id| self.entries.get(&id))
            .map_or_else(|| fingerprint("none", "none", "none"), |m| m.fingerprint.clone())
    }
}

/// The rule the first difference between two lists of error groups breaks.
pub(super) fn group_rule(got: &[ErrorGroup], want: &[ErrorGroup], all: &[ErrorGroup]) -> &'static str {
    for (g, w) in got.iter().zip(want) {
        if g == w {
            continue;
        }
        let Some(model) = all.iter().find(|m| m.fingerprint == g.fingerprint) else {
            return "error groups are the fingerprints of unresolved entries in scope";
        };
        if g.count != model.count {
            return "a group counts its unresolved entries";
        }
        if g.first_seen != model.first_seen {
            return "a group's first seen is the earliest first failure of its unresolved entries";
        }
        if g.last_seen != model.last_seen {
            return "a group's last seen is the latest failure of its unresolved entries";
        }
        if g.sample_message != model.sample_message {
            return "a group's sample is the message of its latest failure (latest occurred_at, then highest id)";
        }
        if g.command_type != model.command_type || g.exception_type != model.exception_type {
            return "a group carries the command type and exception type of its entries";
        }
        if w.count != model.count {
            return "error groups come largest first";
        }
        if w.last_seen != model.last_seen {
            return "error groups with equal count come most recent first";
        }
        return "error groups with equal count and last seen are ordered by fingerprint";
    }
    "error_groups(limit) gives one group per fingerprint of the unresolved entries in scope, up to limit"
}

/// Every entry `store` lists for `filter` in `order`, walking the pages with their cursors.
pub(super) async fn walk(
    store: &DeadLetters,
    filter: &EntryFilter,
    order: SortOrder,
    limit: u32,
) -> Result<Vec<DeadLetterEntry>, Mismatch> {
    let mut query = ListQuery::default().filter(filter.clone()).order(order).limit(limit);
    let mut all = Vec::new();
    for _ in 0..10_000 {
        let page = succeed(store.list(query.clone()).await, "list")?;
        if page.entries.len() > limit as usize {
            let detail = format!("a page of {} for limit {limit}", page.entries.len());
            return Err(Mismatch { rule: "a page holds at most its limit".to_owned(), detail });
        }
        all.extend(page.entries);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(all),
        }
    }
    Err(Mismatch { rule: "paging ends".to_owned(), detail: "the cursor does not advance".to_owned() })
}
