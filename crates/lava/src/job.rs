//! A LAVA v2 job for device type `qemu`, as typed data: what a lab's scheduler and `lava-run`
//! read. Pure: a [`Boot`] and its test cases in, a [`Job`] (serialised with [`Job::yaml`]) out.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

/// The job, key for key as LAVA's schema (`lava_common.schemas`) names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub device_type: String,
    pub job_name: String,
    pub timeouts: JobTimeouts,
    pub priority: String,
    pub visibility: String,
    pub context: Context,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobTimeouts {
    pub job: Timeout,
    pub action: Timeout,
}

/// `{minutes: N}` or `{seconds: N}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Timeout {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u64>,
}

impl Timeout {
    pub fn minutes(minutes: u64) -> Timeout {
        Timeout { minutes: Some(minutes), seconds: None }
    }

    pub fn seconds(seconds: u64) -> Timeout {
        Timeout { minutes: None, seconds: Some(seconds) }
    }

    pub fn total_seconds(&self) -> u64 {
        self.minutes.unwrap_or(0) * 60 + self.seconds.unwrap_or(0)
    }
}

/// What the job asks of the machine. A lab's qemu device type reads these: `arch` picks its
/// QEMU, `no_kvm` keeps it from adding `-enable-kvm`, `memory` is `-m`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    pub arch: String,
    #[serde(default)]
    pub no_kvm: bool,
    /// MiB
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
}

/// One action: LAVA writes each as a map with a single key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Action {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<BootAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Test>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deploy {
    pub to: String,
    pub timeout: Timeout,
    pub images: Images,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Images {
    pub kernel: Image,
    pub rootfs: Image,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub url: String,
    /// QEMU's arguments for it, `{kernel}` or `{rootfs}` standing for where LAVA put it
    pub image_arg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlays: Option<Overlays>,
}

/// `lava: true`: LAVA's test scripts go into this image itself (unpacked and repacked for a
/// cpio, through libguestfs for ext4) rather than onto a second drive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Overlays {
    pub lava: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootAction {
    pub method: String,
    pub media: String,
    pub timeout: Timeout,
    pub auto_login: AutoLogin,
    pub prompts: Vec<String>,
}

/// What LAVA waits for and answers before the shell: BusyBox's askfirst wants a bare Enter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoLogin {
    pub login_prompt: String,
    pub username: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Test {
    pub timeout: Timeout,
    pub definitions: Vec<Definition>,
}

/// An inline test definition: its steps are shell lines, each test case a `lava-test-case`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    pub from: String,
    pub name: String,
    pub path: String,
    pub repository: Repository,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repository {
    pub metadata: Metadata,
    pub run: Steps,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub format: String,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Steps {
    pub steps: Vec<String>,
}

/// A line of a test definition.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// a test case, its result its command's exit status
    Case(Case),
    /// a line for the definition's shell as it is: one that reports cases itself
    /// (`lava-test-case NAME --result pass`), or sets the scene. LAVA runs the definition
    /// under `set -e`, so a failing line ends it.
    Line(String),
}

impl Step {
    fn line(&self) -> String {
        match self {
            Step::Case(case) => case.step(),
            Step::Line(line) => line.clone(),
        }
    }
}

/// A test case: a name LAVA accepts and a shell line whose exit status is its result.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub name: String,
    pub shell: String,
}

impl Case {
    pub fn new(name: impl Into<String>, shell: impl Into<String>) -> Case {
        Case { name: name.into(), shell: shell.into() }
    }

    /// The definition's step: `lava-test-case NAME --shell "LINE"`. lava-test-case `eval`s
    /// what it is given, as a shell reads a line, so LINE is quoted once for the step's shell,
    /// in double quotes, because LAVA rewrites every `$1` of a `--shell` step to `\$1` when it
    /// writes the script (for double quotes): those are left to it, every other `$` escaped.
    fn step(&self) -> String {
        let mut quoted = String::from("\"");
        let chars: Vec<char> = self.shell.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            match c {
                '\\' | '"' | '`' => {
                    quoted.push('\\');
                    quoted.push(c);
                }
                '$' if !lava_escapes_dollar_at(&chars[i..]) => quoted.push_str("\\$"),
                _ => quoted.push(c),
            }
        }
        quoted.push('"');
        format!("lava-test-case {} --shell {quoted}", self.name)
    }
}

