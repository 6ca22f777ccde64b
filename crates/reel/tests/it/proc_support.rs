//! `reel` role processes in tests: started with their stdout read line by line, killed
//! when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A role process, killed when dropped.
pub(crate) struct Role {
    pub(crate) child: Child,
    lines: mpsc::Receiver<String>,
}

impl Role {
    /// `reel <args…>`.
    pub(crate) fn start(args: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_reel"));
        cmd.args(args);
        Self::spawn(cmd)
    }

    /// Spawns `cmd` with `RUST_LOG=warn`, its stdout read line by line, its stderr the
    /// test's.
    pub(crate) fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The startup lines up to "Press Ctrl-C"; `Err` with the lines read so far if the
    /// process ended (or said nothing for 30 s) first.
    pub(crate) fn read_banner(&self) -> Result<Vec<String>, Vec<String>> {
        let mut out = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(30)) {
            let done = l.starts_with("Press Ctrl-C");
            out.push(l);
            if done {
                return Ok(out);
            }
        }
        Err(out)
    }

    /// The startup lines up to "Press Ctrl-C".
    pub(crate) fn banner(&self) -> Vec<String> {
        self.read_banner()
            .unwrap_or_else(|out| panic!("no banner: {out:?}"))
    }

    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The value after a banner label, e.g. "service" → "https://127.0.0.1:1234".
pub(crate) fn field(banner: &[String], label: &str) -> String {
    banner
        .iter()
        .find_map(|l| l.trim().strip_prefix(label).map(|r| r.trim().to_owned()))
        .unwrap_or_else(|| panic!("no {label} in {banner:?}"))
}

/// The `host:port` of a URL.
pub(crate) fn host_of(url: &str) -> String {
    url.split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_default()
        .to_owned()
}
