//! Every compile through ccache, when it is there: the kernel's, BusyBox's, U-Boot's and your
//! modules'. A compile ccache has seen (a bisect coming back to a commit, `cargo clean` then
//! `all`, a second checkout) is then a lookup.
//!
//! ccache comes in by *masquerading*: a folder of links named like the compilers (`gcc`,
//! `aarch64-linux-gnu-gcc`), put first on make's PATH. The make command lines stay as they were,
//! so turning ccache on or off neither changes a fingerprint nor makes kbuild rebuild everything
//! (kbuild compares each object's command line). Paths under the target folder are made relative
//! (`CCACHE_BASEDIR`), so a build folder at the same place relative to its source (the
//! benchmark's own target folder, say) hits what another built.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

/// Whether compiles go through ccache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Choice {
    /// when `ccache` is on the PATH
    #[default]
    Auto,
    /// required: an error when it is missing
    On,
    Off,
}

#[derive(Debug, Clone)]
pub struct Ccache {
    choice: Choice,
    /// why ccache cannot be used by this user, found at the first build: `Some(why)`
    unusable: std::sync::OnceLock<Option<String>>,
    program: PathBuf,
    /// the compilers' names, linked to ccache when a build first needs them
    compilers: Vec<String>,
    /// the folder of compiler-named links to ccache
    masquerade: PathBuf,
    /// paths under it are hashed relative to the build folder
    base_dir: PathBuf,
    /// ccache's remote storage (`CCACHE_REMOTE_STORAGE`), when the selection names one
    remote: Option<String>,
}

/// What one build asked of the cache, from its stats log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    /// compiles ccache cannot cache (a link, a preprocessing-only call, a failing test compile)
    pub uncacheable: u64,
    /// of the hits, those the remote storage gave (another machine's compile)
    pub remote_hits: u64,
    /// remote lookups and uploads that failed or timed out (ccache goes on without the remote;
    /// its own timeouts bound each: 100 ms to connect, 10 s an operation)
    pub remote_failures: u64,
}

impl Stats {
    pub fn compiles(&self) -> u64 {
        self.hits + self.misses
    }

    /// `812 hits, 3 misses (99%)`; with a remote, `812 hits (800 from the remote), ...`, and
    /// the compiles whose remote failed
    pub fn describe(&self) -> String {
        let rate = match self.compiles() {
            0 => String::new(),
            n => format!(" ({}%)", self.hits * 100 / n),
        };
        let remote = match self.remote_hits {
            0 => String::new(),
            n => format!(" ({n} from the remote)"),
        };
        let failed = match self.remote_failures {
            0 => String::new(),
            n => format!(
                "; the remote failed {n} times (lookups and uploads: ccache went on without it)"
            ),
        };
        format!("{} hits{remote}, {} misses{rate}{failed}", self.hits, self.misses)
    }
}

/// Reads a ccache stats log (`CCACHE_STATSLOG`): a `# file` line per compile, then the
/// counters it bumped, one per line.
pub fn parse_stats_log(text: &str) -> Stats {
    let mut stats = Stats::default();
    let mut counted = true;
    for line in text.lines() {
        match line.trim() {
            l if l.starts_with('#') => {
                if !counted {
                    stats.uncacheable += 1;
                }
                counted = false;
            }
            "direct_cache_hit" | "preprocessed_cache_hit" => {
                stats.hits += 1;
                counted = true;
            }
            "cache_miss" => {
                stats.misses += 1;
                counted = true;
            }
            "remote_storage_hit" => stats.remote_hits += 1,
            "remote_storage_error" | "remote_storage_timeout" => stats.remote_failures += 1,
            _ => {}
        }
    }
    if !counted {
        stats.uncacheable += 1;
    }
    stats
}

/// The remote storage URLs ccache 4.7 (Debian 12's) speaks, by scheme.
const REMOTE_SCHEMES: [&str; 4] = ["redis://", "redis+unix:", "http://", "file:"];

