# Sourced by bench scripts: `fill DB N ROWS` creates Waymark's schema in DB (a file path, or a
# postgres:// URL of an empty database) with WAYMARK, then runs the SQL ROWS against a view
# `series` of the numbers 1..N, on either backend.
fill() {
  local db="$1" n="$2" rows="$3"
  "$waymark" keys list --db "$db" >/dev/null   # creates the schema
  case "$db" in
    postgres://*|postgresql://*)
      psql -q "$db" -c "CREATE TEMP VIEW series AS SELECT generate_series(1, $n) AS i; $rows ANALYZE;" ;;
    *)
      python3 - "$db" "$n" "$rows" <<'PY'
import sqlite3, sys
db, n, rows = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = sqlite3.connect(db)
c.execute(f"CREATE TEMP VIEW series AS WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s")
c.executescript(rows)
c.commit()
PY
      ;;
  esac
}
