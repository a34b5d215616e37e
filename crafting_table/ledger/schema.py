"""The ledger's schema, as an ordered list of migrations.

``PRAGMA user_version`` holds how many migrations a file has seen; opening
a ledger applies the rest, each in its own transaction. Never edit a
migration that has shipped: append a new one.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the reference tables.
    """
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        token_hash TEXT NOT NULL UNIQUE,
        is_admin INTEGER NOT NULL DEFAULT 0,
        ip_cidrs_json TEXT NOT NULL DEFAULT '[]',
        created_at REAL NOT NULL,
        last_used_at REAL,
        revoked_at REAL
    );

    CREATE TABLE projects (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        spec_json TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX projects_owner ON projects(owner, name);

    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        project_name TEXT NOT NULL REFERENCES projects(name) ON DELETE CASCADE,
        owner TEXT NOT NULL,
        subproject TEXT NOT NULL,
        recipe TEXT NOT NULL,
        ref TEXT,
        sha TEXT,
        status TEXT NOT NULL CHECK (status IN
            ('queued', 'running', 'succeeded', 'failed', 'timed_out', 'canceled')),
        exit_code INTEGER,
        error TEXT,
        recipe_snapshot_json TEXT NOT NULL,
        trigger TEXT NOT NULL DEFAULT 'api',
        retry_of TEXT REFERENCES jobs(id) ON DELETE SET NULL,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        findings_count INTEGER NOT NULL DEFAULT 0,
        log_path TEXT NOT NULL,
        log_bytes INTEGER NOT NULL DEFAULT 0,
        pgid INTEGER,
        proc_start INTEGER,
        kill_mark TEXT
    );
    CREATE INDEX jobs_queue ON jobs(status, project_name, id);
    CREATE INDEX jobs_history ON jobs(project_name, subproject, recipe, id);
    CREATE INDEX jobs_owner ON jobs(owner, id);

    CREATE TABLE findings (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        severity TEXT,
        file TEXT,
        line INTEGER,
        col INTEGER,
        code TEXT,
        message TEXT NOT NULL,
        suggested_fix TEXT,
        fingerprint TEXT NOT NULL,
        identity TEXT NOT NULL,
        outside INTEGER NOT NULL DEFAULT 0,
        tool TEXT,
        raw_json TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    );
    CREATE INDEX findings_job ON findings(job_id, id);

    CREATE TABLE patch_attempts (
        id INTEGER PRIMARY KEY,
        finding_id INTEGER NOT NULL REFERENCES findings(id) ON DELETE CASCADE,
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        project_name TEXT NOT NULL REFERENCES projects(name) ON DELETE CASCADE,
        owner TEXT NOT NULL,
        attempt_number INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('drafting', 'apply_failed',
            'verifying', 'verify_failed', 'pushing', 'pr_opened', 'failed')),
        branch TEXT,
        diff TEXT,
        explanation TEXT,
        confidence REAL,
        verify_job_id TEXT REFERENCES jobs(id) ON DELETE SET NULL,
        pr_url TEXT,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (finding_id, attempt_number)
    );
    CREATE INDEX patch_attempts_project ON patch_attempts(project_name, id);

    CREATE TABLE digest_runs (
        id INTEGER PRIMARY KEY,
        date TEXT NOT NULL,
        project_name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
        recipients_json TEXT NOT NULL DEFAULT '[]',
        subject TEXT,
        error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        sent_at REAL,
        UNIQUE (date, project_name)
    );
    """,
    # 2: triggers: webhook deliveries already handled, and the last fire of
    # each schedule.
    """
    CREATE TABLE webhook_deliveries (
        forge TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        project_name TEXT NOT NULL REFERENCES projects(name) ON DELETE CASCADE,
        received_at REAL NOT NULL,
        PRIMARY KEY (forge, delivery_id)
    );
    CREATE INDEX webhook_deliveries_age ON webhook_deliveries(received_at);

    CREATE TABLE schedule_fires (
        project_name TEXT NOT NULL REFERENCES projects(name) ON DELETE CASCADE,
        schedule_key TEXT NOT NULL,
        last_fire REAL NOT NULL,
        PRIMARY KEY (project_name, schedule_key)
    );
    """,
    # 3: each project's recipe identity (uid and gid = base + slot). A slot
    # is never handed out twice, even after its project is deleted: what a
    # deleted project's recipes left outside its folders (in /tmp, say)
    # must not become readable to the next project.
    """
    CREATE TABLE recipe_identities (
        slot INTEGER PRIMARY KEY AUTOINCREMENT,
        project_name TEXT NOT NULL UNIQUE
            REFERENCES projects(name) ON DELETE CASCADE
    );
    """,
    # 4: whether a finished job's log was parsed into findings. A run whose
    # parse failed or was cut short has none, and is no baseline for the
    # next run's new findings. Jobs finished before this knew no such
    # failure apart from their error text; they count as parsed.
    """
    ALTER TABLE jobs ADD COLUMN parsed INTEGER NOT NULL DEFAULT 1;
    """,
    # 5: why a parsed run stopped before its tool had looked at everything
    # (NULL: it did not). Such a run says nothing about what it did not
    # reach, so none of the previous run's findings count as fixed by it.
    # Jobs finished before this get the rule of ledger.findings.stopped_short
    # as it stood when this was written, without its detail.
    """
    ALTER TABLE jobs ADD COLUMN stopped_short TEXT;
    UPDATE jobs SET stopped_short = 'the recipe reached its deadline'
        WHERE parsed AND status = 'timed_out';
    UPDATE jobs SET stopped_short = 'the tool stopped before it got to analyse'
        WHERE parsed AND stopped_short IS NULL AND EXISTS (
            SELECT 1 FROM findings AS f WHERE f.job_id = jobs.id AND (
                f.kind = 'recipe_fail'
                OR (f.kind = 'lint' AND f.severity = 'error' AND (
                    jobs.recipe IN ('build', 'test')
                    OR f.code IS NULL
                    OR f.code GLOB 'E[0-9][0-9][0-9][0-9]'
                    OR f.code IN ('typecheck', 'syntax', 'invalid-syntax')))));
    """,
    # 6: what deleted projects had finished and found, so that the counters
    # of /metrics (ledger.metrics) never go down: Prometheus would read a
    # fall as a reset and count the whole value again. A finished job keeps
    # its status, recipe and run time; findings only their count by kind.
    # The triggers also fire for the rows a project's deletion cascades to.
    """
    CREATE TABLE retired_jobs (
        status   TEXT NOT NULL,
        recipe   TEXT NOT NULL,
        duration REAL
    );
    CREATE TABLE retired_findings (
        kind TEXT PRIMARY KEY,
        n    INTEGER NOT NULL
    );
    CREATE TRIGGER jobs_retire BEFORE DELETE ON jobs
    WHEN OLD.status IN ('succeeded', 'failed', 'timed_out', 'canceled')
    BEGIN
        INSERT INTO retired_jobs (status, recipe, duration) VALUES (
            OLD.status,
            OLD.recipe,
            CASE WHEN OLD.started_at IS NOT NULL AND OLD.finished_at IS NOT NULL
                THEN MAX(OLD.finished_at - OLD.started_at, 0) END
        );
    END;
    CREATE TRIGGER findings_retire BEFORE DELETE ON findings
    BEGIN
        INSERT INTO retired_findings (kind, n) VALUES (OLD.kind, 1)
            ON CONFLICT (kind) DO UPDATE SET n = n + 1;
    END;
    """,
]