/// Whether LAVA's `\$(\d+)\b` (lava_dispatcher's testdef.py) matches at `text`, a `$`:
/// digits, then a word boundary (the end, or a character that is not a letter, digit or `_`).
fn lava_escapes_dollar_at(text: &[char]) -> bool {
    let digits = text[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    let after = text.get(1 + digits);
    digits > 0 && !after.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// The rootfs as LAVA must treat it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootfsFormat {
    /// a cpio initramfs (`cpio.newc`)
    Cpio,
    /// an ext4 RAM disk image
    Ext4,
}

/// A boot to write as a job: the same kernel, image and arguments the tool boots.
#[derive(Debug, Clone)]
pub struct Boot {
    pub job_name: String,
    /// LAVA's name of the architecture (the architecture row's `lava`)
    pub arch: String,
    pub memory_mib: u32,
    pub kernel_url: String,
    pub rootfs_url: String,
    /// the image's compression as LAVA names it (`gz`, `zstd`), none when it is not compressed
    pub rootfs_compression: Option<String>,
    pub rootfs_format: RootfsFormat,
    /// the kernel's command line
    pub append: String,
    /// what BusyBox init prints before it starts the console's shell
    pub login_prompt: String,
    pub prompt: String,
    /// the test definition's name, and its steps (cases, mostly)
    pub definition: String,
    pub description: String,
    pub steps: Vec<Step>,
    /// how long the tests may take, all together
    pub test_timeout: Timeout,
}

/// How long a deploy (downloads, the overlay: a cpio repacked, an ext4 image through
/// libguestfs's own appliance under TCG, 10 s here) and a boot to the shell under TCG may take.
const DEPLOY_MINUTES: u64 = 5;
const BOOT_MINUTES: u64 = 5;

/// A LAVA test case's name: what LAVA's signals carry (letters, digits, `-`, `_`, `.`).
pub fn case_name(text: &str) -> String {
    let mut name = String::new();
    for c in text.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '.' => name.push(c),
            _ if !name.is_empty() && !name.ends_with('-') => name.push('-'),
            _ => {}
        }
    }
    name.trim_end_matches('-').to_string()
}

impl Job {
    /// `boot` as a job: deploy the kernel and image to tmpfs, boot them in QEMU to BusyBox's
    /// shell, run the cases.
    pub fn new(boot: &Boot) -> Job {
        let (format, initrd_note) = match boot.rootfs_format {
            RootfsFormat::Cpio => ("cpio.newc", "-initrd {rootfs}"),
            RootfsFormat::Ext4 => ("ext4", "-initrd {rootfs}"),
        };
        let deploy = Deploy {
            to: "tmpfs".into(),
            timeout: Timeout::minutes(DEPLOY_MINUTES),
            images: Images {
                kernel: Image {
                    url: boot.kernel_url.clone(),
                    image_arg: format!(
                        "-kernel {{kernel}} -append {}",
                        qemu::shell_quote(&boot.append)
                    ),
                    compression: None,
                    format: None,
                    overlays: None,
                },
                rootfs: Image {
                    url: boot.rootfs_url.clone(),
                    image_arg: initrd_note.into(),
                    compression: boot.rootfs_compression.clone(),
                    format: Some(format.into()),
                    overlays: Some(Overlays { lava: true }),
                },
            },
        };
        let boot_action = BootAction {
            method: "qemu".into(),
            media: "tmpfs".into(),
            timeout: Timeout::minutes(BOOT_MINUTES),
            auto_login: AutoLogin {
                login_prompt: boot.login_prompt.clone(),
                username: String::new(),
            },
            prompts: vec![boot.prompt.clone()],
        };
        let test = Test {
            timeout: boot.test_timeout,
            definitions: vec![Definition {
                from: "inline".into(),
                name: boot.definition.clone(),
                path: format!("inline/{}.yaml", boot.definition),
                repository: Repository {
                    metadata: Metadata {
                        format: "Lava-Test Test Definition 1.0".into(),
                        name: boot.definition.clone(),
                        description: boot.description.clone(),
                    },
                    run: Steps { steps: boot.steps.iter().map(Step::line).collect() },
                },
            }],
        };
        let job_seconds =
            (DEPLOY_MINUTES + BOOT_MINUTES) * 60 + boot.test_timeout.total_seconds() + 60;
        Job {
            device_type: "qemu".into(),
            job_name: boot.job_name.clone(),
            timeouts: JobTimeouts {
                job: Timeout::minutes(job_seconds.div_ceil(60)),
                action: Timeout::minutes(BOOT_MINUTES),
            },
            priority: "medium".into(),
            visibility: "public".into(),
            context: Context {
                arch: boot.arch.clone(),
                no_kvm: true,
                memory: Some(boot.memory_mib),
            },
            actions: vec![
                Action { deploy: Some(deploy), ..Action::default() },
                Action { boot: Some(boot_action), ..Action::default() },
                Action { test: Some(test), ..Action::default() },
            ],
        }
    }

