//! The Pulse contract as executable cases. Every backend runs all of them.
//!
//! A backend author implements [`BackendFactory`] and calls [`conformance_tests!`] once in an
//! integration test; `cargo test` then names every case:
//!
//! ```ignore
//! use pulse_conformance::{BackendFactory, conformance_tests};
//!
//! struct MyFactory;
//!
//! #[async_trait::async_trait]
//! impl BackendFactory for MyFactory {
//!     async fn open(&self, name: &str) -> Arc<dyn DeadLetterBackend> { /* ... */ }
//! }
//!
//! conformance_tests!(MyFactory);
//! ```
//!
//! Each case is a public async function in [`cases`] taking a [`Harness`]: a fresh, empty store
//! on a manual clock. A case the backend's [`Capabilities`](pulse_extensibility::Capabilities)
//! rule out prints `SKIPPED` with the reason.

pub mod cases;
mod harness;

pub use harness::{BackendFactory, Harness, LEASE, run_case};

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
