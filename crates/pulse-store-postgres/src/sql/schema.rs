//! The schema: the statements that create it and the migrations table, read and record the
//! migration history under an advisory lock, and the DDL of every migration.

use std::fmt::Write as _;
use std::sync::Arc;

use pulse_extensibility::migration;
use pulse_extensibility::{
    CommandDeadLetterStatus as Status, Resolution, Result, columns, request_columns as rc,
};
use sqlx::AssertSqlSafe;

use super::{Builder, Names, Statement, col, derived, fixed, status_list};

/// How many counter rows each `(tenant, status)` pair spreads over, so concurrent writers in one
/// tenant rarely wait for each other's counter row.
pub(crate) const COUNTER_SLOTS: i16 = 16;

/// The `CHECK` list of stored resolutions: the code's own constants.
fn resolution_list() -> String {
    Resolution::ALL.iter().map(|r| format!("'{}'", r.as_str())).collect::<Vec<_>>().join(", ")
}

impl Names {
    /// Serialises migrations of this schema and table until the transaction ends.
    pub(crate) fn migration_lock(&self) -> Result<Statement> {
        let mut b = Builder::new();
        let key = b.param(self.migration_lock_key())?;
        b.push(&format!("SELECT pg_advisory_xact_lock({key})"));
        Ok(b.finish())
    }

    /// Whether the schema exists (checked first, so a role without `CREATE` on the database can
    /// open a store whose schema an operator made).
    pub(crate) fn schema_exists(&self) -> Result<Statement> {
        let mut b = Builder::new();
        let name = b.param(self.schema.as_str())?;
        b.push(&format!("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = {name})"));
        Ok(b.finish())
    }

    pub(crate) fn create_schema(&self) -> Statement {
        fixed(format!("CREATE SCHEMA {}", self.schema.quoted()))
    }

    pub(crate) fn create_migrations_table(&self) -> Statement {
        fixed(format!(
            "CREATE TABLE IF NOT EXISTS {} (\
             \"Table\" TEXT NOT NULL, \
             \"Version\" INTEGER NOT NULL, \
             \"Description\" TEXT NOT NULL, \
             \"Checksum\" TEXT NOT NULL, \
             \"AppliedAt\" TIMESTAMPTZ NOT NULL DEFAULT now(), \
             PRIMARY KEY (\"Table\", \"Version\"))",
            self.migrations
        ))
    }

    /// Whether the migrations table exists: one boolean column.
    pub(crate) fn migrations_table_exists(&self) -> Result<Statement> {
        let mut b = Builder::new();
        let name = b.param(self.migrations_table_name())?;
        b.push(&format!("SELECT to_regclass({name}) IS NOT NULL"));
        Ok(b.finish())
    }

    /// The migrations applied to this table, oldest first: columns `Version`, `Description`,
    /// `Checksum`.
    pub(crate) fn applied_migrations(&self) -> Result<Statement> {
        let mut b = Builder::new();
        let table = b.param(self.table.as_str())?;
        b.push(&format!(
            "SELECT \"Version\", \"Description\", \"Checksum\" FROM {} WHERE \"Table\" = {table} \
             ORDER BY \"Version\"",
            self.migrations
        ));
        Ok(b.finish())
    }

    pub(crate) fn record_migration(&self, migration: &Migration) -> Result<Statement> {
        let mut b = Builder::new();
        let table = b.param(self.table.as_str())?;
        // Every known migration's version comes from `MIGRATIONS`, an `i32`.
        let version = b.param(i32::try_from(migration.version).expect("migration versions are i32"))?;
        let description = b.param(migration.name)?;
        let checksum = b.param(migration.checksum.to_string())?;
        b.push(&format!(
            "INSERT INTO {} (\"Table\", \"Version\", \"Description\", \"Checksum\") \
             VALUES ({table}, {version}, {description}, {checksum})",
            self.migrations
        ));
        Ok(b.finish())
    }

    /// Every migration of this store, rendered for its names, in order. Each checksum is that of
    /// the script rendered for the default schema and table, so it does not depend on the
    /// configured names.
    pub(crate) fn migrations(&self) -> Vec<Migration> {
        let canonical = Self::canonical();
        MIGRATIONS
            .iter()
            .map(|(version, description, render)| {
                Migration::new(i64::from(*version), description, &render(&canonical), render(self).into())
            })
            .collect()
    }

