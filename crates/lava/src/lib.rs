//! LAVA, the engine under kernel test labs: the tool's boots written as LAVA v2 jobs for device
//! type `qemu` ([`job`]), the device dictionary LAVA's dispatcher needs to run one here
//! ([`device`]), and `lava-run`'s log read back as test results ([`log`]), so the same job runs
//! on this machine and in a lab; [`trust`] what a job may ask of this machine (lava-run runs
//! as root) unless the user trusts it. [`dispatcher`] and [`output`] (the run's folder, the
//! tool's own) are the IO; [`boots`] writes the tool's boots as jobs and [`here`] runs a job on
//! this machine (the engine, over `boot` and `stages`); the rest is pure.

pub mod boots;
pub mod device;
pub mod dispatcher;
pub mod here;
pub mod job;
pub mod log;
pub mod output;
pub mod trust;

pub use device::Device;
pub use job::{case_name, Artifacts, Boot, Case, Head, Job, RootfsFormat, Step, Timeout};
pub use log::{Event, Outcome};