    pub fn yaml(&self) -> String {
        serde_norway::to_string(self).expect("a job serialises")
    }
}

/// What the LAVA command needs of any job, a lab's included: its name and context. Anything
/// else in it is LAVA's to read.
#[derive(Debug, Clone, Deserialize)]
pub struct Head {
    #[serde(default)]
    pub job_name: String,
    pub device_type: String,
    pub context: Option<Context>,
    #[serde(default)]
    actions: Vec<HeadAction>,
    /// the whole job, for what the trust module checks of it
    #[serde(skip)]
    pub raw: serde_norway::Value,
}

#[derive(Debug, Clone, Deserialize)]
struct HeadAction {
    #[serde(default)]
    deploy: Option<HeadDeploy>,
    #[serde(default)]
    test: Option<HeadTest>,
}

#[derive(Debug, Clone, Deserialize)]
struct HeadDeploy {
    #[serde(default)]
    images: std::collections::BTreeMap<String, HeadImage>,
}

#[derive(Debug, Clone, Deserialize)]
struct HeadImage {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    image_arg: Option<String>,
}

/// One of a job's deployed images: its label (`kernel`, `rootfs`: QEMU's arguments name it
/// `{label}`), where LAVA fetches it from, and the QEMU arguments that use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobImage {
    pub label: String,
    pub url: Option<String>,
    pub image_arg: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct HeadTest {
    #[serde(default)]
    definitions: Vec<HeadDefinition>,
}

#[derive(Debug, Clone, Deserialize)]
struct HeadDefinition {
    name: String,
}

impl Head {
    pub fn read(path: &Path) -> Result<Head> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the LAVA job {}", path.display()))?;
        Head::parse(&text).with_context(|| format!("{}: not a LAVA job", path.display()))
    }

    pub fn parse(text: &str) -> Result<Head> {
        // the text read once: the typed head taken from the document kept whole
        let raw: serde_norway::Value = serde_norway::from_str(text)?;
        let mut head: Head = serde_norway::from_value(raw.clone())?;
        head.raw = raw;
        if head.device_type != "qemu" {
            bail!("its device_type is {:?}: this machine runs qemu jobs", head.device_type);
        }
        if head.context.is_none() {
            bail!("it has no context (LAVA needs context.arch to choose QEMU)");
        }
        Ok(head)
    }

    pub fn context(&self) -> &Context {
        self.context.as_ref().expect("parse checks the context")
    }

    /// The names of the job's test definitions: each must report results.
    pub fn definitions(&self) -> Vec<&str> {
        let tests = self.actions.iter().filter_map(|a| a.test.as_ref());
        tests.flat_map(|t| t.definitions.iter().map(|d| d.name.as_str())).collect()
    }

    /// Every image the job deploys, in the order of its deploy actions (labels in order).
    pub fn images(&self) -> Vec<JobImage> {
        let deploys = self.actions.iter().filter_map(|a| a.deploy.as_ref());
        deploys
            .flat_map(|d| d.images.iter())
            .map(|(label, image)| JobImage {
                label: label.clone(),
                url: image.url.clone(),
                image_arg: image.image_arg.clone(),
            })
            .collect()
    }

    /// Whether an image is deployed as ext4: LAVA then puts its overlay in through libguestfs.
    pub fn deploys_ext4(&self) -> bool {
        let deploys = self.actions.iter().filter_map(|a| a.deploy.as_ref());
        deploys.flat_map(|d| d.images.values()).any(|i| i.format.as_deref() == Some("ext4"))
    }
}