    /// Migration 1: the dead-letter table and its indexes.
    fn create_entries(&self) -> String {
        let c = |name: &str| col(name);
        let t = &self.entries;
        let mut sql = format!(
            "CREATE TABLE {t} (\n\
             {id} UUID NOT NULL,\n\
             {tenant} TEXT NOT NULL,\n\
             {message_id} TEXT NULL,\n\
             {command_type} TEXT NOT NULL,\n\
             {command_version} BIGINT NOT NULL CHECK ({command_version} BETWEEN 1 AND 4294967295),\n\
             {payload} TEXT NOT NULL,\n\
             {original_payload} TEXT NULL,\n\
             {exception_type} TEXT NOT NULL,\n\
             {exception_message} TEXT NOT NULL,\n\
             {exception_details} TEXT NULL,\n\
             {fingerprint} TEXT NOT NULL,\n\
             {source} TEXT NULL,\n\
             {metadata} JSONB NOT NULL DEFAULT '{{}}' CHECK (jsonb_typeof({metadata}) = 'object'),\n\
             {attempt_count} BIGINT NOT NULL CHECK ({attempt_count} BETWEEN 1 AND 4294967295),\n\
             {first_failed_at} TIMESTAMPTZ NOT NULL,\n\
             {occurred_at} TIMESTAMPTZ NOT NULL,\n\
             {status} SMALLINT NOT NULL CHECK ({status} BETWEEN 0 AND 3),\n\
             {resolution} TEXT NULL CHECK ({resolution} IN ({resolutions})),\n\
             {note} TEXT NULL,\n\
             {resolved_at} TIMESTAMPTZ NULL,\n\
             {lease_token} UUID NULL,\n\
             {lease_expires_at} TIMESTAMPTZ NULL,\n\
             {replay_requested_at} TIMESTAMPTZ NULL,\n\
             {created_at} TIMESTAMPTZ NOT NULL,\n\
             {updated_at} TIMESTAMPTZ NOT NULL,\n\
             {revision} BIGINT NOT NULL CHECK ({revision} >= 0),\n\
             CONSTRAINT {pkey} PRIMARY KEY ({id}),\n\
             CONSTRAINT \"LeaseComplete\" CHECK (({lease_token} IS NULL) = ({lease_expires_at} IS NULL))\n\
             );\n",
            id = c(columns::ID),
            tenant = c(columns::TENANT),
            message_id = c(columns::MESSAGE_ID),
            command_type = c(columns::COMMAND_TYPE),
            command_version = c(columns::COMMAND_VERSION),
            payload = c(columns::PAYLOAD),
            original_payload = c(columns::ORIGINAL_PAYLOAD),
            exception_type = c(columns::EXCEPTION_TYPE),
            exception_message = c(columns::EXCEPTION_MESSAGE),
            exception_details = c(columns::EXCEPTION_DETAILS),
            fingerprint = c(columns::FINGERPRINT),
            source = c(columns::SOURCE),
            metadata = c(columns::METADATA),
            attempt_count = c(columns::ATTEMPT_COUNT),
            first_failed_at = c(columns::FIRST_FAILED_AT),
            occurred_at = c(columns::OCCURRED_AT),
            status = c(columns::STATUS),
            resolution = c(columns::RESOLUTION),
            resolutions = resolution_list(),
            note = c(columns::NOTE),
            resolved_at = c(columns::RESOLVED_AT),
            lease_token = c(columns::LEASE_TOKEN),
            lease_expires_at = c(columns::LEASE_EXPIRES_AT),
            replay_requested_at = c(columns::REPLAY_REQUESTED_AT),
            created_at = c(columns::CREATED_AT),
            updated_at = c(columns::UPDATED_AT),
            revision = c(columns::REVISION),
            pkey = self.index("_pkey"),
        );
        let indexes = [
            (
                "",
                "_Pending",
                format!("{}, {}, {}", c(columns::STATUS), c(columns::OCCURRED_AT), c(columns::ID)),
                Some(status_list([Status::New])),
            ),
            ("", "_OccurredAt", format!("{}, {}", c(columns::OCCURRED_AT), c(columns::ID)), None),
            (
                "UNIQUE ",
                "_MessageId",
                format!("{}, {}", c(columns::TENANT), c(columns::MESSAGE_ID)),
                Some(format!("{} IS NOT NULL", c(columns::MESSAGE_ID))),
            ),
            (
                "",
                "_ErrorGroups",
                format!("{}, {}, {}", c(columns::FINGERPRINT), c(columns::OCCURRED_AT), c(columns::ID)),
                Some(status_list([Status::New, Status::Replaying])),
            ),
            ("", "_Purge", c(columns::RESOLVED_AT), Some(status_list([Status::Resolved, Status::Dismissed]))),
            (
                "",
                "_ReplayRequests",
                format!("{}, {}", c(columns::REPLAY_REQUESTED_AT), c(columns::ID)),
                Some(format!("{} IS NOT NULL", c(columns::REPLAY_REQUESTED_AT))),
            ),
        ];
        for (unique, suffix, keys, predicate) in indexes {
            let _ = write!(sql, "CREATE {unique}INDEX {} ON {t} ({keys})", self.index(suffix));
            if let Some(predicate) = predicate {
                let _ = write!(sql, " WHERE {predicate}");
            }
            sql.push_str(";\n");
        }
        sql
    }

