//! Installing the peers into a scratch folder, never globally:
//! graphile-worker with `npm ci` from the committed `package-lock.json`, and
//! pgqueuer into a Python venv with `pip install -r requirements.txt`, whose
//! every package is pinned.
//!
//! The scripts are copied there on every run, so that an edit to them takes
//! effect at once; the dependencies are installed again only when the lock
//! file, the requirements or the interpreter's version differ from those of
//! the last installation, which a stamp file beside them records.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use tokio::process::Command;

/// The peers' sources in this checkout.
const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/peers");

/// Written after a successful installation: what it was made from.
const STAMP: &str = ".ferry-bench-installed";

/// Where the installed peers are, and what they are.
#[derive(Debug, Clone)]
pub struct Installed {
    pub node: PathBuf,
    pub graphile_script: PathBuf,
    /// The exact version `package.json` pins.
    pub graphile_version: String,
    /// `graphile-worker 0.17.3 on Node.js v20.20.2`, for the report.
    pub graphile_describe: String,
    /// The venv's interpreter.
    pub python: PathBuf,
    pub pgqueuer_script: PathBuf,
    /// The exact version `requirements.txt` pins.
    pub pgqueuer_version: String,
    /// `pgqueuer 1.6.0 on Python 3.11.7`, for the report.
    pub pgqueuer_describe: String,
}

/// Installs both peers under `dir` (or finds them installed) and copies
/// their scripts there.
pub async fn install(dir: &Path) -> anyhow::Result<Installed> {
    let graphile = dir.join("graphile");
    let node_version = version_of("node", &["--version"]).await?;
    let manifest = copy_sources("graphile", &graphile, &["package.json"])?;
    let lock = copy_sources("graphile", &graphile, &["package-lock.json"])?;
    copy_sources("graphile", &graphile, &["peer.mjs"])?;
    let stamp = format!("{node_version}\n{manifest}{lock}");
    if !installed(&graphile, "node_modules", &stamp) {
        println!(
            "peers: installing graphile-worker into {}",
            graphile.display()
        );
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&graphile))
        .await?;
        fs::write(graphile.join(STAMP), &stamp)?;
    }
    let package: serde_json::Value = serde_json::from_str(&manifest)?;
    let graphile_version = package["dependencies"]["graphile-worker"]
        .as_str()
        .context("package.json pins no graphile-worker")?
        .to_owned();

    let pgqueuer = dir.join("pgqueuer");
    let python_version = version_of("python3", &["--version"]).await?;
    let requirements = copy_sources("pgqueuer", &pgqueuer, &["requirements.txt"])?;
    copy_sources("pgqueuer", &pgqueuer, &["peer.py"])?;
    let stamp = format!("{python_version}\n{requirements}");
    let venv = pgqueuer.join("venv");
    if !installed(&pgqueuer, "venv", &stamp) {
        println!("peers: installing pgqueuer into {}", venv.display());
        // A venv of another interpreter or with other packages is rebuilt
        // from nothing rather than patched.
        if venv.exists() {
            fs::remove_dir_all(&venv)?;
        }
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv)).await?;
        run(Command::new(venv.join("bin").join("pip")).args([
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            "-r",
            &pgqueuer.join("requirements.txt").to_string_lossy(),
        ]))
        .await?;
        fs::write(pgqueuer.join(STAMP), &stamp)?;
    }
    let pgqueuer_version = requirements
        .lines()
        .find_map(|line| line.trim().strip_prefix("pgqueuer=="))
        .context("requirements.txt pins no pgqueuer")?
        .to_owned();

    Ok(Installed {
        node: PathBuf::from("node"),
        graphile_script: graphile.join("peer.mjs"),
        graphile_describe: format!("graphile-worker {graphile_version} on Node.js {node_version}"),
        graphile_version,
        python: venv.join("bin").join("python"),
        pgqueuer_script: pgqueuer.join("peer.py"),
        pgqueuer_describe: format!("pgqueuer {pgqueuer_version} on {python_version}"),
        pgqueuer_version,
    })
}

/// Copies `files` of the peer `name` into `to`, and returns the text of
/// them all, which the stamp compares.
fn copy_sources(name: &str, to: &Path, files: &[&str]) -> anyhow::Result<String> {
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let mut text = String::new();
    for file in files {
        let from = Path::new(SOURCE).join(name).join(file);
        let content =
            fs::read_to_string(&from).with_context(|| format!("cannot read {}", from.display()))?;
        fs::write(to.join(file), &content)?;
        text.push_str(&content);
    }
    Ok(text)
}

/// Whether `dir` holds `what` from an installation made from `stamp`.
fn installed(dir: &Path, what: &str, stamp: &str) -> bool {
    dir.join(what).is_dir()
        && fs::read_to_string(dir.join(STAMP)).is_ok_and(|recorded| recorded == stamp)
}

/// The first line a tool prints about its version, e.g. `v20.20.2`.
async fn version_of(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .await
        .with_context(|| format!("`{program}` is needed for the peers"))?;
    // Python before 3.4 printed its version on stderr.
    let text = [output.stdout, output.stderr].concat();
    Ok(String::from_utf8_lossy(&text)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned())
}

async fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .await
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} exited with {status}");
    }
    Ok(())
}
