//! End-to-end scenarios live in `e2e/`; this library holds only what the scenarios share with
//! the processes they start (`soak/worker.rs`).

pub mod soak {
    //! The settings of the replay soak, shared by the test and its worker processes.

    use std::time::Duration;

    /// The replay lease of the soak's workers: short, so that some handlers outlive it.
    pub const LEASE: Duration = Duration::from_secs(1);

    /// How long before the lease runs out a handler is stopped.
    pub const LEASE_MARGIN: Duration = Duration::from_millis(250);

    /// Every this many commands, the first replay outlives the lease.
    pub const SLOW_EVERY: u64 = 50;

    /// The soak's command.
    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
    pub struct SoakCommand {
        /// Which command of the soak.
        pub n: u64,
    }

    impl pulse::Command for SoakCommand {
        const NAME: &'static str = "soak.run";
    }
}
