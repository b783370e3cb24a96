//! The catalogue of backend mutants: small, realistic bugs the conformance suite is expected to
//! catch, each one textual substitution in one file, in the memory, SQLite or PostgreSQL store or
//! in the shared layer.
//!
//! A mutant's `find` must occur exactly once in its file; when the code moves on and it no longer
//! does, `cargo xtask mutants` reports the mutant as stale, so the catalogue is kept up to date
//! with the code it mutates. Each mutant names the rule it breaks: when one is not caught, that
//! is the rule the suite does not check.

use super::Mutant;

const MEMORY: &str = "crates/pulse-store-memory/src/store.rs";
const SQLITE_SQL: &str = "crates/pulse-store-sqlite/src/sql.rs";
const SQLITE_ROW: &str = "crates/pulse-store-sqlite/src/row.rs";
const SQLITE_STORE: &str = "crates/pulse-store-sqlite/src/store.rs";
const MACHINE: &str = "crates/pulse-extensibility/src/machine.rs";
const VALIDATE: &str = "crates/pulse-extensibility/src/validate.rs";
const FINGERPRINT: &str = "crates/pulse-extensibility/src/fingerprint.rs";
const DEAD_LETTERS: &str = "crates/pulse-extensibility/src/dead_letters.rs";
const POSTGRES_ENTRIES: &str = "crates/pulse-store-postgres/src/sql/entries.rs";
const POSTGRES_REQUESTS: &str = "crates/pulse-store-postgres/src/sql/requests.rs";
const POSTGRES_SQL: &str = "crates/pulse-store-postgres/src/sql/mod.rs";

