//! The `metadata.json` TuxMake leaves in a build's folder, for the kernel's images folder:
//! TuxRun (`tuxrun --tuxmake DIR`) boots a TuxMake build from it, so it boots this tool's
//! kernels as they are. TuxRun reads `build.target_arch` and `results.artifacts.kernel[0]`
//! (and `modules[0]` when there is one: the kernel's own modules as a tarball, which no
//! profile here installs, so there is none), each artifact a name in the folder.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::context::Context;

pub const METADATA: &str = "metadata.json";

/// The metadata of a kernel built for TuxMake's architecture `target_arch` from the base
/// config `kconfig`, its boot image named `kernel`.
pub fn metadata(target_arch: &str, kconfig: &str, kernel: &str) -> String {
    let value = json!({
        "build": {
            "target_arch": target_arch,
            "kconfig": kconfig,
            "toolchain": "gcc",
            "kernel_image": kernel,
        },
        "results": {
            "status": "PASS",
            "artifacts": {
                "kernel": [kernel],
                "config": ["config"],
            },
        },
    });
    serde_json::to_string_pretty(&value).expect("metadata serialises") + "\n"
}

/// Writes the metadata of the kernel in `dir` (its images folder) unless it is there already.
pub fn write(ctx: &Context, dir: &Path) -> Result<()> {
    let text = metadata(&ctx.arch.tuxmake, ctx.kernel_base(), ctx.arch.kernel_image_name());
    let path = dir.join(METADATA);
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    artifact::write_atomic(&path, |f| Ok(std::io::Write::write_all(f, text.as_bytes())?))
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    #[test]
    fn tuxmakes_shape() {
        expect![[r#"
            {
              "build": {
                "kconfig": "tinyconfig",
                "kernel_image": "bzImage",
                "target_arch": "x86_64",
                "toolchain": "gcc"
              },
              "results": {
                "artifacts": {
                  "config": [
                    "config"
                  ],
                  "kernel": [
                    "bzImage"
                  ]
                },
                "status": "PASS"
              }
            }
        "#]]
        .assert_eq(&super::metadata("x86_64", "tinyconfig", "bzImage"));
    }
}
