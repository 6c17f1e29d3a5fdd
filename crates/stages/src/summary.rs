//! The table `cargo xtask all` ends with: what each stage built or reused, how long it took, and
//! the sizes of what it left in images/.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use crate::stage::Outcome;

pub struct Row {
    pub stage: String,
    pub outcome: Outcome,
    pub elapsed: Duration,
    pub outputs: Vec<PathBuf>,
}

#[derive(Default)]
pub struct Summary {
    pub rows: Vec<Row>,
}

impl Summary {
    /// Runs one stage, timing it.
    pub fn stage<T>(
        &mut self,
        name: &str,
        run: impl FnOnce() -> anyhow::Result<(T, Outcome)>,
        outputs: impl FnOnce(&T) -> Vec<PathBuf>,
    ) -> anyhow::Result<T> {
        let start = Instant::now();
        let (value, outcome) = run()?;
        self.rows.push(Row {
            stage: name.to_string(),
            outcome,
            elapsed: start.elapsed(),
            outputs: outputs(&value),
        });
        Ok(value)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for row in &self.rows {
            out.push_str(&format!(
                "{:<10} {:<11} {:>8.2}s\n",
                row.stage,
                row.outcome.word(),
                row.elapsed.as_secs_f64()
            ));
            for path in &row.outputs {
                if let Ok(meta) = std::fs::metadata(path) {
                    out.push_str(&format!(
                        "    {:>10}  {}\n",
                        human_size(meta.len()),
                        path.display()
                    ));
                }
            }
        }
        out
    }
}

pub fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.2} MiB", bytes as f64 / f64::from(1u32 << 20))
    } else if bytes >= 1 << 10 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} B")
    }
}
