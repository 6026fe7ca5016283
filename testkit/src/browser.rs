//! A real headless browser for the page tests: Debian's `chromium`, driven by
//! `tests/browser/driver.mjs` (playwright-core, pinned in `tests/browser/package.json`, using
//! the system Chromium through `executablePath`: no browser download). `tests/run` installs
//! both (`apt-get install chromium`, `npm ci` in `tests/browser`). Without them a test skips
//! loudly; under CI (`CI=true`) it fails.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

use crate::{in_ci, repo};

/// A running driver with one page.
pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// The browser's version, as it reported it.
    pub version: String,
}

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HVSCOPE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn missing(msg: &str) -> Option<Browser> {
    assert!(!in_ci(), "{msg}");
    eprintln!("SKIPPED: {msg}");
    None
}

/// Where the page tests put screenshots: `target/browser-artifacts/`.
pub fn artifacts_dir() -> PathBuf {
    let d = crate::target_dir()
        .parent()
        .expect("target dir")
        .join("browser-artifacts");
    std::fs::create_dir_all(&d).expect("create target/browser-artifacts");
    d
}

impl Browser {
    /// Starts the driver and the browser (`ignore_https_errors` for a test CA the browser does
    /// not know). `None` (after a loud message) when Chromium, node or playwright-core is
    /// missing outside CI; panics in CI.
    pub fn launch(ignore_https_errors: bool) -> Option<Self> {
        let Some(exe) = chromium() else {
            return missing("chromium is not installed (tests/run installs Debian's `chromium`)");
        };
        let dir = repo().join("tests/browser");
        if !dir.join("node_modules/playwright-core").is_dir() {
            return missing(
                "tests/browser/node_modules/playwright-core is missing (tests/run runs `npm ci` there)",
            );
        }
        let child = Command::new("node")
            .arg(dir.join("driver.mjs"))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => return missing(&format!("node cannot be started: {e}")),
        };
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut b = Self {
            child,
            stdin,
            stdout,
            version: String::new(),
        };
        match b.call(
            json!({"op": "launch", "executable": exe, "ignore_https_errors": ignore_https_errors}),
        ) {
            Ok(v) => b.version = v.as_str().unwrap_or_default().to_owned(),
            Err(e) => return missing(&format!("chromium {} does not start: {e}", exe.display())),
        }
        Some(b)
    }

    /// Sends one command; the driver's answer value, or its error.
    pub fn call(&mut self, cmd: Value) -> Result<Value, String> {
        writeln!(self.stdin, "{cmd}").map_err(|e| format!("driver stdin: {e}"))?;
        self.stdin.flush().map_err(|e| e.to_string())?;
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| format!("driver stdout: {e}"))?;
        if line.is_empty() {
            return Err("the driver exited".into());
        }
        let v: Value = serde_json::from_str(&line).map_err(|e| format!("{e}: {line}"))?;
        if v["ok"] == true {
            Ok(v["value"].clone())
        } else {
            Err(format!("{} (console: {})", v["error"], v["console"]))
        }
    }

    /// Opens `url`; returns the HTTP status.
    pub fn goto(&mut self, url: &str) -> Result<u16, String> {
        let v = self.call(json!({"op": "goto", "url": url}))?;
        Ok(v.as_u64().unwrap_or(0) as u16)
    }

    /// Waits until the page expression `expr` is truthy (at most `timeout_ms`); its value.
    pub fn wait(&mut self, expr: &str, timeout_ms: u64) -> Result<Value, String> {
        self.call(json!({"op": "wait", "expr": expr, "timeout_ms": timeout_ms}))
    }

    /// Evaluates `expr` in the page.
    pub fn eval(&mut self, expr: &str) -> Result<Value, String> {
        self.call(json!({"op": "eval", "expr": expr}))
    }

    /// Fills the form field `selector`.
    pub fn fill(&mut self, selector: &str, value: &str) -> Result<(), String> {
        self.call(json!({"op": "fill", "selector": selector, "value": value}))
            .map(drop)
    }

    /// Clicks `selector`.
    pub fn click(&mut self, selector: &str) -> Result<(), String> {
        self.call(json!({"op": "click", "selector": selector}))
            .map(drop)
    }

    /// Saves a full-page screenshot at `path`.
    pub fn screenshot(&mut self, path: &std::path::Path) -> Result<(), String> {
        self.call(json!({"op": "screenshot", "path": path}))
            .map(drop)
    }

    /// Saves a screenshot of what the window shows (1400 x 1000) at `path`.
    pub fn screenshot_window(&mut self, path: &std::path::Path) -> Result<(), String> {
        self.call(json!({"op": "screenshot", "path": path, "full_page": false}))
            .map(drop)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.call(json!({"op": "close"}));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
