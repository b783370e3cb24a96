//! Web pages in a real browser: headless Chromium driven over WebDriver (`driver`), pages checked
//! with axe-core, screenshots taken for the docs.
//!
//! `cargo xtask test` prepares what these tests need besides Rust: it checks that Chromium and
//! chromedriver are installed and installs axe-core. Without a browser the tests fail, saying how
//! to install one; they never skip.

mod dashboard;
mod driver;
mod harness;
mod incident;
#[path = "../support/store.rs"]
mod store;

/// Expands to one test per scenario and store: `sqlite::<scenario>`, `postgres::<scenario>`.
macro_rules! on_durable_stores {
    ($($scenario:ident),* $(,)?) => {
        on_durable_stores!(@store sqlite, Sqlite; $($scenario),*);
        on_durable_stores!(@store postgres, Postgres; $($scenario),*);
    };
    (@store $module:ident, $kind:ident; $($scenario:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let incident = crate::incident::Incident::open(crate::store::StoreKind::$kind).await;
                    crate::dashboard::$scenario(&incident).await;
                    incident.close().await;
                }
            )*
        }
    };
}

on_durable_stores!(
    an_operator_works_through_the_incident,
    a_viewer_sees_no_actions,
    a_tenant_sees_only_its_own_entries,
    pages_work_without_javascript,
);

/// The screenshots in `docs/images`, taken once, on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_of_each_page() {
    let incident = incident::Incident::open(store::StoreKind::Sqlite).await;
    dashboard::screenshots_of_each_page(&incident).await;
    incident.close().await;
}