/// A remote storage URL ccache takes (`redis://HOST:PORT`, `redis+unix:/SOCKET`,
/// `http://HOST/PATH|layout=subdirs`, `file:/DIR`), or an error naming `--ccache-remote`.
/// Several, separated by spaces, are asked in turn (ccache's own list).
pub fn check_remote(urls: &str) -> Result<()> {
    if urls.trim().is_empty() {
        bail!("--ccache-remote: empty (a URL, or several separated by spaces)");
    }
    for url in urls.split_whitespace() {
        if !REMOTE_SCHEMES.iter().any(|scheme| url.starts_with(scheme)) {
            bail!(
                "--ccache-remote {url:?}: not a remote storage ccache speaks (expected a URL \
                 starting {})",
                REMOTE_SCHEMES.join(", ")
            );
        }
    }
    Ok(())
}

/// The program's path, when it is on the PATH.
pub fn find_program() -> Option<PathBuf> {
    crate::hostdeps::find_on_path("ccache")
}

impl Ccache {
    /// ccache as `choice` asks, with links for `compilers` (program names such as `gcc` and
    /// `riscv64-linux-gnu-gcc`) in `masquerade`. `base_dir` is the target folder.
    pub fn resolve(
        choice: Choice,
        remote: Option<&str>,
        masquerade: &Path,
        base_dir: &Path,
        compilers: &[String],
    ) -> Result<Option<Ccache>> {
        let found = match choice {
            Choice::Off => None,
            _ => find_program(),
        };
        if let Some(remote) = remote {
            check_remote(remote)?;
            if found.is_none() {
                bail!(
                    "--ccache-remote {remote}: the remote is ccache's, and {}",
                    match choice {
                        Choice::Off => "--no-ccache turns ccache off",
                        _ => "no ccache is on the PATH (Debian/Ubuntu: apt-get install ccache)",
                    }
                );
            }
        }
        let program = match (choice, found) {
            (Choice::Off, _) | (Choice::Auto, None) => return Ok(None),
            (_, Some(program)) => program,
            (Choice::On, None) => bail!(
                "--ccache: no ccache on the PATH (Debian/Ubuntu: apt-get install ccache; \
                 Fedora: dnf install ccache; Arch: pacman -S ccache)"
            ),
        };
        Ok(Some(Ccache {
            choice,
            unusable: std::sync::OnceLock::new(),
            program,
            compilers: compilers.to_vec(),
            masquerade: masquerade.to_path_buf(),
            base_dir: base_dir.to_path_buf(),
            remote: remote.map(String::from),
        }))
    }

    /// The environment of a make whose compiles go through ccache, logging what they asked of
    /// the cache to `stats_log`; the links are made first (no earlier: a refused command writes
    /// nothing). Paths under the target folder are hashed (and given to the compiler) relative
    /// to the build folder: see [`Ccache::env_keeping_paths`] for builds whose messages must
    /// name files as they are.
    pub fn env(&self, stats_log: &Path) -> Result<Vec<(String, String)>> {
        self.env_with_base(stats_log, &self.base_dir.display().to_string())
    }

    /// [`Ccache::env`] without the relative paths: ccache hands the compiler the paths it
    /// rewrites, so a compiler error would name a file by a path relative to the kernel's build
    /// folder. Your modules' errors are mapped back to your folder by their absolute path, and
    /// a module build's hits across folders are worth little.
    /// No variables at all when this user cannot write ccache's cache (another user's, a
    /// read-only one): the build goes on without it, saying so once, unless `--ccache` asked.
    pub fn env_keeping_paths(&self, stats_log: &Path) -> Result<Vec<(String, String)>> {
        // empty: no rewriting, whatever the user's environment says
        self.env_with_base(stats_log, "")
    }

