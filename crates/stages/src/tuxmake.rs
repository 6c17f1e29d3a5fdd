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

    /// The metadata `write` leaves for `profile` on `arch`, in the folder it returns.
    fn written(name: &str, arch: &str, profile: &str) -> (std::path::PathBuf, serde_json::Value) {
        let target = crate::testing::scratch(name);
        let ctx = crate::testing::context(
            &crate::testing::selection(arch, profile, |_| {}),
            target.clone(),
        );
        super::write(&ctx, &target).unwrap();
        let path = target.join(super::METADATA);
        let json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        (path, json)
    }

    #[test]
    fn each_kernels_metadata_names_its_architecture_base_config_and_image() {
        for (arch, profile, tuxmake, kconfig, kernel) in [
            ("x86_64", "default", "x86_64", "x86_64_defconfig", "bzImage"),
            ("aarch64", "tiny", "arm64", "tinyconfig", "Image"),
            ("riscv64", "default", "riscv", "defconfig", "Image"),
        ] {
            let (_, json) = written(&format!("tuxmake-{arch}-{profile}"), arch, profile);
            assert_eq!(json["build"]["target_arch"], tuxmake, "{arch}");
            assert_eq!(json["build"]["kconfig"], kconfig, "{arch} {profile}");
            assert_eq!(json["results"]["artifacts"]["kernel"][0], kernel, "{arch}");
        }
    }

    #[test]
    fn the_metadata_is_written_once() {
        use std::os::unix::fs::MetadataExt;
        let (path, _) = written("tuxmake-once", "x86_64", "tiny");
        let target = path.parent().unwrap().to_path_buf();
        let ctx = crate::testing::context(
            &crate::testing::selection("x86_64", "tiny", |_| {}),
            target.clone(),
        );
        // a second build leaves the file as it is
        let inode = std::fs::metadata(&path).unwrap().ino();
        super::write(&ctx, &target).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
        // one from another build is replaced
        std::fs::write(&path, "{}").unwrap();
        super::write(&ctx, &target).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("\"tinyconfig\""));
    }
}
