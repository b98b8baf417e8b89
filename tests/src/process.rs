//! A ferry child process whose output is captured and which is killed when
//! dropped.

use std::{
    fs::File,
    io::{BufRead, BufReader, LineWriter, Read, Write},
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant},
};

/// How many lines of a process's output to show when a test fails.
const TAIL_LINES: usize = 80;

#[derive(Default)]
struct Captured {
    stdout: String,
    stderr: String,
}

/// A running `ferry-api` or `ferry-worker`.
pub struct FerryProcess {
    label: String,
    child: Child,
    captured: Arc<Mutex<Captured>>,
    readers: Vec<JoinHandle<()>>,
    exit: Option<ExitStatus>,
    /// Set when a panic message already carried the output, so that Drop
    /// does not print it a second time.
    tail_shown: bool,
}

impl FerryProcess {
    /// Starts `program` with exactly the given `FERRY_*` settings: any
    /// `FERRY_*` or `RUST_LOG` variable of the test's own environment is
    /// removed first, so that a developer's shell cannot change the results.
    ///
    /// On Linux the child is also killed when the thread that started it
    /// exits (`PR_SET_PDEATHSIG`), so call this from the test's own thread
    /// (the body of a `#[tokio::test]`), not from `spawn_blocking` or a
    /// short-lived thread.
    pub fn spawn(
        label: &str,
        program: &Path,
        args: &[&str],
        env: &[(String, String)],
        cwd: &Path,
    ) -> Self {
        Self::try_spawn(label, program, args, env, cwd, None).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`FerryProcess::spawn`] that returns why the process cannot be started
    /// instead of panicking, and that also copies every line of its output to
    /// `log_file` (created or truncated) when one is given.
    pub fn try_spawn(
        label: &str,
        program: &Path,
        args: &[&str],
        env: &[(String, String)],
        cwd: &Path,
        log_file: Option<&Path>,
    ) -> Result<Self, String> {
        let log = log_file
            .map(|path| {
                std::fs::File::create(path)
                    .map(|file| Arc::new(Mutex::new(LineWriter::new(file))))
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))
            })
            .transpose()?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars_os() {
            let inherited = key.to_string_lossy();
            if inherited.starts_with("FERRY_") || inherited == "RUST_LOG" {
                cmd.env_remove(&key);
            }
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe and touches no memory of the
            // parent. It makes the kernel SIGKILL the child when the thread
            // that started it exits, so an interrupted `cargo test` (where no
            // Drop runs) does not leave ferry processes behind.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let captured = Arc::new(Mutex::new(Captured::default()));
        let echo = std::env::var_os("FERRY_TEST_ECHO").is_some_and(|v| v == "1");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let readers = vec![
            read_lines(
                stdout,
                captured.clone(),
                false,
                echo.then(|| format!("{label} stdout")),
                log.clone(),
            ),
            read_lines(
                stderr,
                captured.clone(),
                true,
                echo.then(|| format!("{label} stderr")),
                log,
            ),
        ];
        Ok(Self {
            label: label.to_owned(),
            child,
            captured,
            readers,
            exit: None,
            tail_shown: false,
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pids fit in i32")
    }

    /// Everything the process printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.captured.lock().expect("output lock").stdout.clone()
    }

    /// Everything the process printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.captured.lock().expect("output lock").stderr.clone()
    }

    /// Both streams, stdout first.
    pub fn output(&self) -> String {
        let captured = self.captured.lock().expect("output lock");
        format!("{}{}", captured.stdout, captured.stderr)
    }

    /// The process's exit status, if it has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().expect("waitpid on a child works");
        }
        self.exit
    }

    /// Waits for a stdout line containing `needle` and returns it. Panics,
    /// showing the output, if the process exits or `timeout` passes first.
    pub async fn wait_for_stdout_line(&mut self, needle: &str, timeout: Duration) -> String {
        let line = self.try_wait_for_stdout_line(needle, timeout).await;
        // A failure's message carries the output already.
        self.tail_shown = line.is_err();
        line.unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`FerryProcess::wait_for_stdout_line`] that returns the failure, with
    /// the output, instead of panicking.
    pub async fn try_wait_for_stdout_line(
        &mut self,
        needle: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.stdout().lines().find(|l| l.contains(needle)) {
                return Ok(line.to_owned());
            }
            if let Some(exited) = self.exited(&format!(" before printing `{needle}`")) {
                // The line may have come between the look above and the
                // exit; the readers have drained the pipes by now.
                if let Some(line) = self.stdout().lines().find(|l| l.contains(needle)) {
                    return Ok(line.to_owned());
                }
                return Err(exited);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not print `{needle}` within {timeout:?}:\n{}",
                    self.label,
                    self.tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Fails, with the output, if the process has exited: whoever waits on it
    /// should stop waiting.
    pub fn ensure_running(&mut self) -> Result<(), String> {
        self.exited("").map_or(Ok(()), Err)
    }

    /// If the process has exited: `<label> exited (<status>)<when>:` and its
    /// output.
    fn exited(&mut self, when: &str) -> Option<String> {
        let status = self.exit_status()?;
        // Let the readers drain the pipes so the message shows everything.
        self.join_readers();
        Some(format!(
            "{} exited ({status}){when}:\n{}",
            self.label,
            self.tail()
        ))
    }

    /// Sends a signal (e.g. `libc::SIGTERM`) to the process.
    pub fn signal(&mut self, signal: i32) {
        if self.exit_status().is_some() {
            return;
        }
        // SAFETY: kill(2) has no memory effects; the pid is our own child,
        // which has not been reaped (exit_status() above would have seen it),
        // so it cannot have been reused by another process.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed", self.pid());
    }

    /// SIGTERM: ask the process to shut down gracefully.
    pub fn terminate(&mut self) {
        self.signal(libc::SIGTERM);
    }

    /// SIGKILL, then reaps the process: it can do nothing more afterwards.
    pub fn kill(&mut self) {
        if self.exit_status().is_none() {
            let _ = self.child.kill();
            self.exit = self.child.wait().ok();
        }
        self.join_readers();
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                self.join_readers();
                return status;
            }
            self.tail_shown = Instant::now() >= deadline;
            assert!(
                !self.tail_shown,
                "{} did not exit within {timeout:?}:\n{}",
                self.label,
                self.tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines of both streams, for failure messages.
    pub fn tail(&self) -> String {
        let captured = self.captured.lock().expect("output lock");
        let mut out = String::new();
        for (name, text) in [("stdout", &captured.stdout), ("stderr", &captured.stderr)] {
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(TAIL_LINES);
            out.push_str(&format!(
                "--- {} {name} (last {} lines) ---\n",
                self.label,
                lines.len() - start
            ));
            for line in &lines[start..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for FerryProcess {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        self.kill();
        if panicking && !self.tail_shown {
            // The test failed: its output is what explains why.
            eprintln!("{}", self.tail());
        }
    }
}

/// The file a process's output is copied to, shared by its two readers.
type LogFile = Arc<Mutex<LineWriter<File>>>;

fn read_lines(
    stream: impl Read + Send + 'static,
    captured: Arc<Mutex<Captured>>,
    is_stderr: bool,
    echo: Option<String>,
    log: Option<LogFile>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    if let Some(prefix) = &echo {
                        eprint!("[{prefix}] {line}");
                    }
                    if let Some(log) = &log
                        && let Ok(mut log) = log.lock()
                    {
                        let _ = writeln!(log, "{}", line.trim_end_matches('\n'));
                    }
                    let mut captured = captured.lock().expect("output lock");
                    let target = if is_stderr {
                        &mut captured.stderr
                    } else {
                        &mut captured.stdout
                    };
                    target.push_str(&line);
                    if !line.ends_with('\n') {
                        target.push('\n');
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::{path::Path, time::Duration};

    use super::FerryProcess;

    const WAIT: Duration = Duration::from_secs(10);

    fn sh(script: &str, dir: &Path, log_file: Option<&Path>) -> FerryProcess {
        FerryProcess::try_spawn(
            "sh",
            Path::new("/bin/sh"),
            &["-c", script],
            &[],
            dir,
            log_file,
        )
        .expect("/bin/sh starts")
    }

    #[tokio::test]
    async fn output_is_logged_and_an_exit_reported() {
        let dir = tempfile::tempdir().expect("a directory");
        let log = dir.path().join("sh-0.log");
        let mut p = sh("echo ready; echo oops >&2", dir.path(), Some(&log));
        let line = p.try_wait_for_stdout_line("ready", WAIT).await;
        assert_eq!(line.as_deref(), Ok("ready"));
        p.wait_exit(WAIT).await;
        let exited = p.ensure_running().expect_err("sh has exited");
        assert!(
            exited.starts_with("sh exited (exit status: 0):\n"),
            "{exited}"
        );
        let logged = std::fs::read_to_string(&log).expect("the log file");
        assert!(
            logged.contains("ready\n") && logged.contains("oops\n"),
            "{logged}"
        );
    }

    #[tokio::test]
    async fn waiting_for_a_line_fails_when_the_process_exits() {
        let dir = tempfile::tempdir().expect("a directory");
        let mut p = sh("echo starting; exit 3", dir.path(), None);
        let err = p
            .try_wait_for_stdout_line("listening", WAIT)
            .await
            .expect_err("sh exits without listening");
        assert!(
            err.starts_with("sh exited (exit status: 3) before printing `listening`:\n")
                && err.contains("starting"),
            "{err}"
        );
        p.ensure_running().expect_err("still exited");
    }
}
