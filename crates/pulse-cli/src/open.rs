//! Opening the store the command line names, as the operator who runs it.

use std::sync::Arc;

use pulse::{
    Actor, DeadLetterBackend, DeadLetters, PostgresConfig, PostgresStore, SqlIdentifier, SqliteConfig,
    SqliteStore, TenantId,
};

use crate::args::StoreArgs;
use crate::failure::Failure;

/// An open store, seen in the command line's tenant, acting as its actor.
pub(crate) struct Opened {
    pub(crate) dead_letters: DeadLetters,
    store: Store,
}

enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Opened {
    /// Opens the store without migrating it: an operator's tool never changes a service's
    /// schema behind its back (`pulse migrate apply` does, on purpose).
    pub(crate) async fn open(args: &StoreArgs) -> Result<Self, Failure> {
        Self::open_with(args, false).await
    }

    /// Opens the store, applying missing migrations when `migrate`; a missing SQLite file is
    /// created only then.
    pub(crate) async fn open_with(args: &StoreArgs, migrate: bool) -> Result<Self, Failure> {
        let table = args.table.clone().map(SqlIdentifier::new).transpose()?;
        let store = match &args.database_url {
            Some(url) => {
                let mut config = PostgresConfig::from_url(url.clone()).run_migrations(migrate);
                if let Some(schema) = args.schema.clone() {
                    config = config.schema(SqlIdentifier::new(schema)?);
                }
                if let Some(table) = table {
                    config = config.table(table);
                }
                Store::Postgres(PostgresStore::open(config).await?)
            }
            None => {
                if args.schema.is_some() {
                    return Err(Failure::Usage(
                        "--schema is for PostgreSQL; a SQLite file has no schemas".into(),
                    ));
                }
                if !migrate && !args.db.exists() {
                    return Err(Failure::Missing(format!(
                        "no Pulse database at {}: pass --db PATH, or --database-url for PostgreSQL; \
                         `pulse migrate apply` creates a new one",
                        args.db.display()
                    )));
                }
                let mut config = SqliteConfig::new(&args.db).run_migrations(migrate);
                if let Some(table) = table {
                    config = config.table(table);
                }
                Store::Sqlite(SqliteStore::open(config).await?)
            }
        };
        let backend: Arc<dyn DeadLetterBackend> = match &store {
            Store::Sqlite(store) => Arc::new(store.clone()),
            Store::Postgres(store) => Arc::new(store.clone()),
        };
        let mut dead_letters = DeadLetters::new(backend);
        if let Some(actor) = actor(args)? {
            dead_letters = dead_letters.acting_as(actor);
        }
        if let Some(tenant) = &args.tenant {
            dead_letters = dead_letters.for_tenant(TenantId::new(tenant.clone())?);
        }
        Ok(Self { dead_letters, store })
    }

    /// Closes the connections.
    pub(crate) async fn close(self) {
        drop(self.dead_letters);
        match self.store {
            Store::Sqlite(store) => store.close().await,
            Store::Postgres(store) => store.close().await,
        }
    }
}

/// `--actor`, `PULSE_ACTOR`, or the OS user (`USER`, `LOGNAME` or `USERNAME`); `None` when
/// none is known, and changes then record no actor.
fn actor(args: &StoreArgs) -> Result<Option<Actor>, Failure> {
    let name = args.actor.clone().or_else(|| {
        ["USER", "LOGNAME", "USERNAME"]
            .into_iter()
            .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
    });
    Ok(name.map(Actor::new).transpose()?)
}