/// Every mutant, grouped by file so that consecutive mutants rebuild as little as possible.
pub(crate) const CATALOGUE: &[Mutant] = &[
    // ---- the memory store ----
    Mutant {
        name: "memory-purge-includes-the-cutoff",
        rule: "purge deletes only entries resolved strictly before the cutoff",
        file: MEMORY,
        find: "*resolved_at < resolved_before)",
        replace: "*resolved_at <= resolved_before)",
    },
    Mutant {
        name: "memory-purge-ignores-the-scope",
        rule: "a tenant-scoped purge deletes only its own tenant's entries",
        file: MEMORY,
        find: "            .filter(|id| state.entries.get(id).is_some_and(|entry| scope.contains(&entry.tenant)))\n",
        replace: "",
    },
    Mutant {
        name: "memory-purge-keeps-the-idempotency-key",
        rule: "once its entry is purged, a message id can be stored again as a new entry",
        file: MEMORY,
        find: "            if let Some(message_id) = entry.message_id {\n                state.keys.remove(&(entry.tenant, message_id));\n            }\n",
        replace: "",
    },
    Mutant {
        name: "memory-purge-index-by-resolved-at",
        rule: "purge deletes only Resolved and Dismissed entries: a Resolved entry replayed again is not purged while it replays",
        file: MEMORY,
        find: "entry.resolved_at.filter(|_| entry.status.is_terminal()).map(",
        replace: "entry.resolved_at.map(",
    },
    Mutant {
        name: "memory-duplicate-lookup-ignores-the-tenant",
        rule: "a message id is unique per tenant: the same id in another tenant is a new entry",
        file: MEMORY,
        find: "            if let Some(message_id) = &entry.message_id {\n                match",
        replace: "            if let Some(message_id) = &entry.message_id {\n                if let Some(existing) = state.keys.iter().find(|((_, key), _)| key == message_id).map(|(_, id)| *id) {\n                    receipts.push(StoreReceipt { id: existing, duplicate: true });\n                    continue;\n                }\n                match",
    },
    Mutant {
        name: "memory-insert-overwrites-an-existing-id",
        rule: "storing an id that is already stored is a Conflict; the stored entry is never overwritten",
        file: MEMORY,
        find: "        // Checked before anything is written, so a clash leaves the store as it was.\n        if let Some(clash) = entries.iter().find(|entry| {\n            state.entries.contains_key(&entry.id)\n                && !entry.message_id.as_ref().is_some_and(|message_id| {\n                    state.keys.contains_key(&(entry.tenant.clone(), message_id.clone()))\n                })\n        }) {\n            return Err(Error::conflict(clash.id, \"an entry with this id is already stored\"));\n        }\n",
        replace: "",
    },
    Mutant {
        name: "memory-insert-finds-a-clash-while-writing",
        rule: "a batch is written all or nothing: a clash part-way writes none of it",
        file: MEMORY,
        find: "        // Checked before anything is written, so a clash leaves the store as it was.\n        if let Some(clash) = entries.iter().find(|entry| {\n            state.entries.contains_key(&entry.id)\n                && !entry.message_id.as_ref().is_some_and(|message_id| {\n                    state.keys.contains_key(&(entry.tenant.clone(), message_id.clone()))\n                })\n        }) {\n            return Err(Error::conflict(clash.id, \"an entry with this id is already stored\"));\n        }\n        let mut receipts = Vec::with_capacity(entries.len());\n        for entry in entries {\n            if let Some(message_id) = &entry.message_id {\n                match state.keys.entry((entry.tenant.clone(), message_id.clone())) {\n                    Entry::Occupied(existing) => {\n                        receipts.push(StoreReceipt { id: *existing.get(), duplicate: true });\n                        continue;\n                    }\n                    Entry::Vacant(slot) => {\n                        slot.insert(entry.id);\n                    }\n                }\n            }\n            state.track(",
        replace: "        let mut receipts = Vec::with_capacity(entries.len());\n        for entry in entries {\n            if let Some(message_id) = &entry.message_id {\n                match state.keys.entry((entry.tenant.clone(), message_id.clone())) {\n                    Entry::Occupied(existing) => {\n                        receipts.push(StoreReceipt { id: *existing.get(), duplicate: true });\n                        continue;\n                    }\n                    Entry::Vacant(slot) => {\n                        slot.insert(entry.id);\n                    }\n                }\n            }\n            if state.entries.contains_key(&entry.id) {\n                return Err(Error::conflict(entry.id, \"an entry with this id is already stored\"));\n            }\n            state.track(",
    },
    Mutant {
        name: "memory-swap-accepts-the-same-revision",
        rule: "compare-and-swap writes only over the revision it read: of two writers from one revision, one loses",
        file: MEMORY,
        find: "stored.revision + 1 != entry.revision",
        replace: "stored.revision > entry.revision",
    },
    Mutant {
        name: "memory-cursor-repeats-the-last-entry",
        rule: "a page starts strictly after the cursor",
        file: MEMORY,
        find: "(SortOrder::OldestFirst, Some(after)) => Box::new(index.range((Excluded(after), Unbounded))),",
        replace: "(SortOrder::OldestFirst, Some(after)) => Box::new(index.range((std::ops::Bound::Included(after), Unbounded))),",
    },
    Mutant {
        name: "memory-groups-tie-break-descending",
        rule: "error groups with equal count and equal last seen are ordered by fingerprint, ascending",
        file: MEMORY,
        find: ".then(a.fingerprint.cmp(&b.fingerprint))",
        replace: ".then(b.fingerprint.cmp(&a.fingerprint))",
    },
    Mutant {
        name: "memory-group-sample-ignores-the-id",
        rule: "a group's sample message is the latest entry's, the highest id among those sharing a microsecond",
        file: MEMORY,
        find: "if key > *latest {",
        replace: "if key.occurred_at > latest.occurred_at {",
    },
    Mutant {
        name: "memory-request-replay-keeps-the-revision",
        rule: "request_replay bumps the revision of every entry it marks",
        file: MEMORY,
        find: "            entry.updated_at = request.requested_at;\n            entry.revision += 1;\n",
        replace: "            entry.updated_at = request.requested_at;\n",
    },
    Mutant {
        name: "memory-request-replay-keeps-updated-at",
        rule: "request_replay sets updated_at of every entry it marks to the request's instant",
        file: MEMORY,
        find: "            entry.updated_at = request.requested_at;\n",
        replace: "",
    },
    Mutant {
        name: "memory-claim-takes-a-live-lease",
        rule: "a claim never takes an entry whose replay lease is live: one entry, one claimer",
        file: MEMORY,
        find: "Status::Replaying => entry.lease.is_none_or(|lease| !lease.is_live_at(now)),",
        replace: "Status::Replaying => true,",
    },
    Mutant {
        name: "memory-claim-lease-expiry-exclusive",
        rule: "a lease expiring at `now` has expired: its entry can be claimed at `now`",
        file: MEMORY,
        find: "entry.lease.is_none_or(|lease| !lease.is_live_at(now))",
        replace: "entry.lease.is_none_or(|lease| lease.expires_at < now)",
    },
    Mutant {
        name: "memory-claim-due-exclusive",
        rule: "a replay due at `now` can be claimed at `now`",
        file: MEMORY,
        find: "entry.replay_requested_at.is_some_and(|due| due <= now)",
        replace: "entry.replay_requested_at.is_some_and(|due| due < now)",
    },
    Mutant {
        name: "memory-claim-in-id-order",
        rule: "claims take the earliest due replay first (then the lowest id), not the oldest entry",
        file: MEMORY,
        find: "        candidates.sort_unstable();\n",
        replace: "        candidates.sort_unstable_by_key(|(_, id)| *id);\n",
    },
    // ---- the SQLite store: SQL ----
    Mutant {
        name: "sqlite-purge-includes-the-cutoff",
        rule: "purge deletes only entries resolved strictly before the cutoff",
        file: SQLITE_SQL,
        find: "format!(\"{} < {before}\", c::RESOLVED_AT),",
        replace: "format!(\"{} <= {before}\", c::RESOLVED_AT),",
    },
    Mutant {
        name: "sqlite-purge-trusts-resolved-at",
        rule: "purge deletes only Resolved and Dismissed entries: a Resolved entry replayed again is not purged while it replays",
        file: SQLITE_SQL,
        find: "        let mut conditions = vec![\n            format!(\"{} IN ({}, {})\", c::STATUS, Status::Resolved.as_i16(), Status::Dismissed.as_i16()),\n",
        replace: "        let mut conditions = vec![\n",
    },
    Mutant {
        name: "sqlite-resolved-before-filter-inclusive",
        rule: "the resolved_before filter selects entries resolved strictly before it",
        file: SQLITE_SQL,
        find: "conditions.push(format!(\"{} < {}\", c::RESOLVED_AT, statement.bind(before.as_micros())));",
        replace: "conditions.push(format!(\"{} <= {}\", c::RESOLVED_AT, statement.bind(before.as_micros())));",
    },
    Mutant {
        name: "sqlite-cursor-repeats-the-last-entry",
        rule: "a page starts strictly after the cursor",
        file: SQLITE_SQL,
        find: "SortOrder::OldestFirst => \">\",",
        replace: "SortOrder::OldestFirst => \">=\",",
    },
    Mutant {
        name: "sqlite-groups-limit-tie-break-descending",
        rule: "error groups with equal count and equal last seen are ordered by fingerprint, so a limit cuts the same groups",
        file: SQLITE_SQL,
        find: "ORDER BY n DESC, last_seen DESC, {fingerprint} ASC",
        replace: "ORDER BY n DESC, last_seen DESC, {fingerprint} DESC",
    },
    Mutant {
        name: "sqlite-groups-tie-break-descending",
        rule: "error groups with equal count and equal last seen are ordered by fingerprint, ascending",
        file: SQLITE_SQL,
        find: "ORDER BY groups.n DESC, groups.last_seen DESC, groups.{fingerprint} ASC",
        replace: "ORDER BY groups.n DESC, groups.last_seen DESC, groups.{fingerprint} DESC",
    },
    Mutant {
        name: "sqlite-group-sample-lowest-id",
        rule: "a group's sample message is the latest entry's, the highest id among those sharing a microsecond",
        file: SQLITE_SQL,
        find: "ORDER BY latest.{occurred_at} DESC, latest.{id} DESC LIMIT 1",
        replace: "ORDER BY latest.{occurred_at} DESC, latest.{id} ASC LIMIT 1",
    },
    Mutant {
        name: "sqlite-group-sample-from-another-tenant",
        rule: "a tenant's error groups take their sample message, command type and exception type from its own entries",
        file: SQLITE_SQL,
        find: "latest_conditions.extend(conditions.iter().map(|condition| format!(\"latest.{condition}\")));",
        replace: "latest_conditions.push(format!(\"latest.{}\", unresolved()));",
    },
    Mutant {
        name: "sqlite-group-sample-from-a-resolved-entry",
        rule: "a group's sample message comes from its unresolved entries",
        file: SQLITE_SQL,
        find: "latest_conditions.extend(conditions.iter().map(|condition| format!(\"latest.{condition}\")));",
        replace: "latest_conditions.extend(conditions.iter().skip(1).map(|condition| format!(\"latest.{condition}\")));",
    },
    Mutant {
        name: "sqlite-request-replay-keeps-the-revision",
        rule: "request_replay bumps the revision of every entry it marks",
        file: SQLITE_SQL,
        find: "{updated} = {at}, {revision} = {revision} + 1 \\",
        replace: "{updated} = {at}, {revision} = {revision} \\",
    },
    Mutant {
        name: "sqlite-request-replay-keeps-updated-at",
        rule: "request_replay sets updated_at of every entry it marks to the request's instant",
        file: SQLITE_SQL,
        find: "{updated} = {at}, {revision} = {revision} + 1 \\",
        replace: "{updated} = {updated}, {revision} = {revision} + 1 \\",
    },
    Mutant {
        name: "sqlite-request-replay-slot-in-milliseconds",
        rule: "replay_requested_at keeps microseconds",
        file: SQLITE_SQL,
        find: "{requested_at} = {at} + CASE",
        replace: "{requested_at} = {at} / 1000 * 1000 + CASE",
    },
    Mutant {
        name: "sqlite-request-replay-in-id-order",
        rule: "a paced request numbers its entries oldest failure first",
        file: SQLITE_SQL,
        find: "row_number() OVER (ORDER BY {occurred}, {c_id})",
        replace: "row_number() OVER (ORDER BY {c_id}, {occurred})",
    },
    Mutant {
        name: "sqlite-count-ignores-the-scope",
        rule: "counts of a tenant-scoped store (replay progress) count only its tenant's entries",
        file: SQLITE_SQL,
        find: "        scope_condition(&mut statement, &mut conditions, scope);\n        filter_conditions(&mut statement, &mut conditions, filter, Reading::Counting);\n        statement.sql = format!(\n            \"SELECT {status}, count(*)",
        replace: "        filter_conditions(&mut statement, &mut conditions, filter, Reading::Counting);\n        statement.sql = format!(\n            \"SELECT {status}, count(*)",
    },
    Mutant {
        name: "sqlite-swap-accepts-a-stale-revision",
        rule: "compare-and-swap writes only over the revision it read: of two writers from one revision, one loses",
        file: SQLITE_SQL,
        find: "\"UPDATE {table} SET {} WHERE {} = ?{} AND {} = ?{} AND {} = ?{}\"",
        replace: "\"UPDATE {table} SET {} WHERE {} = ?{} AND {} = ?{} AND {} >= ?{}\"",
    },
    Mutant {
        name: "sqlite-claim-lease-expiry-exclusive",
        rule: "a lease expiring at `now` has expired: its entry can be claimed at `now`",
        file: SQLITE_SQL,
        find: "format!(\"{} <= {now}\", c::LEASE_EXPIRES_AT),",
        replace: "format!(\"{} < {now}\", c::LEASE_EXPIRES_AT),",
    },
    // ---- the SQLite store: row encoding ----
    Mutant {
        name: "sqlite-resolved-at-in-milliseconds",
        rule: "resolved_at keeps microseconds",
        file: SQLITE_ROW,
        find: "optional(entry.resolved_at, timestamp),",
        replace: "optional(entry.resolved_at, |at| Value::Integer(at.as_micros() / 1000 * 1000)),",
    },
    Mutant {
        name: "sqlite-updated-at-in-milliseconds",
        rule: "updated_at keeps microseconds",
        file: SQLITE_ROW,
        find: "timestamp(entry.updated_at),",
        replace: "Value::Integer(entry.updated_at.as_micros() / 1000 * 1000),",
    },
    Mutant {
        name: "sqlite-lease-expiry-in-milliseconds",
        rule: "a lease's expiry keeps microseconds",
        file: SQLITE_ROW,
        find: "optional(entry.lease, |lease| timestamp(lease.expires_at)),",
        replace: "optional(entry.lease, |lease| Value::Integer(lease.expires_at.as_micros() / 1000 * 1000)),",
    },
    Mutant {
        name: "sqlite-payload-line-endings-normalised",
        rule: "a payload is stored byte for byte, CR LF included",
        file: SQLITE_ROW,
        find: "        text(entry.payload),\n",
        replace: "        text(entry.payload.replace(\"\\r\\n\", \"\\n\")),\n",
    },
    Mutant {
        name: "sqlite-metadata-values-trimmed",
        rule: "metadata values are stored byte for byte, surrounding whitespace included",
        file: SQLITE_ROW,
        find: "serde_json::to_string(&entry.metadata)",
        replace: "serde_json::to_string(&entry.metadata.iter().map(|(k, v)| (k, v.trim())).collect::<BTreeMap<_, _>>())",
    },
    Mutant {
        name: "sqlite-note-trimmed",
        rule: "an operator's note is stored byte for byte, surrounding whitespace included",
        file: SQLITE_ROW,
        find: "optional(entry.note, text),",
        replace: "optional(entry.note.as_deref().map(str::trim), text),",
    },
    Mutant {
        name: "sqlite-message-id-trimmed",
        rule: "a message id is stored byte for byte, surrounding whitespace included",
        file: SQLITE_ROW,
        find: "optional(entry.message_id, text),",
        replace: "optional(entry.message_id.as_deref().map(str::trim), text),",
    },
    Mutant {
        name: "sqlite-exception-message-read-trimmed",
        rule: "an exception message reads back byte for byte, trailing whitespace included",
        file: SQLITE_ROW,
        find: "exception_message: r.text(8)?,",
        replace: "exception_message: r.text(8)?.trim_end().to_owned(),",
    },
    // ---- the SQLite store: transactions ----
    Mutant {
        name: "sqlite-insert-commits-each-chunk",
        rule: "a batch is written all or nothing, however many statements it takes",
        file: SQLITE_STORE,
        find: "                    rest = after;\n",
        replace: "                    rest = after;\n                    transaction.execute_batch(\"COMMIT; BEGIN IMMEDIATE\").context(WHAT)?;\n",
    },
    // ---- the PostgreSQL store ----
    Mutant {
        name: "postgres-swap-accepts-a-stale-revision",
        rule: "a compare-and-swap writes only from the stored revision",
        file: POSTGRES_ENTRIES,
        find: "AND {tenant_col} = {tenant} AND {rev_col} = {expected}\",",
        replace: "AND {tenant_col} = {tenant} AND {rev_col} <= {expected}\",",
    },
    Mutant {
        name: "postgres-resolved-before-inclusive",
        rule: "the resolved_before filter selects entries resolved strictly before it",
        file: POSTGRES_ENTRIES,
        find: "b.push(&format!(\" AND {} < {p}\", col(columns::RESOLVED_AT)));",
        replace: "b.push(&format!(\" AND {} <= {p}\", col(columns::RESOLVED_AT)));",
    },
    Mutant {
        name: "postgres-groups-tie-break-descending",
        rule: "error groups of equal count and last seen are ordered by fingerprint ascending",
        file: POSTGRES_ENTRIES,
        find: "ORDER BY g.n DESC, g.last_seen DESC, g.fp COLLATE \\\"C\\\" ASC\"",
        replace: "ORDER BY g.n DESC, g.last_seen DESC, g.fp COLLATE \\\"C\\\" DESC\"",
    },
    Mutant {
        name: "postgres-group-sample-lowest-id",
        rule: "a group's sample is its latest failure's message, the highest id among failures in the same microsecond",
        file: POSTGRES_ENTRIES,
        find: "ORDER BY e.{occurred} DESC, e.{id} DESC LIMIT 1) AS s",
        replace: "ORDER BY e.{occurred} DESC, e.{id} ASC LIMIT 1) AS s",
    },
    Mutant {
        name: "postgres-claim-takes-live-leases",
        rule: "a claim skips entries whose replay lease is still live",
        file: POSTGRES_ENTRIES,
        find: "AND {status} = {replaying} AND {expires} <= {now}\",",
        replace: "AND {status} = {replaying}\",",
    },
    Mutant {
        name: "postgres-claim-takes-slots-not-due",
        rule: "a claim takes only entries whose slot has come",
        file: POSTGRES_ENTRIES,
        find: "\"WITH open AS MATERIALIZED (SELECT {id}, {requested} FROM {table} WHERE {requested} <= {now} \\",
        replace: "\"WITH open AS MATERIALIZED (SELECT {id}, {requested} FROM {table} WHERE {requested} IS NOT NULL \\",
    },
    Mutant {
        name: "postgres-claim-keeps-the-revision",
        rule: "a claim advances the revision of every entry it claims",
        file: POSTGRES_ENTRIES,
        find: "{updated} = {now}, {revision} = e.{revision} + 1 \\",
        replace: "{updated} = {now}, {revision} = e.{revision} \\",
    },
    Mutant {
        name: "postgres-request-keeps-the-revision",
        rule: "a bulk replay request advances the revision of every entry it marks",
        file: POSTGRES_REQUESTS,
        find: "{updated} = {at}::timestamptz, {revision} = e.{revision} + 1 \\",
        replace: "{updated} = {at}::timestamptz, {revision} = e.{revision} \\",
    },
    Mutant {
        name: "postgres-instants-in-milliseconds",
        rule: "every instant is stored to the microsecond",
        file: POSTGRES_SQL,
        find: "DateTime::from_timestamp_micros(instant.as_micros()).ok_or_else(",
        replace: "DateTime::from_timestamp_micros(instant.as_micros().div_euclid(1000) * 1000).ok_or_else(",
    },
    // ---- the shared layer, run against the memory store ----
    Mutant {
        name: "resolve-under-a-live-lease",
        rule: "dismiss and resolve conflict while a replay holds a live lease",
        file: MACHINE,
        find: "    if is_leased(entry, now) {\n        return Err(Error::conflict(entry.id, \"a replay holds a live lease\"));\n    }\n    Ok(())\n}\n\nfn close(",
        replace: "    Ok(())\n}\n\nfn close(",
    },
    Mutant {
        name: "lease-live-at-its-expiry",
        rule: "a lease expiring at `now` no longer holds its entry at `now`",
        file: MACHINE,
        find: "entry.lease.is_some_and(|lease| lease.is_live_at(now))",
        replace: "entry.lease.is_some_and(|lease| lease.expires_at >= now)",
    },
    Mutant {
        name: "edit-overwrites-the-original-payload",
        rule: "the first payload is kept for audit across every edit",
        file: MACHINE,
        find: "            if next.original_payload.is_none() {\n                next.original_payload = Some(entry.payload.clone());\n            }\n",
        replace: "            next.original_payload = Some(entry.payload.clone());\n",
    },
    Mutant {
        name: "replay-resolved-at-a-newer-revision",
        rule: "an explicit replay of a resolved entry starts only from the revision its caller saw",
        file: MACHINE,
        find: "if revision == entry.revision => Ok(()),",
        replace: "if revision <= entry.revision => Ok(()),",
    },
    Mutant {
        name: "exception-message-truncated-by-bytes",
        rule: "an exception message is truncated to 16,384 characters, not bytes",
        file: VALIDATE,
        find: "    let kept = truncate_chars(&text, max).len();\n",
        replace: "    let mut kept = text.len().min(max);\n    while !text.is_char_boundary(kept) {\n        kept -= 1;\n    }\n",
    },
    Mutant {
        name: "exception-message-limit-off-by-one",
        rule: "an exception message keeps exactly 16,384 characters",
        file: VALIDATE,
        find: "clean(failure.exception_message, MAX_EXCEPTION_MESSAGE_LEN),",
        replace: "clean(failure.exception_message, MAX_EXCEPTION_MESSAGE_LEN - 1),",
    },
    Mutant {
        name: "exception-details-cut-at-the-message-limit",
        rule: "exception details keep up to 65,536 characters",
        file: VALIDATE,
        find: "clean(details, MAX_EXCEPTION_DETAILS_LEN)",
        replace: "clean(details, MAX_EXCEPTION_MESSAGE_LEN)",
    },
    Mutant {
        name: "fingerprint-hex-ids-from-eight-digits",
        rule: "hexadecimal ids of six or more digits are masked in fingerprints",
        file: FINGERPRINT,
        find: "[0-9A-Fa-f]{6,}",
        replace: "[0-9A-Fa-f]{8,}",
    },
    Mutant {
        name: "fingerprint-uppercase-uuids-not-masked",
        rule: "UUIDs are masked in fingerprints, in either letter case",
        file: FINGERPRINT,
        find: "        _ => byte.is_ascii_hexdigit(),\n",
        replace: "        _ => matches!(byte, b'0'..=b'9' | b'a'..=b'f'),\n",
    },
    Mutant {
        name: "fingerprint-numbers-in-words-not-masked",
        rule: "numbers are masked in fingerprints, also when glued to a unit (`30s`)",
        file: FINGERPRINT,
        find: "let Some(digit) = rest.iter().position(u8::is_ascii_digit) else {",
        replace: "let Some(digit) = rest.iter().enumerate().position(|(i, byte)| byte.is_ascii_digit() && !rest[i..].iter().find(|b| !b.is_ascii_digit()).is_some_and(u8::is_ascii_alphabetic)) else {",
    },
    Mutant {
        name: "store-outside-the-tenant-scope",
        rule: "a tenant-scoped store never writes another tenant's entry",
        file: DEAD_LETTERS,
        find: "        if !self.scope.contains(&input.tenant) {\n            return Err(Error::invalid_input(\"tenant\", \"differs from the tenant this store is scoped to\"));\n        }\n",
        replace: "",
    },
    Mutant {
        name: "list-cursor-on-a-full-last-page",
        rule: "the last page has no next cursor, even when it is exactly full",
        file: DEAD_LETTERS,
        find: "let more = entries.len() > query.limit as usize;",
        replace: "let more = entries.len() >= query.limit as usize;",
    },
    Mutant {
        name: "operator-change-ignores-a-lost-swap",
        rule: "a dismiss racing a replay either wins the compare-and-swap or retries: it never reports a change it did not write",
        file: DEAD_LETTERS,
        find: "if self.backend.swap(&next).await? {",
        replace: "if self.backend.swap(&next).await? || transition.is_operator_action() {",
    },
];
