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
//! rule out is reported as ignored, with the reason (see [`conformance_tests!`]).

pub mod cases;
mod harness;
mod interleave;

pub use harness::{BackendFactory, Harness, LEASE, check_declared_durability, run_case};

/// docs/backends.md's examples, compiled as doctests so that the guide for backend authors
/// never drifts from the trait.
#[doc = include_str!("../../../docs/backends.md")]
#[cfg(doctest)]
pub struct BackendsDoctests;

#[doc(hidden)]
#[macro_export]
macro_rules! __case_names {
    (
        ;
        $($module:ident: [$($case:ident),* $(,)?]),* ;
        durable_only: $durable_module:ident: [$($durable_case:ident),* $(,)?] $(,)?
    ) => {
        /// Every case of the suite, as `module::case`, in suite order.
        pub const CASES: &[&str] = &[
            $($(concat!(stringify!($module), "::", stringify!($case)),)*)*
            $(concat!(stringify!($durable_module), "::", stringify!($durable_case)),)*
        ];
    };
}

for_each_case!(__case_names,);

/// Expands to one `#[test]` per conformance case, each on a fresh store from `$factory`.
///
/// `$factory` is an expression of a type implementing [`BackendFactory`]; it is evaluated once
/// per case, inside a module nested in the caller's, so names it uses must be in scope there
/// (`use super::*` brings the caller's items).
///
/// A backend that does not survive a restart says so with `durable = false`: the cases that need
/// durability are then reported as ignored, with the reason, never as passed, and a generated
/// test checks that the backend's [`Capabilities`](pulse_extensibility::Capabilities) agree.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_tests!($factory, durable = true);
    };
    ($factory:expr, durable = $durable:tt) => {
        $crate::for_each_case!($crate::__conformance_tests, $factory, durable = $durable);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    (
        $factory:expr, durable = $durable:tt;
        $($module:ident: [$($case:ident),* $(,)?]),* ;
        durable_only: $durable_module:ident: [$($durable_case:ident),* $(,)?] $(,)?
    ) => {
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
            mod $durable_module {
                #[allow(unused_imports)]
                use super::*;
                $(
                    $crate::__durable_case!($durable, $factory, $durable_module, $durable_case);
                )*
            }

            /// The backend's declared capabilities are the ones `conformance_tests!` was told.
            #[test]
            fn declared_capabilities_match_the_backend() {
                $crate::check_declared_durability(::std::sync::Arc::new($factory), $durable);
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __durable_case {
    (true, $factory:expr, $module:ident, $case:ident) => {
        #[test]
        fn $case() {
            $crate::run_case(::std::sync::Arc::new($factory), $crate::cases::$module::$case);
        }
    };
    (false, $factory:expr, $module:ident, $case:ident) => {
        #[test]
        #[ignore = "skipped by capability: the backend is not durable"]
        fn $case() {
            $crate::run_case(::std::sync::Arc::new($factory), $crate::cases::$module::$case);
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
