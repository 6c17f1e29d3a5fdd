//! Unpacks one archive with `fetch::unpack`, for measuring: `fetch::unpack` itself ends with a
//! line saying how many entries it wrote and how long it took (and shows a bar on a terminal).
//! `cargo run --release -p fetch --example unpack -- /usr/src/linux-source-6.1.tar.xz /tmp/linux`

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(archive), Some(dest_dir)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: unpack ARCHIVE DEST_DIR");
    };
    fetch::unpack(&archive, &dest_dir)?;
    Ok(())
}
