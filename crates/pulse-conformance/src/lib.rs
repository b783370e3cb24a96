//! The Pulse contract as executable cases. Every backend runs all of them.
//!
//! A backend author implements [`BackendFactory`] and calls [`conformance_tests!`] once in an
//! integration test; `cargo test` then names every case:
//!
//! ```
//! use std::sync::Arc;
//!
//! use pulse_conformance::{BackendFactory, conformance_tests};
//! use pulse_extensibility::DeadLetterBackend;
//! # use pulse_store_memory::MemoryStore as MyStore;
//!
//! struct MyFactory;
//!
//! #[async_trait::async_trait]
//! impl BackendFactory for MyFactory {
//!     async fn open(&self, name: &str) -> Arc<dyn DeadLetterBackend> {
//!         // Open (or create) the store called `name`: a file, a schema, a table.
//!         # let _ = name;
//!         Arc::new(MyStore::new())
//!     }
//! }
//!
//! conformance_tests!(MyFactory);
//! # fn main() {}
//! ```
//!
//! Each case is a public async function in [`cases`] taking a [`Harness`]: a fresh, empty store
//! on a manual clock. A case the backend's [`Capabilities`](pulse_extensibility::Capabilities)
//! rule out prints `SKIPPED` with the reason.

pub mod cases;
mod harness;

pub use harness::{BackendFactory, Harness, LEASE, run_case};

#[doc(hidden)]
#[macro_export]
macro_rules! __case_names {
    ($ignored:expr; $($module:ident: [$($case:ident),* $(,)?]),* $(,)?) => {
        /// Every case of the suite, as `module::case`, in suite order.
        pub const CASES: &[&str] = &[$($(concat!(stringify!($module), "::", stringify!($case))),*),*];
    };
}

for_each_case!(__case_names, ());

/// Expands to one `#[test]` per conformance case, each on a fresh store from `$factory`.
///
/// `$factory` is an expression of a type implementing [`BackendFactory`]; it is evaluated once
/// per case, inside a module nested in the caller's, so names it uses must be in scope there
/// (`use super::*` brings the caller's items).
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::for_each_case!($crate::__conformance_tests, $factory);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($factory:expr; $($module:ident: [$($case:ident),* $(,)?]),* $(,)?) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                mod $module {
                    #[allow(unused_imports)]
                    use super::*;
                    $(
                        #[test]
                        fn $case() {
                            $crate::run_case(::std::sync::Arc::new($factory), $crate::cases::$module::$case);
                        }
                    )*
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::CASES;

    /// `docs/conformance.md` lists exactly the cases of the suite, in suite order.
    #[test]
    fn the_documented_case_list_matches_the_suite() {
        let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/conformance.md"));
        let documented: Vec<&str> = doc
            .lines()
            .filter_map(|line| line.strip_prefix("- `"))
            .filter_map(|rest| rest.split('`').next())
            .filter(|name| name.contains("::"))
            .collect();
        assert_eq!(documented, CASES);
        assert!(CASES.len() >= 60, "the suite has {} cases", CASES.len());
    }
}
