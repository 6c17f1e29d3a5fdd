//! A QMP client: QEMU's JSON monitor on a Unix socket ([`crate::devices::monitor_socket`]),
//! enough to stop a machine, save it to a file and go on (the runner's warm starts).

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};

pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connects to the monitor at `path` (QEMU creates it as it starts: waits up to `timeout`
    /// for it, unless `gone` says QEMU is), reads the greeting and leaves the capabilities
    /// negotiation.
    pub fn connect(path: &Path, timeout: Duration, gone: impl Fn() -> bool) -> Result<Qmp> {
        let start = Instant::now();
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(stream) => break stream,
                Err(_) if gone() => {
                    bail!("QEMU ended before its monitor {} was up", path.display())
                }
                Err(_) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(1)),
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("connecting to QMP {}", path.display()))
                }
            }
        };
        stream.set_read_timeout(Some(timeout))?;
        let mut qmp = Qmp { reader: BufReader::new(stream.try_clone()?), writer: stream };
        let greeting = qmp.read_message()?;
        if greeting.get("QMP").is_none() {
            bail!("QMP {}: no greeting, got {greeting}", path.display());
        }
        qmp.execute("qmp_capabilities", json!({}))?;
        Ok(qmp)
    }

    /// Runs `command` with `arguments` and returns its `return` value; QEMU's `error` is an error
    /// naming the command. Events that arrive meanwhile are passed over.
    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value> {
        let message = json!({ "execute": command, "arguments": arguments });
        // one write: QEMU wakes for each, and reads its monitor a byte at a time
        let line = format!("{message}\n");
        self.writer.write_all(line.as_bytes()).with_context(|| format!("QMP {command}"))?;
        loop {
            let reply = self.read_message().with_context(|| format!("QMP {command}"))?;
            if let Some(value) = reply.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = reply.get("error") {
                bail!("QMP {command}: {}", error["desc"].as_str().unwrap_or("failed"));
            }
        }
    }

    fn read_message(&mut self) -> Result<Value> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            bail!("QEMU closed the monitor");
        }
        Ok(serde_json::from_str(&line)?)
    }

    /// Saves the machine's state to `file` (QEMU's migration stream, through `cat`), waiting
    /// up to `timeout` for it to complete; a completed save leaves the machine stopped. RAM in a
    /// shared file ([`crate::devices::memory_file`]) is left out: the file holds it.
    pub fn save_to(&mut self, file: &Path, timeout: Duration) -> Result<()> {
        self.leave_out_shared_memory()?;
        let uri = format!("exec:cat > {}", crate::shell_quote(&file.to_string_lossy()));
        self.execute("migrate", json!({ "uri": uri }))?;
        let start = Instant::now();
        loop {
            let state = self.execute("query-migrate", json!({}))?;
            match state["status"].as_str().unwrap_or("") {
                "completed" => return Ok(()),
                "failed" | "cancelled" => {
                    bail!(
                        "saving the machine failed: {}",
                        state["error-desc"].as_str().unwrap_or("")
                    )
                }
                _ if start.elapsed() > timeout => bail!("saving the machine took over {timeout:?}"),
                _ => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    }

    /// Starts loading the state [`Qmp::save_to`] wrote to `file` into a QEMU started with
    /// [`restore_args`]; the machine runs once it is loaded.
    pub fn restore_from(&mut self, file: &Path) -> Result<()> {
        self.leave_out_shared_memory()?;
        let uri = format!("exec:cat {}", crate::shell_quote(&file.to_string_lossy()));
        self.execute("migrate-incoming", json!({ "uri": uri }))?;
        Ok(())
    }

    /// Both ends of a save must agree on it: the stream's layout depends on it.
    fn leave_out_shared_memory(&mut self) -> Result<()> {
        let capability = json!({ "capability": "x-ignore-shared", "state": true });
        self.execute("migrate-set-capabilities", json!({ "capabilities": [capability] }))?;
        Ok(())
    }
}

/// QEMU's arguments that make it wait for a saved machine ([`Qmp::restore_from`]) instead of
/// booting.
pub fn restore_args() -> Vec<std::ffi::OsString> {
    vec!["-incoming".into(), "defer".into()]
}