    /// Migration 3: claims read two partial indexes that hold only what a claim can take, in
    /// place of one index over every requested entry (which made each claim walk past the
    /// entries other replayers hold).
    fn index_claimable_requests(&self) -> String {
        let c = col;
        format!(
            "CREATE INDEX {claimable} ON {t} ({requested}, {id}) WHERE {requested} IS NOT NULL AND {open};\n\
             CREATE INDEX {expiring} ON {t} ({expires}) WHERE {requested} IS NOT NULL AND {status} = {replaying};\n\
             DROP INDEX {schema}.{old};\n",
            t = self.entries,
            claimable = self.index("_Claimable"),
            expiring = self.index("_ClaimExpired"),
            old = self.index("_ReplayRequests"),
            schema = self.schema.quoted(),
            requested = c(columns::REPLAY_REQUESTED_AT),
            id = c(columns::ID),
            expires = c(columns::LEASE_EXPIRES_AT),
            status = c(columns::STATUS),
            open = status_list([Status::New, Status::Resolved]),
            replaying = Status::Replaying.as_i16(),
        )
    }

    /// Migration 4: New entries by failure time, across tenants and per tenant, in place of an
    /// index led by the status. Its keys are the order `get_pending` reads in, so the planner
    /// takes it over walking every entry by time and skipping the settled ones.
    fn index_pending_by_time(&self) -> String {
        let c = col;
        format!(
            "CREATE INDEX {pending} ON {t} ({occurred}, {id}) WHERE {new};\n\
             CREATE INDEX {tenant_pending} ON {t} ({tenant}, {occurred}, {id}) WHERE {new};\n\
             DROP INDEX {schema}.{old};\n",
            t = self.entries,
            pending = self.index("_PendingByTime"),
            tenant_pending = self.index("_TenantPending"),
            old = self.index("_Pending"),
            schema = self.schema.quoted(),
            occurred = c(columns::OCCURRED_AT),
            id = c(columns::ID),
            tenant = c(columns::TENANT),
            new = status_list([Status::New]),
        )
    }

