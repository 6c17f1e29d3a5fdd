//! The one stage mechanism: a fingerprint of every input, a stamp recording the fingerprint the
//! outputs were made from, and a lock so that two runs take turns.
//!
//! A stage first takes its lock. With a fresh stamp it is done. Otherwise it *prepares* (for a
//! kconfig build: configure and check, touching only its build folder, which a rejected config
//! leaves as it was), then removes the stamp, *produces* its outputs, and records the stamp last:
//! an interrupted stage is never taken for a finished one. The fingerprint it returns is an input
//! of the stages after it.

use std::path::PathBuf;

use anyhow::Result;
use artifact::{Fingerprint, Lock, Stamp};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Built,
    Reused,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Built => "built",
            Outcome::Reused => "up to date",
        }
    }
}

pub struct Stage {
    /// what the lock's waiting message calls it, e.g. "kernel (tiny)"
    pub label: String,
    pub fingerprint: Fingerprint,
    pub stamp: PathBuf,
    /// every output: a missing one makes the stage run
    pub outputs: Vec<PathBuf>,
    pub lock: PathBuf,
}

/// What a stage left: whether it ran, and the fingerprint later stages depend on.
pub struct Done {
    pub outcome: Outcome,
    pub fingerprint: String,
}

impl Stage {
    /// `prepare`'s result (a configured build folder) is handed to `produce`.
    pub fn run<T>(
        self,
        prepare: impl FnOnce() -> Result<T>,
        produce: impl FnOnce(T) -> Result<()>,
    ) -> Result<Done> {
        let _lock = Lock::acquire(&self.lock, &self.label)?;
        let stamp = Stamp::new(&self.stamp);
        let fingerprint = self.fingerprint.hex();
        let outputs: Vec<&std::path::Path> = self.outputs.iter().map(PathBuf::as_path).collect();
        if stamp.is_fresh(&self.fingerprint, &outputs) {
            return Ok(Done { outcome: Outcome::Reused, fingerprint });
        }
        let prepared = prepare()?;
        stamp.invalidate()?;
        produce(prepared)?;
        stamp.record(&self.fingerprint)?;
        Ok(Done { outcome: Outcome::Built, fingerprint })
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stage-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn stage(dir: &std::path::Path, input: &str) -> Stage {
        let mut fingerprint = Fingerprint::new("test");
        fingerprint.add("input", input);
        Stage {
            label: "test".into(),
            fingerprint,
            stamp: dir.join("stamp"),
            outputs: vec![dir.join("out")],
            lock: dir.join("lock"),
        }
    }

    #[test]
    fn runs_once_per_fingerprint_and_a_failed_prepare_keeps_the_outputs_fresh() {
        let dir = scratch("once");
        let runs = Cell::new(0);
        let produce = |()| {
            runs.set(runs.get() + 1);
            std::fs::write(dir.join("out"), "x")?;
            Ok(())
        };
        assert_eq!(stage(&dir, "a").run(|| Ok(()), produce).unwrap().outcome, Outcome::Built);
        assert_eq!(stage(&dir, "a").run(|| Ok(()), produce).unwrap().outcome, Outcome::Reused);
        assert_eq!(runs.get(), 1);
        // a new input whose preparation fails: nothing produced, the old stamp still stands
        let err = stage(&dir, "b").run(|| anyhow::bail!("rejected"), produce);
        assert!(err.is_err());
        assert_eq!(stage(&dir, "a").run(|| Ok(()), produce).unwrap().outcome, Outcome::Reused);
        // a failed produce leaves no stamp: the next run builds again
        let err = stage(&dir, "c").run(|| Ok(()), |()| anyhow::bail!("interrupted"));
        assert!(err.is_err());
        assert_eq!(stage(&dir, "c").run(|| Ok(()), produce).unwrap().outcome, Outcome::Built);
        assert_eq!(runs.get(), 2);
    }
}