    fn env_with_base(&self, stats_log: &Path, base_dir: &str) -> Result<Vec<(String, String)>> {
        if let Some(why) = self.unusable.get_or_init(|| self.why_unusable()) {
            if self.choice == Choice::On {
                bail!("--ccache: {why}");
            }
            return Ok(Vec::new());
        }
        std::fs::create_dir_all(&self.masquerade)
            .with_context(|| format!("creating {}", self.masquerade.display()))?;
        for name in &self.compilers {
            link(&self.program, &self.masquerade.join(name))?;
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::iter::once(self.masquerade.clone()).chain(std::env::split_paths(&path));
        let path = std::env::join_paths(dirs).expect("the PATH's own folders join again");
        let remote = self.remote.iter().map(|url| ("CCACHE_REMOTE_STORAGE".into(), url.clone()));
        Ok(remote
            .chain([
                ("PATH".into(), path.to_string_lossy().into_owned()),
                ("CCACHE_BASEDIR".into(), base_dir.to_string()),
                ("CCACHE_STATSLOG".into(), stats_log.display().to_string()),
                // depend mode: a miss runs the compiler alone, where ccache's default runs the
                // preprocessor first to hash its output (kbuild's -Wp,-MMD dependency files name
                // what to hash instead). On the tiny kernel from an empty cache here: make 165 s,
                // against 229 s in the default mode and 186 s without ccache
                ("CCACHE_DEPEND".into(), "1".into()),
            ])
            .collect())
    }
}

impl Ccache {
    /// Whether this user can write the cache ccache would use (`ccache -k cache_dir`): a
    /// compile through a ccache that cannot store fails.
    fn why_unusable(&self) -> Option<String> {
        let output = std::process::Command::new(&self.program).args(["-k", "cache_dir"]).output();
        let dir = match output {
            Ok(out) if out.status.success() => {
                PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
            }
            _ => return Some(format!("{} -k cache_dir failed", self.program.display())),
        };
        let probe = dir.join(format!(".kardel-probe-{}", std::process::id()));
        let writable = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&probe, b""));
        let _ = std::fs::remove_file(&probe);
        match writable {
            Ok(()) => None,
            Err(err) => {
                let why = format!("ccache's cache {} is not writable here ({err})", dir.display());
                if self.choice != Choice::On {
                    eprintln!("ccache: {why}: compiling without it");
                }
                Some(why)
            }
        }
    }
}

/// `link` -> `program`, replaced atomically when it points elsewhere: several runs may make the
/// folder at once.
fn link(program: &Path, link: &Path) -> Result<()> {
    if std::fs::read_link(link).is_ok_and(|target| target == program) {
        return Ok(());
    }
    let temporary = link.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    std::os::unix::fs::symlink(program, &temporary)
        .with_context(|| format!("linking {} to {}", temporary.display(), program.display()))?;
    std::fs::rename(&temporary, link).with_context(|| format!("renaming to {}", link.display()))
}

