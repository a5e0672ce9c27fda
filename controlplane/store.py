"""Durable rows of the control plane's state: SQLite (stdlib sqlite3, WAL).

One table, rows(kind, key, body): every cluster, container instance, task,
task definition revision, service, pending ACS payload and event is its own
row, so a change writes the rows it touched in one small transaction instead
of the whole state.  State (controlplane/state.py) decides which rows are
dirty; this module only reads them all at start and writes batches.

WAL with synchronous=NORMAL: a commit survives a crash of the control plane
(the WAL is in the OS), the expensive fsync happens at checkpoints.
"""

import json
import os
import sqlite3


class Store:
    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS rows (kind TEXT NOT NULL, key TEXT NOT NULL, "
                        "body TEXT NOT NULL, PRIMARY KEY (kind, key))")
        self.rows_written = 0     # counters for tests and the admin API
        self.bytes_written = 0

    def load(self):
        """{kind: {key: decoded body}} of every row, in the order rows were first written
        (an update keeps the row's place: lists keep their order across restarts)."""
        out = {}
        for kind, key, body in self.db.execute("SELECT kind, key, body FROM rows ORDER BY rowid"):
            out.setdefault(kind, {})[key] = json.loads(body)
        return out

    def empty(self):
        return self.db.execute("SELECT 1 FROM rows LIMIT 1").fetchone() is None

    def write(self, upserts, deletes):
        """One transaction: upserts [(kind, key, body text)], deletes [(kind, key)]."""
        if not upserts and not deletes:
            return
        cur = self.db.cursor()
        cur.execute("BEGIN")
        try:
            if deletes:
                cur.executemany("DELETE FROM rows WHERE kind = ? AND key = ?", deletes)
            if upserts:
                cur.executemany("INSERT INTO rows (kind, key, body) VALUES (?, ?, ?) "
                                "ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body", upserts)
            cur.execute("COMMIT")
            self.rows_written += len(upserts)
            self.bytes_written += sum(len(b) for _, _, b in upserts)
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def close(self):
        self.db.close()
