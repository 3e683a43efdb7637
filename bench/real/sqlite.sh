#!/usr/bin/env bash
# sqlite.sh — a real program: the sqlite3 shell running an in-memory
# database workload under each allocator. Model: sqlite's own speedtest1
# (inserts, index builds, updates, deletes, joins, aggregates), cut to one
# table of N rows. In memory, every page of the database and of the page
# cache, and every row value on its way, is a malloc'd block.
# Stresses: a single-threaded program's page-sized blocks next to many
# small ones, growth and then shrinking of a large heap.
#   sqlite.sh prepare DIR SCALE   writes DIR/sqlite.sql (not timed)
#   the timed command (run.sh): sqlite3 :memory: < DIR/sqlite.sql
set -eu
[ "${1:-}" = prepare ] && [ $# = 3 ] || { echo "usage: sqlite.sh prepare DIR SCALE" >&2; exit 2; }
dir=$2 scale=$3
mkdir -p "$dir"
rows=$(awk -v s="$scale" 'BEGIN { v = int(300000 * s); print (v < 1000 ? 1000 : v) }')
# Data from the row number alone (sqlite's random() cannot be seeded), so
# every run and every allocator does the same work.
cat >"$dir/sqlite.sql" <<SQL
PRAGMA cache_size = -65536;
CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b INTEGER, c REAL);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $rows)
INSERT INTO t SELECT i,
    printf('%08x-%s', (i * 2654435761) % 4294967296,
           substr('abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz', 1 + i % 23, 4 + (i * 7) % 40)),
    (i * 40503) % 1000, ((i * 69069) % 100000) / 1000.0 FROM s;
CREATE INDEX t_a ON t(a);
CREATE INDEX t_bc ON t(b, c);
SELECT b, count(*), avg(length(a)) FROM t GROUP BY b ORDER BY 2 DESC, 1 LIMIT 3;
UPDATE t SET a = a || '-' || b WHERE b % 3 = 0;
DELETE FROM t WHERE b % 5 = 0;
CREATE TABLE u AS SELECT b, group_concat(a, ',') AS g, sum(c) AS sc FROM t GROUP BY b;
SELECT count(*), sum(length(g)) FROM u;
SELECT count(*) FROM t AS x JOIN t AS y ON x.b = y.b WHERE x.id < 3000 AND y.id < 3000;
SELECT a FROM t ORDER BY c DESC, a LIMIT 3;
DROP INDEX t_a;
DELETE FROM t WHERE id % 2 = 0;
SELECT count(*), max(length(a)) FROM t;
SQL
