// workload.js runs a fixed mysql2 workload and prints, as JSON, everything
// the client saw (rows, column metadata, affected rows, errors), so that a
// run straight against the server and one through querylens can be compared
// byte for byte. Connection settings come from the environment:
// QL_HOST, QL_PORT, QL_USER, QL_PASSWORD, QL_DB.
'use strict';

const mysql = require('mysql2/promise');

// JSON.stringify cannot print BigInt; Buffers and Dates get explicit forms.
function plain(v) {
  if (typeof v === 'bigint') return { bigint: v.toString() };
  if (Buffer.isBuffer(v)) return { hex: v.toString('hex') };
  if (v instanceof Date) return { date: isNaN(v) ? 'invalid' : v.toISOString() };
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v)) o[k] = plain(v[k]);
    return o;
  }
  return v;
}

function fields(fs) {
  return (fs || []).map((f) => ({ name: f.name, type: f.columnType, length: f.columnLength, flags: f.flags, decimals: f.decimals }));
}

async function main() {
  const conn = await mysql.createConnection({
    host: process.env.QL_HOST,
    port: Number(process.env.QL_PORT),
    user: process.env.QL_USER,
    password: process.env.QL_PASSWORD,
    database: process.env.QL_DB,
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
  const log = [];
  const step = async (name, fn) => {
    try {
      const [res, fs] = await fn();
      log.push({ step: name, result: plain(res), fields: fields(fs) });
    } catch (e) {
      log.push({ step: name, error: { code: e.code, errno: e.errno, sqlState: e.sqlState, message: e.sqlMessage } });
    }
  };

  // One row per parameter type; execute() sends them as binary-protocol
  // parameters of a prepared statement (prepared once, cached by mysql2).
  const insert = 'INSERT INTO typed (id, i, big, f, d, dec_, s, b, dt, n, j, flag) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
  const rows = [
    [1, 42, 9007199254740993n, 1.5, Math.PI, '12345.678901', 'héllo ✓', Buffer.from([0, 1, 2, 255]),
      new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789)), null, { a: 1, b: [true, null, 'x'] }, true],
    [2, -7, -9223372036854775808n, -0.25, 1e-300, '-0.000001', '', Buffer.alloc(0),
      new Date(Date.UTC(1970, 0, 1, 0, 0, 0, 0)), null, [1, 2, 3], false],
    [3, 2147483647, 9223372036854775807n, 3.4e38, -1.7976931348623157e308, '99999999999999.999999', 'x'.repeat(100),
      Buffer.alloc(64, 0xab), new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999)), null, '"a json string"', true],
  ];
  for (const r of rows) await step('insert ' + r[0], () => conn.execute(insert, r));
  await step('duplicate key', () => conn.execute(insert, rows[0]));

  for (let i = 1; i <= 4; i++) {
    await step('select by id ' + i, () => conn.execute('SELECT * FROM typed WHERE id = ?', [i]));
  }
  await step('typed expressions', () => conn.execute(
    'SELECT ? + 1 AS i, ? AS s, ? AS bin, ? AS nul, ? AS dbl, CAST(? AS DECIMAL(10,3)) AS dec_, ? AS dt, ? AS t',
    [41, 'text', Buffer.from('raw'), null, 2.5, '1.23456', new Date(Date.UTC(2000, 0, 2, 3, 4, 5)), true]));

  // query(): the text protocol, placeholders filled in by mysql2 itself.
  await step('query all', () => conn.query('SELECT * FROM typed ORDER BY id'));
  await step('query placeholders', () => conn.query('SELECT ? AS a, ? AS b, ? AS c', [1, 'two', null]));
  await step('query error', () => conn.query('SELECT * FROM no_such_table'));
  await step('query update', () => conn.query('UPDATE typed SET i = i + 1 WHERE id IN (1, 2)'));

  await conn.beginTransaction();
  await step('tx update', () => conn.execute('UPDATE typed SET s = ? WHERE id = ?', ['changed', 1]));
  await conn.rollback();
  await conn.beginTransaction();
  await step('tx delete', () => conn.execute('DELETE FROM typed WHERE id = ?', [2]));
  await conn.commit();
  await step('final', () => conn.query('SELECT id, i, s, flag FROM typed ORDER BY id'));

  await conn.end();
  process.stdout.write(JSON.stringify(log, null, 1) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
