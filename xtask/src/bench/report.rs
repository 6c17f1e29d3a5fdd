//! The benchmark's figures: what each is, the table on the terminal, the JSON, and the medians
//! and ratios they are made of. Pure: no clock and no child here.

use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use stages::summary::human_size;

#[derive(Serialize, Debug, PartialEq)]
pub struct Figure {
    pub part: &'static str,
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    /// the same work done the tutorial's way, in the same unit
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tutorial_way: Option<f64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

#[derive(Serialize, Default, Debug)]
pub struct Report {
    pub profile: String,
    pub figures: Vec<Figure>,
}

impl Report {
    pub fn add(
        &mut self,
        part: &'static str,
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
    ) -> &mut Figure {
        self.figures.push(Figure {
            part,
            name: name.into(),
            value,
            unit,
            tutorial_way: None,
            note: String::new(),
        });
        let figure = self.figures.last_mut().expect("just pushed");
        eprintln!("bench: {} {}: {}", figure.part, figure.name, show(figure.value, figure.unit));
        figure
    }

    pub fn seconds(
        &mut self,
        part: &'static str,
        name: impl Into<String>,
        elapsed: Duration,
    ) -> &mut Figure {
        self.add(part, name, elapsed.as_secs_f64(), "s")
    }

    /// A figure that could not be measured here, and why.
    pub fn not_measured(&mut self, part: &'static str, name: impl Into<String>, why: String) {
        self.add(part, name, f64::NAN, "n/a").note = format!("not measured: {why}");
    }

    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<9} {:<44} {:>12} {:>14}  {}\n",
            "part", "figure", "value", "tutorial's way", "note"
        );
        for f in &self.figures {
            let tutorial = f.tutorial_way.map(|v| show(v, f.unit)).unwrap_or_default();
            out.push_str(&format!(
                "{:<9} {:<44} {:>12} {:>14}  {}\n",
                f.part,
                f.name,
                show(f.value, f.unit),
                tutorial,
                f.note
            ));
        }
        out
    }

    /// The figures as JSON; a figure not measured has `null` for its value.
    pub fn json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }
}

pub fn show(value: f64, unit: &str) -> String {
    match unit {
        "s" if value < 1.0 => format!("{:.0} ms", value * 1000.0),
        "s" => format!("{value:.2} s"),
        "bytes" => human_size(value as u64),
        "x" => format!("{value:.1}x"),
        "n/a" => "-".to_string(),
        _ => format!("{value} {unit}"),
    }
}

/// `ours` over `theirs`, and the note that says it against a target where there is one.
pub fn ratio(ours: Duration, theirs: Duration, target: Option<f64>) -> (f64, String) {
    let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
    let note = match target {
        Some(target) if ratio > target => {
            format!("ratio {ratio:.2} (target at most {target}: MISSED)")
        }
        Some(target) => format!("ratio {ratio:.2} (target at most {target})"),
        None => format!("ratio {ratio:.2}"),
    };
    (ratio, note)
}

/// The median of `n` samples, each taken by `sample`, by `key`; the samples are taken in order.
pub fn median_by<T, K: Ord>(
    n: u32,
    mut sample: impl FnMut() -> Result<T>,
    key: impl Fn(&T) -> K,
) -> Result<T> {
    let mut samples = (0..n.max(1)).map(|_| sample()).collect::<Result<Vec<_>>>()?;
    samples.sort_by_key(|s| key(s));
    Ok(samples.swap_remove(samples.len() / 2))
}

/// The median of `n` samples.
pub fn median_of<T: Ord + Clone>(n: u32, sample: impl FnMut() -> Result<T>) -> Result<T> {
    median_by(n, sample, T::clone)
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn medians_take_the_middle_sample_in_any_order() {
        let mut samples = [5, 1, 4, 2, 3].into_iter();
        assert_eq!(median_of(5, || Ok(samples.next().unwrap())).unwrap(), 3);
        let mut pairs = [(30, "c"), (10, "a"), (20, "b")].into_iter();
        assert_eq!(median_by(3, || Ok(pairs.next().unwrap()), |p| p.0).unwrap(), (20, "b"));
        // an even count takes the upper middle; one sample is its own median
        let mut even = [4, 1, 3, 2].into_iter();
        assert_eq!(median_of(4, || Ok(even.next().unwrap())).unwrap(), 3);
        assert_eq!(median_of(1, || Ok(7)).unwrap(), 7);
        let mut failing = [Ok(1), Err(anyhow::anyhow!("boot failed"))].into_iter();
        assert!(median_of(2, || failing.next().unwrap()).is_err());
    }

    #[test]
    fn ratios_say_when_they_miss_their_target() {
        let s = Duration::from_secs_f64;
        assert_eq!(ratio(s(0.57), s(1.0), Some(0.6)).1, "ratio 0.57 (target at most 0.6)");
        assert_eq!(ratio(s(0.75), s(1.0), Some(0.7)).1, "ratio 0.75 (target at most 0.7: MISSED)");
        assert_eq!(ratio(s(3.0), s(1.5), None), (2.0, "ratio 2.00".to_string()));
    }

    #[test]
    fn the_report_shows_a_table_and_json() {
        let mut report = Report { profile: "tiny".into(), figures: Vec::new() };
        report.seconds("boot", "fast machine to prompt", Duration::from_millis(470)).tutorial_way =
            Some(0.83);
        report.add("sizes", "bzImage", 2_338_816.0, "bytes");
        report.add("rebuild", "no-op speed-up over make", 4.25, "x");
        report.not_measured("uboot", "U-Boot", "no U-Boot board for riscv64".into());
        expect![[r#"
            part      figure                                              value tutorial's way  note
            boot      fast machine to prompt                             470 ms         830 ms  
            sizes     bzImage                                          2.23 MiB                 
            rebuild   no-op speed-up over make                             4.2x                 
            uboot     U-Boot                                                  -                 not measured: no U-Boot board for riscv64
        "#]]
        .assert_eq(&report.table());
        let json: serde_json::Value = serde_json::from_str(&report.json().unwrap()).unwrap();
        assert_eq!(json["profile"], "tiny");
        assert_eq!(json["figures"][0]["tutorial_way"], 0.83);
        assert_eq!(json["figures"][1]["unit"], "bytes");
        assert!(json["figures"][1].get("tutorial_way").is_none());
        assert!(json["figures"][3]["value"].is_null());
    }
}
