#!/usr/bin/env python3
"""dbrows.py SQLITE_PATH POSTGRES_URL - compare the rows of a SQLite database with a copy of it
in PostgreSQL, table by table (used by e2e/gates.sh after `linkctl migrate`).

Every table of the SQLite file is compared except the migration tools' own (goose's
`goose_db_version`, diesel's `__diesel_schema_migrations`, `sqlite_*`): it must exist in
PostgreSQL with the same columns and exactly the same rows. Values are compared as JSON after
the two engines' spellings are made one: booleans as 0/1, blobs/bytea as lowercase hex.
Prints one line per table ("watch_links: 6 rows, same"; a difference names rows by their first
column only, as rows hold tokens and keys), exits 1 on any difference. psql is
$PSQL or `psql`; the URL (with its password) is passed to it, never printed.
"""
import json
import os
import sqlite3
import subprocess
import sys

SKIP = {"goose_db_version", "__diesel_schema_migrations"}


def norm(v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (bytes, memoryview)):
        return "\\x" + bytes(v).hex()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def sqlite_rows(path):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    out = {}
    for t in names:
        if t in SKIP or t.startswith("sqlite_"):
            continue
        cur = db.execute('SELECT * FROM "%s"' % t)
        cols = [d[0] for d in cur.description]
        out[t] = (cols, [dict(zip(cols, map(norm, r))) for r in cur])
    return out


def pg_rows(url, table):
    sql = ('SELECT coalesce(json_agg(t), \'[]\') FROM "%s" t' % table)
    cols_sql = ("SELECT coalesce(json_agg(column_name::text ORDER BY ordinal_position), '[]') "
                "FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '%s'" % table)
    psql = os.environ.get("PSQL", "psql")
    res = []
    for q in (cols_sql, sql):
        p = subprocess.run([psql, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", q],
                           capture_output=True, text=True)
        if p.returncode != 0:
            return None, p.stderr.strip().replace(url, "<url>")
        res.append(json.loads(p.stdout))
    cols, rows = res
    if not cols:
        return None, "no such table"
    fixed = []
    for r in rows:
        fixed.append({k: (v.lower() if isinstance(v, str) and v.startswith("\\x") else norm(v)) for k, v in r.items()})
    return (cols, fixed), None


def key(row):
    return json.dumps(row, sort_keys=True)


def main():
    if len(sys.argv) != 3:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    src, url = sys.argv[1], sys.argv[2]
    bad = 0
    for table, (cols, rows) in sqlite_rows(src).items():
        got, err = pg_rows(url, table)
        if err:
            print("%s: %d rows in SQLite, PostgreSQL: %s" % (table, len(rows), err))
            bad += 1
            continue
        pcols, prows = got
        if sorted(pcols) != sorted(cols):
            print("%s: columns differ: SQLite %s, PostgreSQL %s" % (table, cols, pcols))
            bad += 1
            continue
        a, b = sorted(map(key, rows)), sorted(map(key, prows))
        if a == b:
            print("%s: %d rows, same" % (table, len(a)))
            continue
        bad += 1
        # rows hold tokens and keys: name them by their first column only
        first = lambda rs, other: [json.loads(r)[cols[0]] for r in rs if r not in other][:5]
        print("%s: %d rows in SQLite, %d in PostgreSQL; differing %s: SQLite %s, PostgreSQL %s"
              % (table, len(a), len(b), cols[0], first(a, set(b)), first(b, set(a))))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
