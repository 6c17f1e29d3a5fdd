//! Where a boot's time goes, as data and as a picture: each boot split into phases by when its
//! console showed the kernel's first line and the start of init, drawn as bars on one time axis.

use std::time::Duration;

use qemu::Session;
use svg::node::element::{Group, Line, Rectangle, Text};
use svg::Document;

/// One phase of a boot: its name and when it began and ended, from QEMU's start.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub name: &'static str,
    pub start: Duration,
    pub end: Duration,
}

/// One boot's phases, under a label.
#[derive(Debug, Clone, PartialEq)]
pub struct Boot {
    pub label: String,
    pub phases: Vec<Phase>,
}

/// Splits a boot that was ready at `ready` by what its console showed: QEMU and firmware up to
/// the kernel's first line, the kernel up to init, init up to the prompt. A quiet kernel shows
/// neither line, and its boot is one phase.
pub fn phases(session: &Session, ready: Duration) -> Vec<Phase> {
    let kernel = session.arrived("Linux version");
    let init = session.arrived("Run /sbin/init").or_else(|| session.arrived("Run /init"));
    split(kernel, init, ready)
}

fn split(kernel: Option<Duration>, init: Option<Duration>, ready: Duration) -> Vec<Phase> {
    match (kernel, init) {
        (Some(kernel), Some(init)) if kernel <= init && init <= ready => vec![
            Phase {
                name: "QEMU, firmware, kernel decompression",
                start: Duration::ZERO,
                end: kernel,
            },
            Phase { name: "kernel", start: kernel, end: init },
            Phase { name: "init to prompt", start: init, end: ready },
        ],
        _ => vec![Phase {
            name: "boot (a quiet kernel: not split)",
            start: Duration::ZERO,
            end: ready,
        }],
    }
}

const COLOURS: &[(&str, &str)] = &[
    ("QEMU, firmware, kernel decompression", "#8da0cb"),
    ("kernel", "#fc8d62"),
    ("init to prompt", "#66c2a5"),
    ("boot (a quiet kernel: not split)", "#e78ac3"),
    ("command run, start to exit", "#a6d854"),
];

/// The boots side by side on one time axis, as an SVG document.
pub fn render(title: &str, boots: &[Boot]) -> String {
    let (left, top, row, width) = (260.0, 50.0, 34.0, 560.0);
    let longest =
        boots.iter().flat_map(|b| b.phases.iter().map(|p| p.end.as_secs_f64())).fold(0.1, f64::max);
    // a round axis: whole tenths of a second
    let axis = (longest * 10.0).ceil() / 10.0;
    let x = |t: f64| left + t / axis * width;
    let height = top + row * boots.len() as f64 + 40.0 + 20.0 * COLOURS.len() as f64;
    let mut doc = Document::new()
        .set("viewBox", (0, 0, left as u32 + width as u32 + 40, height as u32))
        .set("font-family", "sans-serif")
        .set("font-size", 12)
        .add(Text::new(title).set("x", 10).set("y", 24).set("font-size", 15));
    for (i, boot) in boots.iter().enumerate() {
        let y = top + row * i as f64;
        let mut group =
            Group::new().add(Text::new(boot.label.as_str()).set("x", 10).set("y", y + row * 0.6));
        for phase in &boot.phases {
            let colour = COLOURS.iter().find(|(n, _)| *n == phase.name).map_or("#999", |c| c.1);
            let (start, end) = (phase.start.as_secs_f64(), phase.end.as_secs_f64());
            group = group.add(
                Rectangle::new()
                    .set("x", x(start))
                    .set("y", y + 4.0)
                    .set("width", (x(end) - x(start)).max(1.0))
                    .set("height", row - 10.0)
                    .set("fill", colour)
                    .add(svg::node::element::Title::new(format!(
                        "{}: {:.2}-{:.2} s",
                        phase.name, start, end
                    ))),
            );
        }
        let end = boot.phases.last().map_or(0.0, |p| p.end.as_secs_f64());
        group = group
            .add(Text::new(format!("{end:.2} s")).set("x", x(end) + 4.0).set("y", y + row * 0.6));
        doc = doc.add(group);
    }
    let axis_y = top + row * boots.len() as f64 + 6.0;
    doc = doc.add(
        Line::new()
            .set("x1", left)
            .set("x2", left + width)
            .set("y1", axis_y)
            .set("y2", axis_y)
            .set("stroke", "#333"),
    );
    let ticks = (axis * 10.0).round() as u32;
    let step = if ticks > 20 { 5 } else { 1 };
    for tick in (0..=ticks).step_by(step) {
        let t = f64::from(tick) / 10.0;
        doc = doc.add(
            Text::new(format!("{t:.1}"))
                .set("x", x(t))
                .set("y", axis_y + 16.0)
                .set("text-anchor", "middle"),
        );
    }
    for (i, (name, colour)) in COLOURS.iter().enumerate() {
        let y = axis_y + 36.0 + 20.0 * i as f64;
        doc = doc
            .add(
                Rectangle::new()
                    .set("x", left)
                    .set("y", y - 10.0)
                    .set("width", 12)
                    .set("height", 12)
                    .set("fill", *colour),
            )
            .add(Text::new(*name).set("x", left + 18.0).set("y", y));
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn a_boot_is_split_where_its_console_shows_the_kernel_and_init() {
        let phases = split(Some(s(250)), Some(s(900)), s(1200));
        assert_eq!(
            phases.iter().map(|p| p.name).collect::<Vec<_>>(),
            ["QEMU, firmware, kernel decompression", "kernel", "init to prompt"]
        );
        assert_eq!((phases[1].start, phases[1].end), (s(250), s(900)));
        // a quiet kernel: one phase
        assert_eq!(split(None, None, s(800)).len(), 1);
    }

    #[test]
    fn the_picture_holds_every_boot_and_phase() {
        let boots = [
            Boot { label: "tutorial".into(), phases: split(Some(s(250)), Some(s(900)), s(1200)) },
            Boot { label: "fast".into(), phases: split(None, None, s(700)) },
        ];
        let picture = render("boot", &boots);
        assert!(picture.starts_with("<svg"), "{picture}");
        assert_eq!(picture.matches("<rect").count(), 4 + COLOURS.len());
        assert!(picture.contains("kernel: 0.25-0.90 s"), "{picture}");
        assert!(picture.contains("1.20 s") && picture.contains("0.70 s"));
    }
}
