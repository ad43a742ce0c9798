//! A small builder around the `exp` binary and a temporary folder.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the folder with `experiments/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("engine/ has a parent").to_path_buf()
}

pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `exp` with `args` in `dir`, with colour off unless asked for.
pub fn exp(dir: &Path, args: &[&str]) -> Output {
    exp_with_env(dir, args, &[])
}

/// [`exp`] with extra environment variables.
pub fn exp_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_exp"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .output()
        .expect("the exp binary runs");
    Output {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A temporary folder with files written into it.
pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir { tmp: tempfile::tempdir().expect("a temporary folder") }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create folder");
        }
        std::fs::write(&p, contents).expect("write fixture");
        p
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name)).expect("read back")
    }

    pub fn exp(&self, args: &[&str]) -> Output {
        exp(self.path(), args)
    }

    /// A metric of a stored node, as `exp show FILE NODE` prints it.
    pub fn metric(&self, file: &str, node: &str, metric: &str) -> String {
        shown_metric(&self.exp(&["show", file, node]).stdout, metric)
    }

    /// The artifact folder of a stored node, from `exp show FILE NODE`.
    pub fn artifact(&self, file: &str, node: &str) -> PathBuf {
        shown_artifact(self.path(), &self.exp(&["show", file, node]).stdout)
    }
}

/// A metric in what `exp show … NODE` printed.
pub fn shown_metric(shown: &str, metric: &str) -> String {
    shown
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{metric} = ")).map(str::to_string))
        .unwrap_or_else(|| panic!("{metric} in {shown}"))
}

/// The artifact folder in what `exp show … NODE` printed; a relative store path is
/// relative to `dir`, where `exp` ran.
pub fn shown_artifact(dir: &Path, shown: &str) -> PathBuf {
    let stored = shown
        .lines()
        .find_map(|l| l.strip_prefix("stored at "))
        .and_then(|l| l.split(" (").next())
        .unwrap_or_else(|| panic!("not stored: {shown}"));
    dir.join(stored).join("artifact")
}

/// What `exp plan` prints for definition `name`: `run`, `cached` or `blocked`.
pub fn plan_state(plan: &str, name: &str) -> String {
    plan.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{name} in {plan}"))
        .to_string()
}

/// Chromium's rendering of a local page, as its DOM after scripts and layout; `None`
/// when no Chromium is installed (CI installs it and sets `EXP_REQUIRE_BROWSER`).
pub fn headless_dom(page: &Path) -> Option<String> {
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| std::process::Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()));
    let Some(browser) = browser else {
        assert!(
            std::env::var_os("EXP_REQUIRE_BROWSER").is_none(),
            "EXP_REQUIRE_BROWSER is set but no Chromium is installed"
        );
        eprintln!("no Chromium installed: the HTML report is not rendered in a browser by this run");
        return None;
    };
    let out = std::process::Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}