    /// Migration 5: each entry records its latest replay request and who made the latest
    /// operator change; requests live in a table of their own; counts for a command type, an
    /// error group or a request read an index; and the index of unresolved entries by error
    /// group carries the first failure too, so error groups are counted from the index alone.
    fn record_replay_requests(&self) -> String {
        let c = col;
        format!(
            "ALTER TABLE {t} ADD COLUMN {request} UUID NULL, ADD COLUMN {changed} TEXT NULL;\n\
             CREATE INDEX {by_request} ON {t} ({request}, {status}) WHERE {request} IS NOT NULL;\n\
             CREATE INDEX {by_command} ON {t} ({command}, {status});\n\
             CREATE INDEX {by_group} ON {t} ({fingerprint}, {status});\n\
             CREATE TABLE {requests} (\n\
             {r_id} UUID NOT NULL,\n\
             {r_tenant} TEXT NULL,\n\
             {r_selection} TEXT NOT NULL,\n\
             {r_by} TEXT NULL,\n\
             {r_at} TIMESTAMPTZ NOT NULL,\n\
             {r_note} TEXT NULL,\n\
             {r_pace} BIGINT NULL CHECK ({r_pace} > 0),\n\
             {r_requested} BIGINT NOT NULL,\n\
             {r_cancelled_at} TIMESTAMPTZ NULL,\n\
             {r_cancelled_by} TEXT NULL,\n\
             {r_cancelled} BIGINT NOT NULL,\n\
             CONSTRAINT {r_pkey} PRIMARY KEY ({r_id})\n\
             );\n\
             CREATE INDEX {r_tenant_index} ON {requests} ({r_tenant}, {r_id});\n\
             CREATE INDEX {groups} ON {t} ({fingerprint}, {occurred}, {id}) INCLUDE ({first_failed}) WHERE {unresolved};\n\
             DROP INDEX {schema}.{old_groups};\n",
            t = self.entries,
            requests = self.requests,
            request = c(columns::REPLAY_REQUEST_ID),
            changed = c(columns::CHANGED_BY),
            status = c(columns::STATUS),
            command = c(columns::COMMAND_TYPE),
            fingerprint = c(columns::FINGERPRINT),
            by_request = self.index("_ByRequest"),
            by_command = self.index("_ByCommandType"),
            by_group = self.index("_ByFingerprint"),
            r_id = c(rc::ID),
            r_tenant = c(rc::TENANT),
            r_selection = c(rc::SELECTION),
            r_by = c(rc::REQUESTED_BY),
            r_at = c(rc::REQUESTED_AT),
            r_note = c(rc::NOTE),
            r_pace = c(rc::PER_SECOND),
            r_requested = c(rc::REQUESTED),
            r_cancelled_at = c(rc::CANCELLED_AT),
            r_cancelled_by = c(rc::CANCELLED_BY),
            r_cancelled = c(rc::CANCELLED),
            r_pkey = derived(&self.table, "_ReplayRequests_pkey").quoted(),
            r_tenant_index = self.index("_ReplayRequests_Tenant"),
            groups = self.index("_Groups"),
            old_groups = self.index("_ErrorGroups"),
            schema = self.schema.quoted(),
            occurred = c(columns::OCCURRED_AT),
            id = c(columns::ID),
            first_failed = c(columns::FIRST_FAILED_AT),
            unresolved = status_list([Status::New, Status::Replaying]),
        )
    }

