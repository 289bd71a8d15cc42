// params.js binds parameters of every MySQL type through mysql2's
// execute() and prints, as JSON, what it bound for each execution, so that
// a test can compare the values a proxy decoded from the COM_STMT_EXECUTE
// packets with them. Each bound value is printed with the JavaScript type
// mysql2 chose its wire type from (or the explicit type of a
// mysql.TypedParameter) and a lossless text form:
//
//   number   String(n): shortest round-trip decimal
//   bigint   decimal digits
//   string   the string
//   buffer   hex
//   date     toISOString() (the connection's timezone is 'Z': UTC)
//   json     JSON.stringify of the object, the text mysql2 sends
//   boolean  'true' / 'false'
//   null     null
//
// Connection settings come from the environment: QL_HOST, QL_PORT,
// QL_USER, QL_PASSWORD, QL_DB.
'use strict';

const mysql = require('mysql2/promise');
const T = require('mysql2').TypedParameter;

// typeName returns the name mysql2 gives a type code (TINY, LONGLONG, ...).
function typeName(code) {
  for (const [name, c] of Object.entries(mysql.Types)) {
    if (c === code && name === name.toUpperCase()) return name;
  }
  return 'unknown 0x' + code.toString(16);
}

// describe returns what the test needs to know about one bound value.
function describe(v) {
  if (v === null) return { js: 'null', v: null };
  if (v && v.constructor && v.constructor.name === 'TypedParameter') {
    const inner = describe(v.value);
    return { js: 'typed', type: typeName(v.type), unsigned: Boolean(v.unsigned), v: inner.v, of: inner.js };
  }
  if (Buffer.isBuffer(v)) return { js: 'buffer', v: v.toString('hex') };
  if (v instanceof Date) return { js: 'date', v: v.toISOString() };
  switch (typeof v) {
    case 'number':
      return { js: 'number', v: String(v) };
    case 'bigint':
      return { js: 'bigint', v: v.toString() };
    case 'string':
      return { js: 'string', v };
    case 'boolean':
      return { js: 'boolean', v: String(v) };
    case 'object':
      return { js: 'json', v: JSON.stringify(v) };
  }
  throw new TypeError('cannot describe ' + typeof v);
}

const utc = (y, mo, d, h = 0, mi = 0, s = 0, ms = 0) => new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms));

// Each set is executed as one statement; the placeholders of a SELECT take
// any type, and the INSERT lets the server describe its placeholders as
// integer columns (mysql2 then sends integral numbers with that type).
const sets = [
  { name: 'numbers', values: [42, -7, 0, 1.5, -0.25, Math.PI, 1e-300, -1.7976931348623157e308, 9007199254740991] },
  { name: 'bigint and boolean', values: [9007199254740993n, -9223372036854775808n, true, false] },
  { name: 'signed integers', values: [T.TINY(-128), T.SHORT(-32768), T.LONG(-2147483648), T.LONGLONG(-9223372036854775808n),
    T.TINY(127), T.LONGLONG(9223372036854775807n)] },
  { name: 'unsigned integers', values: [T.TINY.unsigned(255), T.SHORT.unsigned(65535), T.LONG.unsigned(4294967295),
    T.LONGLONG.unsigned(18446744073709551615n), T.LONGLONG.unsigned(0)] },
  { name: 'float and double', values: [T.FLOAT(1.5), T.FLOAT(-3.25), T.DOUBLE(-2.5e-10), T.DOUBLE(6.02214076e23)] },
  { name: 'decimal', values: [T.DECIMAL('12345.678901'), T.NEWDECIMAL('-0.000001'), T.NEWDECIMAL('99999999999999.999999')] },
  { name: 'strings', values: ['héllo ✓', '', "it's a \\ back\nslash", 'x'.repeat(200)] },
  { name: 'blobs', values: [Buffer.from([0x00, 0x01, 0xfe, 0xff]), Buffer.alloc(0), Buffer.from([0xff, 0x00, 0xff, 0x00]), Buffer.from('raw')] },
  { name: 'dates', values: [utc(2024, 2, 29, 12, 34, 56, 789), utc(1970, 1, 1), utc(9999, 12, 31, 23, 59, 59, 999),
    T.DATETIME(utc(2000, 1, 2, 3, 4, 5, 6)), T.TIMESTAMP(utc(2038, 1, 19, 3, 14, 7, 500))] },
  // mysql2 writes a DATE in the 11-byte form with a zero time of day;
  // MariaDB takes it, MySQL refuses it as a malformed packet.
  { name: 'typed date', values: [T.DATE(utc(2024, 2, 29)), T.DATE(utc(1000, 1, 1))] },
  { name: 'times', values: [T.TIME('12:34:56.123456'), T.TIME('-838:59:59'), T.TIME('00:00:00'), T.TIME('-00:00:01.000001'),
    T.TIME('100:00:00.5')] },
  { name: 'nulls', values: [null, 1, null, T.LONG(null), T.DATETIME(null), 'after nulls'] },
  { name: 'json', values: [{ a: 1, b: [true, null, 'x'], 'ü': { n: -1.5 } }, [1, 2, 3], {}, T.JSON('{"k": "v"}')] },
];

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
  const out = [];
  const run = async (name, sql, values, attributes) => {
    const entry = { name, sql, params: values.map(describe) };
    if (attributes) entry.attributes = attributes;
    try {
      await conn.execute(attributes ? { sql, attributes } : sql, values);
    } catch (e) {
      entry.error = { code: e.code, errno: e.errno, message: e.sqlMessage || e.message };
    }
    out.push(entry);
  };
  for (const s of sets) {
    await run(s.name, 'SELECT ' + s.values.map(() => '?').join(', '), s.values);
  }
  // Query attributes travel in the same packet after the parameters when
  // the connection negotiated CLIENT_QUERY_ATTRIBUTES (MySQL 8.0.23+);
  // mysql2 drops them otherwise.
  await run('with query attributes', 'SELECT ?, ?', ['p1', T.LONG(-5)], { ql_trace: 'abc-123', ql_empty: '' });
  await conn.query('CREATE TEMPORARY TABLE hinted (i INT, big BIGINT, u BIGINT UNSIGNED, t TINYINT, d DOUBLE)');
  await run('integer columns', 'INSERT INTO hinted (i, big, u, t, d) VALUES (?, ?, ?, ?, ?)',
    [-2147483648, 9007199254740993n, 18446744073709551615n, true, 7]);
  await conn.end();
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
