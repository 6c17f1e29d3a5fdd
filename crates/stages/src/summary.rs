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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_said_in_bytes_kib_or_mib() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 << 20), "5.00 MiB");
        assert_eq!(human_size(12_345_678), "11.77 MiB");
    }

    #[test]
    fn each_stage_is_a_line_with_the_sizes_of_what_it_left() {
        let dir = crate::testing::scratch("summary");
        std::fs::write(dir.join("bzImage"), vec![0u8; 1536]).unwrap();
        let summary = Summary {
            rows: vec![
                Row {
                    stage: "kernel".into(),
                    outcome: Outcome::Built,
                    elapsed: Duration::from_millis(93_456),
                    // an output that is not there (an initrd not made) is left out
                    outputs: vec![dir.join("bzImage"), dir.join("rootfs.img.gz")],
                },
                Row {
                    stage: "busybox".into(),
                    outcome: Outcome::Reused,
                    elapsed: Duration::from_millis(20),
                    outputs: vec![],
                },
            ],
        };
        let shown = summary.render().replace(&dir.display().to_string(), "<dir>");
        expect_test::expect![[r#"
            kernel     built          93.46s
                   1.5 KiB  <dir>/bzImage
            busybox    up to date      0.02s
        "#]]
        .assert_eq(&shown);
    }

    #[test]
    fn a_stage_that_fails_leaves_no_line() {
        let mut summary = Summary::default();
        let built = summary.stage("kernel", || Ok(((), Outcome::Built)), |()| vec![]);
        assert!(built.is_ok());
        let failed: anyhow::Result<()> =
            summary.stage("busybox", || anyhow::bail!("make failed"), |()| vec![]);
        assert_eq!(failed.unwrap_err().to_string(), "make failed");
        let stages: Vec<&str> = summary.rows.iter().map(|r| r.stage.as_str()).collect();
        assert_eq!(stages, ["kernel"]);
    }
}