/// Where the job's artifacts are: `file://` paths on this machine (what `lava-run` here
/// reads), or a lab's web server that serves the files under their names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Artifacts {
    Local,
    Served(String),
}

impl Artifacts {
    /// `base` checked: http(s), no query; a trailing slash is optional.
    pub fn served(base: &str) -> Result<Artifacts, String> {
        let rest = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .ok_or_else(|| format!("{base}: not an http:// or https:// URL"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(format!("{base}: no host"));
        }
        if base.contains(['?', '#', ' ']) {
            return Err(format!("{base}: a base URL has no query, fragment or space"));
        }
        Ok(Artifacts::Served(base.trim_end_matches('/').to_string()))
    }

    /// The URL the job names `path` by: an absolute `file://` path here, else the base URL and
    /// the file's name (the file to publish there).
    pub fn url(&self, path: &Path) -> String {
        match self {
            Artifacts::Local => format!("file://{}", path.display()),
            Artifacts::Served(base) => {
                let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
                format!("{base}/{name}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    fn boot() -> Boot {
        Boot {
            job_name: "kardel check initramfs (x86_64, tiny)".into(),
            arch: "x86_64".into(),
            memory_mib: 1024,
            kernel_url: "file:///t/images/x86_64/tiny/bzImage".into(),
            rootfs_url: "file:///t/images/x86_64/rootfs.cpio.gz".into(),
            rootfs_compression: Some("gz".into()),
            rootfs_format: RootfsFormat::Cpio,
            append: "rw rootfstype=ramfs console=ttyS0 rdinit=/sbin/init panic=-1".into(),
            login_prompt: "Please press Enter to activate this console.".into(),
            prompt: "/ #".into(),
            definition: "check".into(),
            description: "what the tutorial shows".into(),
            steps: vec![
                Step::Case(Case::new("uname-r", r#"test "$(uname -r)" = 6.1.0"#)),
                Step::Case(Case::new("quoting", "echo 'it'\"'\"'s'")),
                Step::Line("dmesg -n 1".into()),
            ],
            test_timeout: Timeout::minutes(5),
        }
    }

    #[test]
    fn a_check_job() {
        let job = Job::new(&boot());
        expect![[r#"
            device_type: qemu
            job_name: kardel check initramfs (x86_64, tiny)
            timeouts:
              job:
                minutes: 16
              action:
                minutes: 5
            priority: medium
            visibility: public
            context:
              arch: x86_64
              no_kvm: true
              memory: 1024
            actions:
            - deploy:
                to: tmpfs
                timeout:
                  minutes: 5
                images:
                  kernel:
                    url: file:///t/images/x86_64/tiny/bzImage
                    image_arg: -kernel {kernel} -append 'rw rootfstype=ramfs console=ttyS0 rdinit=/sbin/init panic=-1'
                  rootfs:
                    url: file:///t/images/x86_64/rootfs.cpio.gz
                    image_arg: -initrd {rootfs}
                    compression: gz
                    format: cpio.newc
                    overlays:
                      lava: true
            - boot:
                method: qemu
                media: tmpfs
                timeout:
                  minutes: 5
                auto_login:
                  login_prompt: Please press Enter to activate this console.
                  username: ''
                prompts:
                - '/ #'
            - test:
                timeout:
                  minutes: 5
                definitions:
                - from: inline
                  name: check
                  path: inline/check.yaml
                  repository:
                    metadata:
                      format: Lava-Test Test Definition 1.0
                      name: check
                      description: what the tutorial shows
                    run:
                      steps:
                      - lava-test-case uname-r --shell "test \"\$(uname -r)\" = 6.1.0"
                      - lava-test-case quoting --shell "echo 'it'\"'\"'s'"
                      - dmesg -n 1
        "#]]
        .assert_eq(&job.yaml());
    }

    #[test]
    fn a_job_reads_back_as_written() {
        let job = Job::new(&boot());
        let read: Job = serde_norway::from_str(&job.yaml()).unwrap();
        assert_eq!(read, job);
        let head = Head::parse(&job.yaml()).unwrap();
        assert_eq!(head.context().arch, "x86_64");
        assert_eq!(head.definitions(), ["check"]);
        assert!(!head.deploys_ext4());
        let initrd = Job::new(&Boot { rootfs_format: RootfsFormat::Ext4, ..boot() });
        assert!(Head::parse(&initrd.yaml()).unwrap().deploys_ext4());
    }

    #[test]
    fn other_jobs_are_refused_with_the_reason() {
        let err = Head::parse("device_type: qemu\njob_name: x\n").unwrap_err();
        assert!(format!("{err:#}").contains("context.arch"), "{err:#}");
        let err = Head::parse("device_type: beaglebone-black\ncontext: {arch: arm}\n").unwrap_err();
        assert!(format!("{err:#}").contains("beaglebone-black"), "{err:#}");
        assert!(Head::parse("- just a list").is_err());
    }

    /// What the guest's shell gets: LAVA's rewrite of the step, then a real `sh` reading the
    /// step's line and printing the argument lava-test-case would `eval`.
    fn as_the_guest_reads(step: &str) -> String {
        let mut rewritten = String::new();
        let chars: Vec<char> = step.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            if c == '$' && lava_escapes_dollar_at(&chars[i..]) {
                rewritten.push('\\');
            }
            rewritten.push(c);
        }
        let script = rewritten.replacen("lava-test-case", "f() { printf %s \"$3\"; }; f", 1);
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn a_case_reaches_eval_unchanged() {
        for line in [
            r#"test "$(uname -r)" = 6.1.0"#,
            r#"sh -c 'echo "$1 and $2x and ${3}" $0' a b c"#,
            "awk '{ print $1 }' /proc/mounts | grep -q \\ && echo `date` $HOME $$ $",
            "echo 'it'\\''s' \"q\" $10 $1_a",
        ] {
            assert_eq!(as_the_guest_reads(&Case::new("c", line).step()), line);
        }
    }

    #[test]
    fn case_names_are_what_lava_accepts() {
        assert_eq!(case_name("test -b /dev/ram0"), "test-b-dev-ram0");
        assert_eq!(case_name("no tmpfs on /tmp"), "no-tmpfs-on-tmp");
        assert_eq!(case_name("uname -r"), "uname-r");
        assert_eq!(case_name("kunit_example.test"), "kunit_example.test");
    }

    #[test]
    fn artifact_urls() {
        let path = Path::new("/t/images/x86_64/tiny/bzImage");
        assert_eq!(Artifacts::Local.url(path), "file:///t/images/x86_64/tiny/bzImage");
        let lab = Artifacts::served("https://lab.example/kardel/").unwrap();
        assert_eq!(lab.url(path), "https://lab.example/kardel/bzImage");
        assert!(Artifacts::served("ftp://x/y").unwrap_err().contains("ftp://x/y"));
        assert!(Artifacts::served("https:///x").is_err());
        assert!(Artifacts::served("https://x/y?z").is_err());
    }
}
