//! Unpacks one archive with `fetch::unpack` and prints how long it took, for measuring:
//! `cargo run --release -p fetch --example unpack -- /usr/src/linux-source-6.1.tar.xz /tmp/linux`

use std::{path::PathBuf, time::Instant};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(archive), Some(dest_dir)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: unpack ARCHIVE DEST_DIR");
    };
    let started = Instant::now();
    let top = fetch::unpack(&archive, &dest_dir)?;
    println!(
        "unpacked {} to {} in {:.2}s",
        archive.display(),
        top.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