    /// Migration 2: per-tenant, per-status counters kept by statement-level triggers, so
    /// statistics read a few rows instead of counting the table.
    fn create_counters(&self) -> String {
        let t = &self.entries;
        let counts = &self.counts;
        let function = &self.count_function;
        let (tenant, status) = (col(columns::TENANT), col(columns::STATUS));
        // Each statement adds its net change per (tenant, status) to one slot, chosen per
        // connection so one transaction always uses the same slot. Rows are upserted in
        // (tenant, status) order, so two transactions never lock counter rows in opposite orders.
        let upsert = |source: &str| {
            format!(
                "INSERT INTO {counts} AS c ({tenant}, {status}, \"Slot\", \"Count\") \
                 SELECT d.{tenant}, d.{status}, v_slot, sum(d.delta) FROM ({source}) AS d \
                 GROUP BY d.{tenant}, d.{status} HAVING sum(d.delta) <> 0 \
                 ORDER BY d.{tenant}, d.{status} \
                 ON CONFLICT ({tenant}, {status}, \"Slot\") DO UPDATE SET \"Count\" = c.\"Count\" + EXCLUDED.\"Count\";"
            )
        };
        let inserted = upsert(&format!("SELECT {tenant}, {status}, 1 AS delta FROM pulse_new_rows"));
        let deleted = upsert(&format!("SELECT {tenant}, {status}, -1 AS delta FROM pulse_old_rows"));
        let updated = upsert(&format!(
            "SELECT {tenant}, {status}, -1 AS delta FROM pulse_old_rows \
             UNION ALL SELECT {tenant}, {status}, 1 AS delta FROM pulse_new_rows"
        ));
        format!(
            "LOCK TABLE {t} IN SHARE ROW EXCLUSIVE MODE;\n\
             CREATE TABLE {counts} (\n\
             {tenant} TEXT NOT NULL,\n\
             {status} SMALLINT NOT NULL,\n\
             \"Slot\" SMALLINT NOT NULL,\n\
             \"Count\" BIGINT NOT NULL,\n\
             CONSTRAINT {pkey} PRIMARY KEY ({tenant}, {status}, \"Slot\")\n\
             );\n\
             INSERT INTO {counts} ({tenant}, {status}, \"Slot\", \"Count\") \
             SELECT {tenant}, {status}, 0, count(*) FROM {t} GROUP BY {tenant}, {status};\n\
             CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $pulse$\n\
             DECLARE\n\
               v_slot smallint := (pg_backend_pid() % {slots})::smallint;\n\
             BEGIN\n\
               IF TG_OP = 'INSERT' THEN\n\
                 {inserted}\n\
               ELSIF TG_OP = 'UPDATE' THEN\n\
                 {updated}\n\
               ELSIF TG_OP = 'DELETE' THEN\n\
                 {deleted}\n\
               ELSE\n\
                 DELETE FROM {counts};\n\
               END IF;\n\
               RETURN NULL;\n\
             END;\n\
             $pulse$;\n\
             CREATE TRIGGER \"PulseCountInsert\" AFTER INSERT ON {t} \
             REFERENCING NEW TABLE AS pulse_new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n\
             CREATE TRIGGER \"PulseCountUpdate\" AFTER UPDATE ON {t} \
             REFERENCING OLD TABLE AS pulse_old_rows NEW TABLE AS pulse_new_rows \
             FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n\
             CREATE TRIGGER \"PulseCountDelete\" AFTER DELETE ON {t} \
             REFERENCING OLD TABLE AS pulse_old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n\
             CREATE TRIGGER \"PulseCountTruncate\" AFTER TRUNCATE ON {t} \
             FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n",
            pkey = derived(&self.table, "_Counts_pkey").quoted(),
            slots = COUNTER_SLOTS,
        )
    }
}

/// One schema migration, its statements rendered for a store; its name is recorded as
/// `Description`.
pub(crate) type Migration = migration::Migration<Arc<str>>;

/// The script of `migration` as a multi-statement sqlx query (simple protocol, no parameters).
/// Rendered under the audit rules of the `sql` module.
pub(crate) fn script(migration: &Migration) -> sqlx::RawSql {
    sqlx::raw_sql(AssertSqlSafe(migration.script.clone()))
}

type Render = fn(&Names) -> String;

/// Every migration Pulse knows. Never edit a released one: add the next.
const MIGRATIONS: [(i32, &str, Render); 5] = [
    (1, "dead-letter table and indexes", Names::create_entries),
    (2, "per-tenant status counters maintained by triggers", Names::create_counters),
    (3, "partial indexes of claimable replay requests", Names::index_claimable_requests),
    (4, "partial indexes of pending entries by failure time", Names::index_pending_by_time),
    (5, "replay requests, actors, and indexes for counts", Names::record_replay_requests),
];

#[cfg(test)]
mod tests {
    use pulse_extensibility::SqlIdentifier;

    use super::*;

    fn names() -> Names {
        Names::canonical()
    }

    #[test]
    fn checksums_do_not_depend_on_the_configured_names() {
        let custom =
            Names::new(&SqlIdentifier::new("other").unwrap(), &SqlIdentifier::new("Letters").unwrap());
        let sums = |n: &Names| n.migrations().into_iter().map(|m| m.checksum).collect::<Vec<_>>();
        assert_eq!(sums(&custom), sums(&names()));
        assert_eq!(custom.migrations().len(), MIGRATIONS.len());
    }

    #[test]
    fn checksums_are_pinned() {
        // A released migration never changes (these are the checksums release 0.1.0 recorded).
        // If this fails, add a new migration instead.
        let checksums: Vec<(i64, String)> =
            names().migrations().iter().map(|m| (m.version, m.checksum.to_string())).collect();
        let expected = [
            (1, "64b509f100fc228f"),
            (2, "decc323d0f407d2e"),
            (3, "bd1045f5da5753e2"),
            (4, "682b67419f4b32c1"),
            (5, "97694c96f0f7e9cd"),
        ]
        .map(|(version, checksum)| (version, checksum.to_owned()));
        assert_eq!(checksums, expected);
    }
}
