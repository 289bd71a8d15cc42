// changeuser.js logs in as QL_USER, switches user and schema with
// COM_CHANGE_USER (mysql2's changeUser), tries a wrong password, and prints
// what the server says about the session after each step, as JSON lines.
'use strict';

const mysql = require('mysql2/promise');

async function who(conn, label) {
  const [rows] = await conn.query('SELECT CURRENT_USER() AS u, DATABASE() AS d, ? AS step', [label]);
  console.log(JSON.stringify(rows[0]));
}

async function main() {
  const conn = await mysql.createConnection({
    host: process.env.QL_HOST, port: Number(process.env.QL_PORT),
    user: process.env.QL_USER, password: process.env.QL_PASSWORD, database: process.env.QL_DB,
  });
  await who(conn, 'first');
  await conn.changeUser({ user: 'cu_second', password: 'cu-second-pw', database: 'cl_cu2' });
  await who(conn, 'second');
  try {
    await conn.changeUser({ user: 'cu_second', password: 'wrong-pw' });
    console.log(JSON.stringify({ unexpected: 'wrong password accepted' }));
  } catch (e) {
    console.log(JSON.stringify({ change_user_error: e.errno }));
  }
  await conn.end().catch(() => {});
}

main().catch((e) => { console.error(e); process.exit(1); });
