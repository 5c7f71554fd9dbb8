"""PostgreSQL plumbing of the harness: psql calls, databases created and dropped by name."""
import os
import subprocess
import urllib.parse

# The harness's own psql calls stay quiet (no "does not exist, skipping" NOTICEs).
QUIET = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")


class Server:
    """The server scripts/pg-up.sh made reachable; every database the harness creates is
    named with its prefix and dropped by `drop_all`."""

    def __init__(self, url, prefix):
        u = urllib.parse.urlparse(url)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 5432
        self.user = u.username or "postgres"
        self.prefix = prefix
        self.created = []

    def url(self, db):
        return f"postgres://{self.user}@{self.host}:{self.port}/{db}"

    def name(self, suffix):
        return f"{self.prefix}_{suffix}"

    def psql_args(self, db):
        return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.host, "-p",
                str(self.port), "-U", self.user, "-d", db]

    def psql(self, db, sql=None, file=None, variables=(), capture=False):
        """Runs one command or file; returns stdout (tuples only, unaligned) when captured."""
        args = self.psql_args(db)
        for k, v in variables:
            args += ["-v", f"{k}={v}"]
        if capture:
            args += ["-A", "-t"]
        if sql is not None:
            args += ["-c", sql]
        if file is not None:
            args += ["-f", str(file)]
        r = subprocess.run(args, check=True, text=True, env=QUIET,
                           stdout=subprocess.PIPE if capture else subprocess.DEVNULL)
        return r.stdout.strip() if capture else None

    def scalar(self, db, sql):
        return self.psql(db, sql, capture=True)

    def create(self, db, template=None):
        """Drops `db` if it exists and creates it (as a file copy of `template`, if given)."""
        self.drop(db)
        sql = f'create database "{db}"'
        if template:
            # FILE_COPY: a checkpoint and a directory copy, far faster than WAL_LOG for 1 GB.
            sql += f' template "{template}" strategy file_copy'
        self.psql("postgres", sql)
        if db not in self.created:
            self.created.append(db)

    def drop(self, db):
        self.psql("postgres", f'drop database if exists "{db}" with (force)')

    def drop_all(self):
        """Drops every database of this run (created ones, and any left by a crash mid-create)."""
        names = self.scalar("postgres", "select datname from pg_database where datname like "
                            f"'{self.prefix}\\_%'").split()
        for db in sorted(set(names) | set(self.created)):
            try:
                self.drop(db)
            except subprocess.CalledProcessError:
                print(f"warning: could not drop database {db}")

    def checkpoint(self):
        self.psql("postgres", "checkpoint")

    def version(self):
        return self.scalar("postgres", "show server_version")