/// The stats of the log at `path`, which a build wrote: none when it wrote none.
pub fn read_stats(path: &Path) -> Stats {
    std::fs::read_to_string(path).map(|text| parse_stats_log(&text)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stats_log_counts_hits_misses_and_what_cannot_be_cached() {
        let log = "# ../../../src/linux/init/main.c\ndirect_cache_hit\nlocal_storage_hit\n\
                   # ../../../src/linux/kernel/fork.c\npreprocessed_cache_hit\n\
                   # ../../../src/linux/mm/slab.c\ndirect_cache_miss\ncache_miss\nlocal_storage_write\n\
                   # /tmp/cc1.c\ncompile_failed\n\
                   # vmlinux\ncalled_for_link\n";
        let stats = parse_stats_log(log);
        assert_eq!(stats, Stats { hits: 2, misses: 1, uncacheable: 2, ..Stats::default() });
        assert_eq!(stats.describe(), "2 hits, 1 misses (66%)");
        assert_eq!(parse_stats_log("").describe(), "0 hits, 0 misses");
    }

    #[test]
    fn a_build_that_compiled_nothing_through_ccache_asked_nothing() {
        let dir = crate::testing::scratch("ccache-stats");
        assert_eq!(read_stats(&dir.join("kernel-tiny.ccache")), Stats::default());
        std::fs::write(
            dir.join("kernel-tiny.ccache"),
            "# a.c\ndirect_cache_hit\n# b.c\ndirect_cache_hit\n",
        )
        .unwrap();
        let stats = read_stats(&dir.join("kernel-tiny.ccache"));
        assert_eq!(stats.describe(), "2 hits, 0 misses (100%)");
        // a log of links only: no compile, so no rate
        let links = parse_stats_log("# vmlinux\ncalled_for_link\n# Image\ncalled_for_link\n");
        assert_eq!((links.compiles(), links.uncacheable), (0, 2));
        assert_eq!(links.describe(), "0 hits, 0 misses");
    }

    #[test]
    fn remote_hits_and_failures_are_counted_apart() {
        let log = "# a.c\ndirect_cache_hit\nremote_storage_hit\nremote_storage_read_hit\n\
                   # b.c\ndirect_cache_hit\nlocal_storage_hit\n\
                   # c.c\ncache_miss\nremote_storage_error\n";
        let stats = parse_stats_log(log);
        assert_eq!((stats.hits, stats.remote_hits, stats.remote_failures), (2, 1, 1));
        assert_eq!(
            stats.describe(),
            "2 hits (1 from the remote), 1 misses (66%); the remote failed 1 times (lookups and \
             uploads: ccache went on without it)"
        );
    }

    #[test]
    fn a_remote_ccache_does_not_speak_is_refused_naming_the_flag() {
        for url in
            ["redis://127.0.0.1:6379", "redis+unix:/run/redis.sock", "http://h/c|layout=subdirs"]
        {
            check_remote(url).unwrap();
        }
        check_remote("redis://a:1 http://b/c|layout=subdirs").unwrap();
        let err = check_remote("redis://a:1 ftp://h/c").unwrap_err().to_string();
        assert!(err.starts_with("--ccache-remote \"ftp://h/c\": not a remote storage"), "{err}");
        let dir = crate::testing::scratch("ccache-remote-off");
        let off = Ccache::resolve(Choice::Off, Some("redis://h"), &dir.join("bin"), &dir, &[]);
        assert!(off.unwrap_err().to_string().contains("--no-ccache turns ccache off"));
    }

    #[test]
    fn ccache_off_is_never_looked_for() {
        let dir = crate::testing::scratch("ccache-off");
        let resolved = Ccache::resolve(Choice::Off, None, &dir.join("bin"), &dir, &["gcc".into()]);
        assert!(resolved.unwrap().is_none());
        assert!(!dir.join("bin").exists());
    }

    /// ccache at `program` for builds under `dir`, its usability already known (`None`: usable).
    fn ccache(
        choice: Choice,
        program: &str,
        dir: &Path,
        unusable: Option<Option<String>>,
    ) -> Ccache {
        let known = std::sync::OnceLock::new();
        if let Some(why) = unusable {
            known.set(why).unwrap();
        }
        Ccache {
            choice,
            unusable: known,
            program: PathBuf::from(program),
            compilers: vec!["gcc".into(), "aarch64-linux-gnu-gcc".into()],
            masquerade: dir.join("ccache-bin"),
            base_dir: dir.to_path_buf(),
            remote: Some("redis://127.0.0.1:6379".into()),
        }
    }

    #[test]
    fn compiles_go_through_links_first_on_the_path_with_paths_made_relative() {
        let dir = crate::testing::scratch("ccache-env");
        let ccache = ccache(Choice::Auto, "/usr/bin/ccache", &dir, Some(None));
        let log = dir.join("kernel-tiny.ccache");
        let env: std::collections::BTreeMap<String, String> =
            ccache.env(&log).unwrap().into_iter().collect();
        let links = dir.join("ccache-bin");
        assert!(env["PATH"].starts_with(&format!("{}:", links.display())), "{}", env["PATH"]);
        assert_eq!(env["CCACHE_BASEDIR"], dir.display().to_string());
        assert_eq!(env["CCACHE_STATSLOG"], log.display().to_string());
        assert_eq!(env["CCACHE_DEPEND"], "1");
        assert_eq!(env["CCACHE_REMOTE_STORAGE"], "redis://127.0.0.1:6379");
        for compiler in ["gcc", "aarch64-linux-gnu-gcc"] {
            assert_eq!(
                std::fs::read_link(links.join(compiler)).unwrap(),
                Path::new("/usr/bin/ccache")
            );
        }
        // your modules' builds keep the paths as they are, for their compilers' messages
        let env: std::collections::BTreeMap<String, String> =
            ccache.env_keeping_paths(&log).unwrap().into_iter().collect();
        assert_eq!(env["CCACHE_BASEDIR"], "");
    }

    #[test]
    fn a_ccache_that_cannot_store_is_left_out_unless_asked_for() {
        let dir = crate::testing::scratch("ccache-unusable");
        let log = dir.join("busybox.ccache");
        // `false -k cache_dir` fails as a ccache without a cache would
        let auto = ccache(Choice::Auto, "/bin/false", &dir, None);
        assert!(auto.env(&log).unwrap().is_empty());
        assert!(!dir.join("ccache-bin").exists(), "no links for a ccache left out");
        let on = ccache(Choice::On, "/bin/false", &dir, None);
        assert_eq!(
            on.env(&log).unwrap_err().to_string(),
            "--ccache: /bin/false -k cache_dir failed"
        );
    }
}
