//! The store's SQLite index (WAL mode, so readers never wait for a writer): nodes and
//! their lineage, runs and what each ran, metrics, the last record of every definition of
//! every experiment (what `exp plan` compares with), and the file fingerprint cache.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

pub struct Index {
    conn: Connection,
}

/// What identifies a file's content without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub size: i64,
    pub mtime_ns: i64,
    pub inode: i64,
}

/// The last recorded state of one definition of an experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct DefinitionRecord {
    pub name: String,
    pub identity: String,
    pub kind: String,
    pub version: u32,
    /// Canonical parameters as JSON.
    pub params: String,
    /// `[{role, name, identity}]` as JSON.
    pub inputs: String,
    /// `[{path, hash}]` as JSON.
    pub files: String,
}

/// A Slurm job a run submitted (or found running and waited for), as last seen; a job
/// one run submitted and a later one waited for has a record in each.
#[derive(Clone, Debug, PartialEq)]
pub struct JobRecord {
    pub job: u64,
    pub run: i64,
    pub name: String,
    pub identity: String,
    /// Whether this run submitted it (rather than finding it from an earlier driver).
    pub submitted: bool,
    pub state: String,
    pub elapsed: String,
    pub reason: String,
    pub script: String,
    pub output: String,
}

/// One run of an experiment.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub id: i64,
    pub experiment: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub status: String,
    pub ran: i64,
    pub cached: i64,
    pub failed: i64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS nodes (
    identity TEXT PRIMARY KEY, kind TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,
    params TEXT NOT NULL, bytes INTEGER NOT NULL, seconds REAL NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS lineage (
    identity TEXT NOT NULL, role TEXT NOT NULL, input TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS lineage_input ON lineage(input);
CREATE INDEX IF NOT EXISTS lineage_identity ON lineage(identity);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, experiment TEXT NOT NULL, started_at INTEGER NOT NULL,
    finished_at INTEGER, status TEXT NOT NULL, ran INTEGER NOT NULL DEFAULT 0,
    cached INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS run_nodes (
    run INTEGER NOT NULL, name TEXT NOT NULL, identity TEXT NOT NULL, status TEXT NOT NULL,
    seconds REAL NOT NULL, message TEXT);
CREATE TABLE IF NOT EXISTS metrics (
    identity TEXT NOT NULL, name TEXT NOT NULL, step INTEGER, value REAL NOT NULL);
CREATE INDEX IF NOT EXISTS metrics_identity ON metrics(identity);
CREATE TABLE IF NOT EXISTS definitions (
    experiment TEXT NOT NULL, name TEXT NOT NULL, identity TEXT NOT NULL, kind TEXT NOT NULL,
    version INTEGER NOT NULL, params TEXT NOT NULL, inputs TEXT NOT NULL, files TEXT NOT NULL,
    run INTEGER NOT NULL, PRIMARY KEY (experiment, name));
CREATE TABLE IF NOT EXISTS jobs (
    job INTEGER NOT NULL, run INTEGER NOT NULL, name TEXT NOT NULL, identity TEXT NOT NULL,
    submitted INTEGER NOT NULL, state TEXT NOT NULL, elapsed TEXT NOT NULL, reason TEXT NOT NULL,
    script TEXT NOT NULL, output TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (job, run));
CREATE INDEX IF NOT EXISTS jobs_identity ON jobs(identity);
CREATE INDEX IF NOT EXISTS jobs_run ON jobs(run);
CREATE TABLE IF NOT EXISTS fingerprints (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,
    hash TEXT NOT NULL, hashed_at INTEGER NOT NULL);
";

impl Index {
    pub fn open(path: &Path) -> rusqlite::Result<Index> {
        // Two processes opening a fresh store at once (two drivers started together) race
        // to switch it to WAL and create the tables; SQLite answers the loser "locked"
        // at once, without waiting for its busy timeout, so the opening is retried.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match Index::try_open(path) {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    fn try_open(path: &Path) -> rusqlite::Result<Index> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        // A truncated or overwritten file can still open and even answer some queries;
        // SQLite's own page-level check says whether every table reads.
        let verdict: String = conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
        if verdict != "ok" {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(verdict),
            ));
        }
        Ok(Index { conn })
    }

    /// Whether `e` says the file is not a sound SQLite database (truncated, overwritten,
    /// a torn page), rather than busy or unreachable: such an index is rebuilt.
    pub fn is_damaged(e: &rusqlite::Error) -> bool {
        matches!(e, rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase))
    }

    /// Whether the node is recorded.
    pub fn has_node(&self, identity: &str) -> rusqlite::Result<bool> {
        self.conn.query_row("SELECT EXISTS (SELECT 1 FROM nodes WHERE identity = ?1)", [identity], |r| r.get(0))
    }

    /// Whether no node is recorded (a new index, or one that was lost).
    pub fn has_no_nodes(&self) -> rusqlite::Result<bool> {
        self.conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM nodes)", [], |r| r.get(0))
    }

    /// Records a definition found in a manifest where the index has none for it (the
    /// index is being rebuilt): never replaces what a run recorded.
    pub fn restore_definition(&self, experiment: &str, d: &DefinitionRecord) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO definitions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)",
            params![experiment, d.name, d.identity, d.kind, d.version, d.params, d.inputs, d.files],
        )?;
        Ok(())
    }

    pub fn fingerprint(&self, path: &str) -> rusqlite::Result<Option<(Fingerprint, String, i64)>> {
        // Asked once per file a plan reads: the statement is prepared once per connection.
        self.conn
            .prepare_cached("SELECT size, mtime_ns, inode, hash, hashed_at FROM fingerprints WHERE path = ?1")?
            .query_row([path], |r| {
                Ok((Fingerprint { size: r.get(0)?, mtime_ns: r.get(1)?, inode: r.get(2)? }, r.get(3)?, r.get(4)?))
            })
            .optional()
    }

    pub fn put_fingerprint(&self, path: &str, f: &Fingerprint, hash: &str, hashed_at: i64) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO fingerprints VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![path, f.size, f.mtime_ns, f.inode, hash, hashed_at],
        )?;
        Ok(())
    }

    /// Records a node published into the store, with its lineage and metrics.
    #[allow(clippy::too_many_arguments)]
    pub fn put_node(
        &self,
        identity: &str,
        kind: &str,
        version: u32,
        name: &str,
        params: &str,
        inputs: &[(String, String)],
        bytes: u64,
        seconds: f64,
        metrics: &[(String, Option<u64>, f64)],
    ) -> rusqlite::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO nodes VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![identity, kind, version, name, params, bytes as i64, seconds, crate::clock::now_s()],
        )?;
        tx.execute("DELETE FROM lineage WHERE identity = ?1", [identity])?;
        for (role, input) in inputs {
            tx.execute("INSERT INTO lineage VALUES (?1, ?2, ?3)", params![identity, role, input])?;
        }
        tx.execute("DELETE FROM metrics WHERE identity = ?1", [identity])?;
        for (name, step, value) in metrics {
            tx.execute(
                "INSERT INTO metrics VALUES (?1, ?2, ?3, ?4)",
                params![identity, name, step.map(|s| s as i64), value],
            )?;
        }
        exp_stages::faults::point("index");
        tx.commit()
    }

    pub fn definition(&self, experiment: &str, name: &str) -> rusqlite::Result<Option<DefinitionRecord>> {
        self.conn
            .query_row(
                "SELECT name, identity, kind, version, params, inputs, files FROM definitions WHERE experiment = ?1 AND name = ?2",
                [experiment, name],
                |r| {
                    Ok(DefinitionRecord {
                        name: r.get(0)?,
                        identity: r.get(1)?,
                        kind: r.get(2)?,
                        version: r.get(3)?,
                        params: r.get(4)?,
                        inputs: r.get(5)?,
                        files: r.get(6)?,
                    })
                },
            )
            .optional()
    }

    /// Remembers the definitions of an experiment as of a run, for the next plan's reasons.
    pub fn put_definitions(&self, experiment: &str, run: i64, defs: &[DefinitionRecord]) -> rusqlite::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        for d in defs {
            tx.execute(
                "INSERT OR REPLACE INTO definitions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![experiment, d.name, d.identity, d.kind, d.version, d.params, d.inputs, d.files, run],
            )?;
        }
        tx.commit()
    }

    pub fn start_run(&self, experiment: &str) -> rusqlite::Result<i64> {
        self.conn.execute(
            "INSERT INTO runs (experiment, started_at, status) VALUES (?1, ?2, 'running')",
            params![experiment, crate::clock::now_s()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn finish_run(&self, run: i64, status: &str, ran: usize, cached: usize, failed: usize) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE runs SET finished_at = ?2, status = ?3, ran = ?4, cached = ?5, failed = ?6 WHERE id = ?1",
            params![run, crate::clock::now_s(), status, ran as i64, cached as i64, failed as i64],
        )?;
        Ok(())
    }

    pub fn put_run_node(
        &self,
        run: i64,
        name: &str,
        identity: &str,
        status: &str,
        seconds: f64,
        message: Option<&str>,
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO run_nodes VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![run, name, identity, status, seconds, message],
        )?;
        Ok(())
    }

    /// Records a job, or what its state is now.
    pub fn put_job(&self, j: &JobRecord) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO jobs VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT(job, run) DO UPDATE SET state = ?6, elapsed = ?7, reason = ?8, updated_at = ?11",
            params![
                j.job as i64,
                j.run,
                j.name,
                j.identity,
                j.submitted,
                j.state,
                j.elapsed,
                j.reason,
                j.script,
                j.output,
                crate::clock::now_s()
            ],
        )?;
        Ok(())
    }

    /// What a job's state is now.
    pub fn update_job(&self, job: u64, state: &str, elapsed: &str, reason: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE jobs SET state = ?2, elapsed = CASE WHEN ?3 = '' THEN elapsed ELSE ?3 END, reason = ?4, updated_at = ?5 WHERE job = ?1",
            params![job as i64, state, elapsed, reason, crate::clock::now_s()],
        )?;
        Ok(())
    }

    fn jobs_where(&self, clause: &str, value: &dyn rusqlite::ToSql) -> rusqlite::Result<Vec<JobRecord>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT job, run, name, identity, submitted, state, elapsed, reason, script, output FROM jobs WHERE {clause} ORDER BY job"
        ))?;
        let rows = stmt.query_map([value], |r| {
            Ok(JobRecord {
                job: r.get::<_, i64>(0)? as u64,
                run: r.get(1)?,
                name: r.get(2)?,
                identity: r.get(3)?,
                submitted: r.get(4)?,
                state: r.get(5)?,
                elapsed: r.get(6)?,
                reason: r.get(7)?,
                script: r.get(8)?,
                output: r.get(9)?,
            })
        })?;
        rows.collect()
    }

    /// The jobs of a run, in submission order.
    pub fn jobs_of_run(&self, run: i64) -> rusqlite::Result<Vec<JobRecord>> {
        self.jobs_where("run = ?1", &run)
    }

    /// The jobs that computed (or tried to compute) an identity, oldest first.
    pub fn jobs_of(&self, identity: &str) -> rusqlite::Result<Vec<JobRecord>> {
        self.jobs_where("identity = ?1", &identity)
    }

    pub fn runs(&self, limit: usize) -> rusqlite::Result<Vec<RunRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, experiment, started_at, finished_at, status, ran, cached, failed FROM runs ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(RunRecord {
                id: r.get(0)?,
                experiment: r.get(1)?,
                started_at: r.get(2)?,
                finished_at: r.get(3)?,
                status: r.get(4)?,
                ran: r.get(5)?,
                cached: r.get(6)?,
                failed: r.get(7)?,
            })
        })?;
        rows.collect()
    }

    /// Every identity the index knows, for `gc` and `verify`.
    pub fn identities(&self) -> rusqlite::Result<Vec<String>> {
        let mut stmt = self.conn.prepare("SELECT identity FROM nodes")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect()
    }

    pub fn forget_node(&self, identity: &str) -> rusqlite::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        for table in ["nodes", "lineage", "metrics"] {
            tx.execute(&format!("DELETE FROM {table} WHERE identity = ?1"), [identity])?;
        }
        tx.commit()
    }

    /// Identities recorded as the last state of any experiment's definitions: what `gc`
    /// keeps by default.
    pub fn recorded_identities(&self) -> rusqlite::Result<Vec<String>> {
        let mut stmt = self.conn.prepare("SELECT DISTINCT identity FROM definitions")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect()
    }

    /// Nodes that used `identity` as an input: (their identity, the role, their name).
    pub fn users(&self, identity: &str) -> rusqlite::Result<Vec<(String, String, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT l.identity, l.role, COALESCE(n.name, '?') FROM lineage l LEFT JOIN nodes n ON n.identity = l.identity WHERE l.input = ?1 ORDER BY 3",
        )?;
        let rows = stmt.query_map([identity], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect()
    }

    pub fn metrics(&self, identity: &str) -> rusqlite::Result<Vec<(String, Option<i64>, f64)>> {
        let mut stmt =
            self.conn.prepare("SELECT name, step, value FROM metrics WHERE identity = ?1 ORDER BY name, step")?;
        let rows = stmt.query_map([identity], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect()
    }
}
