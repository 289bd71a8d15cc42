"""Run a fixed MySQLdb (mysqlclient) workload and print, as JSON, everything
the client saw, so that a run straight against the server and one through
querylens can be compared byte for byte.

Connection settings come from the environment: QL_HOST, QL_PORT, QL_USER,
QL_PASSWORD, QL_DB.
"""

import datetime
import decimal
import json
import os
import sys

import MySQLdb
import MySQLdb.cursors
from MySQLdb.constants import CLIENT


def plain(v):
    if isinstance(v, (bytes, bytearray)):
        return {"hex": bytes(v).hex()}
    if isinstance(v, decimal.Decimal):
        return {"decimal": str(v)}
    if isinstance(v, (datetime.date, datetime.datetime, datetime.timedelta)):
        return {type(v).__name__: str(v)}
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def main():
    conn = MySQLdb.connect(
        host=os.environ["QL_HOST"],
        port=int(os.environ["QL_PORT"]),
        user=os.environ["QL_USER"],
        passwd=os.environ["QL_PASSWORD"],
        db=os.environ["QL_DB"],
        charset="utf8mb4",
    )  # autocommit is off: MySQLdb sends SET autocommit=0
    log = []

    def step(name, fn):
        try:
            log.append({"step": name, "result": plain(fn())})
        except MySQLdb.Error as e:
            conn.rollback()
            log.append({"step": name, "error": [type(e).__name__] + [plain(a) for a in e.args]})

    def described(cur):
        return [list(d[:2]) for d in cur.description or []]

    # executemany of an INSERT ... VALUES becomes one multi-row INSERT.
    people = [
        (i, "person-%02d" % i, decimal.Decimal(i) / 4, datetime.date(1990, 1, 1) + datetime.timedelta(days=37 * i),
         bytes([i, 255 - i, 0, 10]))
        for i in range(1, 51)
    ]

    def insert_many():
        with conn.cursor() as cur:
            n = cur.executemany("INSERT INTO people (id, name, score, born, data) VALUES (%s, %s, %s, %s, %s)", people)
        conn.commit()
        return n

    step("executemany insert", insert_many)

    # executemany of anything else runs the statement once per row.
    def update_many():
        with conn.cursor() as cur:
            n = cur.executemany("UPDATE people SET score = score + %s WHERE id = %s", [(1, i) for i in range(1, 11)])
        conn.commit()
        return n

    step("executemany update", update_many)

    def duplicate():
        with conn.cursor() as cur:
            cur.execute("INSERT INTO people (id, name, score, born, data) VALUES (%s, %s, %s, %s, %s)", people[0])

    step("duplicate key", duplicate)

    def plain_cursor():
        with conn.cursor() as cur:
            cur.execute("SELECT id, name, score, born, data FROM people WHERE id <= %s ORDER BY id", (5,))
            return {"description": described(cur), "rows": cur.fetchall()}

    step("cursor", plain_cursor)

    def dict_cursor():
        with conn.cursor(MySQLdb.cursors.DictCursor) as cur:
            cur.execute("SELECT id, name FROM people WHERE name LIKE %s ORDER BY id DESC", ("person-4%",))
            return cur.fetchall()

    step("dict cursor", dict_cursor)

    def ss_cursor():
        # Unbuffered: rows are read as they are fetched (mysql_use_result).
        with conn.cursor(MySQLdb.cursors.SSCursor) as cur:
            cur.execute("SELECT id, born FROM people ORDER BY id")
            out = []
            while True:
                batch = cur.fetchmany(7)
                if not batch:
                    break
                out.append(batch)
            return out

    step("server-side cursor", ss_cursor)

    def multi(c):
        with c.cursor() as cur:
            cur.execute("SELECT COUNT(*) AS n FROM people; SELECT MAX(score) AS top FROM people")
            sets = [cur.fetchall()]
            while cur.nextset():
                sets.append(cur.fetchall())
            return sets

    # MySQLdb does not ask for CLIENT_MULTI_STATEMENTS by default: the
    # server rejects the batch as a syntax error (1064).
    step("multi-statement, flag off", lambda: multi(conn))
    conn2 = MySQLdb.connect(
        host=os.environ["QL_HOST"],
        port=int(os.environ["QL_PORT"]),
        user=os.environ["QL_USER"],
        passwd=os.environ["QL_PASSWORD"],
        db=os.environ["QL_DB"],
        charset="utf8mb4",
        client_flag=CLIENT.MULTI_STATEMENTS,
    )
    step("multi-statement, flag on", lambda: multi(conn2))
    conn2.close()

    def rolled_back():
        with conn.cursor() as cur:
            cur.execute("DELETE FROM people WHERE id > %s", (40,))
            n = cur.rowcount
            cur.execute("SELECT COUNT(*) FROM people")
            inside = cur.fetchone()
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM people")
            return {"deleted": n, "inside": inside, "after": cur.fetchone()}

    step("rollback", rolled_back)

    def committed():
        with conn.cursor() as cur:
            cur.execute("DELETE FROM people WHERE id > %s", (45,))
            n = cur.rowcount
        conn.commit()
        return n

    step("commit", committed)

    def bad():
        with conn.cursor() as cur:
            cur.execute("SELECT nope FROM people")

    step("error", bad)

    def final():
        with conn.cursor() as cur:
            cur.execute("SELECT id, name, score, born, HEX(data) FROM people ORDER BY id")
            return cur.fetchall()

    step("final", final)
    conn.close()
    json.dump(log, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
