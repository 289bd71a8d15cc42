// querylens dashboard. Plain JavaScript, no dependencies, no build step.
//
// The page is built with DOM calls and textContent only (never HTML
// strings): the Content-Security-Policy enforces Trusted Types, and data
// from the API can never become markup. All URLs are relative to the page.

const API = {
  digests: 'api/v1/digests',
  findings: 'api/v1/findings',
  reset: 'api/v1/reset',
  metrics: 'metrics',
};

// SVG_NS is the SVG namespace name (an identifier, never fetched).
const SVG_NS = 'http://www.w3.org/2000/svg';

// SUMMARY_LIMIT bounds the digests fetched for the summary strip and the
// schema list: the top ones by total time.
const SUMMARY_LIMIT = 500;
const TABLE_LIMIT = 100;
const SORT_LABELS = {
  total_time: 'total time', count: 'count', mean: 'mean latency', p95: 'p95 latency',
  p99: 'p99 latency', errors: 'errors', rows_sent: 'rows sent',
};
// Commands that execute a statement, as counted in the snapshot's commands.
const EXEC_COMMANDS = ['query', 'stmt_execute', 'stmt_bulk_execute'];

const FINDING_KINDS = {
  n_plus_one: { label: 'N+1', group: 'n_plus_one' },
  repeated_read: { label: 'Repeated read', group: 'repeated' },
  row_round_trips: { label: 'Row round trips', group: 'repeated' },
  connection_churn: { label: 'Connection churn', group: 'churn' },
  prepare_per_execute: { label: 'Prepare per execute', group: 'churn' },
  unclosed_statements: { label: 'Unclosed statements', group: 'churn' },
  reprepare: { label: 'Re-prepare', group: 'churn' },
  long_transaction: { label: 'Long transaction', group: 'tx' },
  idle_in_transaction: { label: 'Idle in transaction', group: 'tx' },
};

const $ = (id) => document.getElementById(id);

const state = {
  paused: false,
  interval: 2000,
  timer: 0,
  gen: 0, // bumped by every refresh; stale answers are dropped
  route: { view: 'overview' },
  sort: 'total_time',
  q: '',
  schema: '*', // '*' = all schemas
  group: 'all',
  samples: [], // recent summary samples {taken, execs, errs}, oldest first
  summary: null, // latest summary list document
  findings: null, // latest findings document, or {missing: true}
};

// ---------- formatting ----------

function fmtDuration(s) {
  if (s == null || !isFinite(s)) return '–';
  if (s === 0) return '0';
  if (s < 1e-3) return `${(s * 1e6).toFixed(s < 1e-5 ? 1 : 0)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(s < 1e-2 ? 2 : 1)} ms`;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const intFmt = new Intl.NumberFormat('en-US');
function fmtInt(n) { return n == null ? '–' : intFmt.format(n); }

function fmtRate(r) {
  if (r == null || !isFinite(r)) return '–';
  if (r >= 100) return intFmt.format(Math.round(r));
  return r.toFixed(r >= 10 ? 1 : 2);
}

function fmtPct(x) {
  if (x == null || !isFinite(x)) return '–';
  if (x === 0) return '0%';
  if (x < 0.001) return '<0.1%';
  return `${(x * 100).toFixed(x < 0.1 ? 2 : 1)}%`;
}

function fmtTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

// ---------- DOM helpers ----------

// el builds an element: el('td', {class: 'num', dataset: {v: 1}}, 'text', child...).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// fill replaces node's children, skipping null and false ones.
function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c != null && c !== false));
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v != null) e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c != null) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function setText(id, text, title) {
  const e = $(id);
  e.textContent = text;
  if (title !== undefined) e.title = title;
}

// ---------- SQL highlighting ----------

const KEYWORDS = new Set(`select from where and or not in is null like between exists as on
join inner left right outer cross natural using group by order having limit offset asc desc
distinct all union intersect except insert into values value replace update set delete
create alter drop table index view database schema if primary key foreign references unique
default auto_increment begin start transaction commit rollback savepoint release lock unlock
tables read write for share call do show describe explain analyze with recursive case when then
else end over partition window rows range unbounded preceding following current row duplicate
ignore low_priority high_priority straight_join sql_calc_found_rows true false load data infile
truncate rename grant revoke prepare execute deallocate use kill handler returning interval
collate binary escape div mod xor regexp rlike sounds outfile procedure function trigger event
engine charset character`.split(/\s+/));

// tokenizeSQL splits text into [kind, text] tokens; kinds: ws, comment, str,
// ident, num, ph (placeholder), kw, fn, word, op.
function tokenizeSQL(s) {
  const out = [];
  let i = 0;
  const n = s.length;
  const push = (kind, j) => { out.push([kind, s.slice(i, j)]); i = j; };
  while (i < n) {
    const c = s[i];
    const c2 = s.slice(i, i + 2);
    if (/\s/.test(c)) {
      let j = i + 1;
      while (j < n && /\s/.test(s[j])) j++;
      push('ws', j);
    } else if (c2 === '--' || c === '#') {
      let j = s.indexOf('\n', i);
      if (j < 0) j = n;
      push('comment', j);
    } else if (c2 === '/*') {
      let j = s.indexOf('*/', i + 2);
      j = j < 0 ? n : j + 2;
      push('comment', j);
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < n) {
        if (s[j] === '\\' && c !== '`') { j += 2; continue; }
        if (s[j] === c) {
          if (s[j + 1] === c) { j += 2; continue; }
          j++;
          break;
        }
        j++;
      }
      push(c === '`' ? 'ident' : 'str', Math.min(j, n));
    } else if (c === '?' || (c === '.' && s.startsWith('...', i))) {
      push('ph', c === '?' ? i + 1 : i + 3);
    } else if ((c === ':' || c === '$') && /[A-Za-z0-9_]/.test(s[i + 1] || '')) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_]/.test(s[j])) j++;
      push('ph', j);
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(s[i + 1] || ''))) {
      const m = /^(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(e[+-]?[0-9]+)?)/i.exec(s.slice(i));
      push('num', i + (m ? m[0].length : 1));
    } else if (/[A-Za-z_@]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$@.]/.test(s[j]) && !(s[j] === '.' && s[j + 1] === '.')) j++;
      const w = s.slice(i, j);
      let k = j;
      while (k < n && s[k] === ' ') k++;
      const kind = KEYWORDS.has(w.toLowerCase()) ? 'kw' : s[k] === '(' ? 'fn' : 'word';
      push(kind, j);
    } else {
      push('op', i + 1);
    }
  }
  return out;
}

// highlightSQL returns a <code> element with the tokens of sql in spans.
function highlightSQL(sql, className) {
  const code = el('code', { class: `sql ${className || ''}`.trim() });
  for (const [kind, text] of tokenizeSQL(sql || '')) {
    if (kind === 'ws' || kind === 'word' || kind === 'op') code.append(text);
    else code.append(el('span', { class: `t-${kind}`, text }));
  }
  return code;
}

// ---------- fetching ----------

class HTTPError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// authHeaders adds the token the user typed, if any: an endpoint bound
// beyond loopback may require it for reads too.
function authHeaders(h) {
  const t = storedToken();
  return t ? { ...h, Authorization: `Bearer ${t}` } : h;
}

async function getJSON(url) {
  const resp = await fetch(url, { headers: authHeaders({ Accept: 'application/json' }), cache: 'no-store' });
  if (!resp.ok) {
    let msg = `${resp.status} ${resp.statusText}`;
    try { msg = (await resp.json()).error || msg; } catch { /* not JSON */ }
    throw new HTTPError(resp.status, `${url.split('?')[0]}: ${msg}`);
  }
  return resp.json();
}

async function getText(url) {
  const resp = await fetch(url, { headers: authHeaders({ Accept: 'text/plain' }), cache: 'no-store' });
  if (!resp.ok) throw new HTTPError(resp.status, `${url}: ${resp.status}`);
  return resp.text();
}

// promMetric sums the samples of one metric (all label sets) in Prometheus
// text exposition; null when the metric is absent.
function promMetric(text, name) {
  let sum = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const m = /^(?:\{[^}]*\})?\s+(\S+)/.exec(rest);
    if (!m) continue;
    const v = Number(m[1]);
    if (!isNaN(v)) sum = (sum || 0) + v;
  }
  return sum;
}

function digestsURL(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v != null && v !== '') u.set(k, v);
  }
  return `${API.digests}?${u}`;
}

// ---------- histograms ----------

// Histogram JSON (package stats): {schema, count, sum, min, max, offset,
// counts}; bucket k = offset+i holds durations in (2^((k-1)/2^schema),
// 2^(k/2^schema)] seconds.
function bucketUpper(schema, k) { return Math.pow(2, k / Math.pow(2, schema)); }

function mergeHistograms(hs) {
  const m = new Map();
  let schema = 3; let count = 0; let min = Infinity; let max = 0;
  for (const h of hs) {
    if (!h || !h.count) continue;
    schema = h.schema;
    count += h.count;
    min = Math.min(min, h.min);
    max = Math.max(max, h.max);
    h.counts.forEach((c, i) => { if (c) m.set(h.offset + i, (m.get(h.offset + i) || 0) + c); });
  }
  return { schema, count, min, max, buckets: [...m.entries()].sort((a, b) => a[0] - b[0]) };
}

// quantile estimates q from merged buckets the way package stats does: the
// harmonic midpoint of the bucket holding the rank, clamped to [min, max].
function quantile(mh, q) {
  if (!mh.count) return null;
  const rank = Math.max(1, Math.ceil(q * mh.count));
  let seen = 0;
  for (const [k, c] of mh.buckets) {
    seen += c;
    if (seen >= rank) {
      const lo = bucketUpper(mh.schema, k - 1);
      const hi = bucketUpper(mh.schema, k);
      return Math.min(Math.max((2 * lo * hi) / (lo + hi), mh.min), mh.max);
    }
  }
  return mh.max;
}

// ---------- summary strip ----------

function sumCommands(map, names) {
  return names.reduce((a, n) => a + ((map || {})[n] || 0), 0);
}

// RATE_WINDOW is how far back the summary's rates look (ms): far enough to
// smooth refreshes that come close together, short enough to stay live.
const RATE_WINDOW = 10000;

function renderSummary(doc, metricsText) {
  const taken = Date.parse(doc.taken);
  const execs = sumCommands(doc.commands, EXEC_COMMANDS);
  const errs = sumCommands(doc.command_errors, EXEC_COMMANDS);
  // Engine-wide counters never decrease (a reset clears only per-digest
  // numbers), so any two samples give a rate.
  const samples = state.samples;
  const last = samples[samples.length - 1];
  if (!last || taken > last.taken) samples.push({ taken, execs, errs });
  while (samples.length > 2 && taken - samples[1].taken >= RATE_WINDOW) samples.shift();
  const base = samples[0];
  if (base && taken - base.taken >= 500 && execs >= base.execs) {
    const dt = (taken - base.taken) / 1000;
    const dn = execs - base.execs;
    const over = `over the last ${dt < 10 ? dt.toFixed(1) : Math.round(dt)} s`;
    setText('s-qps', fmtRate(dn / dt));
    setText('s-qps-sub', over);
    if (dn > 0) {
      setText('s-err', fmtPct((errs - base.errs) / dn));
      setText('s-err-sub', over);
    } else {
      setText('s-err', fmtPct(execs ? errs / execs : 0));
      setText('s-err-sub', 'since start (idle now)');
    }
  } else {
    setText('s-qps', '–');
    setText('s-qps-sub', 'measuring…');
    setText('s-err', fmtPct(execs ? errs / execs : 0));
    setText('s-err-sub', 'since start');
  }

  const all = doc.digests.concat(doc.overflow ? [doc.overflow] : []);
  const mh = mergeHistograms(all.map((d) => d.latency_histogram));
  setText('s-p99', mh.count ? fmtDuration(quantile(mh, 0.99)) : '–');
  setText('s-p99-sub', doc.total > doc.digests.length
    ? `top ${doc.digests.length} of ${doc.total} fingerprints`
    : `all statements since ${new Date(doc.since).toLocaleTimeString()}`);

  const tile = $('s-health-tile');
  if (metricsText != null) {
    const conns = promMetric(metricsText, 'querylens_connections_open');
    setText('s-conns', conns == null ? '–' : fmtInt(conns));
    const total = promMetric(metricsText, 'querylens_connections_total');
    setText('s-conns-sub', total == null ? '' : `${fmtInt(total)} accepted`);
    const decodeErrs = promMetric(metricsText, 'querylens_decode_errors_total') || 0;
    const panics = promMetric(metricsText, 'querylens_decoder_panics_total') || 0;
    const dropped = doc.dropped_events || 0;
    const problems = [];
    if (decodeErrs) problems.push(`${fmtInt(decodeErrs)} undecodable connection${decodeErrs === 1 ? '' : 's'}`);
    if (panics) problems.push(`${fmtInt(panics)} decoder panic${panics === 1 ? '' : 's'}`);
    if (dropped) problems.push(`${fmtInt(dropped)} dropped event${dropped === 1 ? '' : 's'}`);
    setText('s-health', problems.length ? 'degraded' : 'healthy');
    setText('s-health-sub', problems.length ? problems.join(' · ') : `${fmtInt(doc.events)} events decoded`);
    tile.classList.toggle('warn', problems.length > 0);
  } else {
    setText('s-conns', '–');
    setText('s-conns-sub', '/metrics unavailable');
    setText('s-health', doc.dropped_events ? 'degraded' : '–');
    setText('s-health-sub', doc.dropped_events ? `${fmtInt(doc.dropped_events)} dropped events` : '/metrics unavailable');
    tile.classList.toggle('warn', !!doc.dropped_events);
  }

  // Schema filter choices.
  const schemas = new Set(doc.digests.map((d) => d.schema));
  if (state.schema !== '*') schemas.add(state.schema);
  const sel = $('schema');
  const want = ['*', ...[...schemas].sort()];
  const have = [...sel.options].map((o) => o.value);
  if (want.join('\u0000') !== have.join('\u0000')) {
    sel.replaceChildren(...want.map((s) => el('option', { value: s },
      s === '*' ? 'all schemas' : s === '' ? '(no schema)' : s)));
    sel.value = state.schema;
  }
}

// ---------- top fingerprints table ----------

function digestHref(d) {
  const q = new URLSearchParams({ schema: d.schema || '' });
  return `#/digest/${encodeURIComponent(d.digest)}?${q}`;
}

function numCell(col, value, text, title) {
  return el('td', { class: 'num', dataset: { col, value: String(value) }, title }, text);
}

function renderTable(doc) {
  const table = $('digests');
  const rows = doc.digests;
  const maxTotal = rows.reduce((m, d) => Math.max(m, d.latency_seconds.sum), 0);
  const body = rows.map((d) => {
    const share = maxTotal > 0 ? d.latency_seconds.sum / maxTotal : 0;
    const bar = el('span', { class: 'bar', 'aria-hidden': 'true' });
    bar.style.width = `${(share * 100).toFixed(1)}%`;
    const link = el('a', { href: digestHref(d), class: 'fp-link', title: d.fingerprint },
      highlightSQL(d.fingerprint, 'oneline'));
    return el('tr', { dataset: { digest: d.digest, schema: d.schema } },
      el('th', { scope: 'row', class: 'fp', dataset: { col: 'fingerprint' } }, link,
        el('span', { class: 'kind' }, d.kind || '',
          el('span', { class: 'schema-note' }, ` · ${d.schema === '' ? 'no schema' : d.schema}`))),
      el('td', { dataset: { col: 'schema' } }, d.schema === '' ? '–' : d.schema),
      el('td', { class: 'num total', dataset: { col: 'total_time', value: String(d.latency_seconds.sum) } },
        bar, el('span', {}, fmtDuration(d.latency_seconds.sum))),
      numCell('count', d.count, fmtInt(d.count)),
      numCell('mean', d.latency_seconds.mean, fmtDuration(d.latency_seconds.mean)),
      numCell('p95', d.latency_seconds.p95, fmtDuration(d.latency_seconds.p95)),
      numCell('p99', d.latency_seconds.p99, fmtDuration(d.latency_seconds.p99)),
      el('td', { class: `num${d.errors ? ' bad' : ''}`, dataset: { col: 'errors', value: String(d.errors) } }, fmtInt(d.errors)),
      numCell('rows_sent', d.rows_sent, fmtInt(d.rows_sent)));
  });
  table.tBodies[0].replaceChildren(...body);
  for (const th of table.tHead.querySelectorAll('th[data-sort]')) {
    if (th.dataset.sort === state.sort) th.setAttribute('aria-sort', 'descending');
    else th.removeAttribute('aria-sort');
  }
  const filters = [];
  if (state.q) filters.push(`matching “${state.q}”`);
  if (state.schema !== '*') filters.push(`in schema ${state.schema === '' ? '(none)' : state.schema}`);
  $('digests-caption').textContent = `Statements ${filters.join(' ')} by ${SORT_LABELS[state.sort]}, highest first`;
  table.dataset.sort = state.sort;
  table.dataset.q = state.q;
  table.dataset.schema = state.schema;
  table.dataset.rows = String(rows.length);

  const empty = $('digests-empty');
  empty.hidden = rows.length > 0;
  empty.textContent = filters.length
    ? 'No statement matches these filters.'
    : 'No statements yet: point an application at the proxy and they appear here.';
  $('digests-foot').textContent = doc.total > rows.length
    ? `Showing ${rows.length} of ${fmtInt(doc.total)} fingerprints.`
    : `${fmtInt(doc.total)} fingerprint${doc.total === 1 ? '' : 's'}` +
      (doc.overflow && doc.overflow.count ? `; ${fmtInt(doc.overflow.count)} statements beyond the ${fmtInt(doc.max_digests)}-fingerprint bound are folded into “${doc.overflow.fingerprint}”.` : '.');
}

// ---------- findings ----------

function kindLabel(kind) { return (FINDING_KINDS[kind] || { label: kind }).label; }

function sqlBlock(text) { return el('pre', { class: 'sql-block' }, highlightSQL(text)); }

// looksLikeSQL tells a rewritten statement from advice in prose.
function looksLikeSQL(text) {
  return /^\s*(select|insert|update|delete|replace|with|call|begin|start|commit|set|prepare|execute)\b/i.test(text);
}

function renderFinding(f) {
  const parts = [];
  if (f.executions != null) parts.push(`${fmtInt(f.executions)} executions`);
  if (f.units != null) {
    parts.push(f.units_seen
      ? `in ${fmtInt(f.units)} of ${fmtInt(f.units_seen)} units of work`
      : `${fmtInt(f.units)} unit${f.units === 1 ? '' : 's'} of work`);
  }
  if (f.seconds != null) parts.push(`${fmtDuration(f.seconds)} spent`);
  if (f.saving_seconds) parts.push(`could save ${fmtDuration(f.saving_seconds)}`);
  const target = f.digest ? { digest: f.digest, schema: f.schema || '' } : null;
  const source = f.source_digest ? { digest: f.source_digest, schema: f.schema || '' } : null;
  const examples = (f.examples || []).slice(0, 5);
  return el('article', { class: 'finding', dataset: { kind: f.kind, digest: f.digest || '' } },
    el('header', {},
      el('span', { class: `badge k-${f.kind}` }, kindLabel(f.kind)),
      el('h3', {}, f.title || kindLabel(f.kind))),
    el('p', { class: 'muted small' }, parts.join(' · '),
      f.schema ? ` · schema ${f.schema}` : '',
      f.last_seen ? ` · last seen ${fmtTime(f.last_seen)}` : ''),
    f.fingerprint ? el('div', { class: 'stmt' },
      sqlBlock(f.fingerprint),
      target ? el('a', { href: digestHref(target), class: 'small' }, 'Open statement →') : null) : null,
    f.source_fingerprint ? el('div', { class: 'stmt' },
      el('p', { class: 'label' }, 'Driven by the rows of'),
      sqlBlock(f.source_fingerprint),
      source ? el('a', { href: digestHref(source), class: 'small' }, 'Open statement →') : null) : null,
    f.suggestion ? el('div', { class: 'stmt suggestion' },
      el('p', { class: 'label' }, looksLikeSQL(f.suggestion) ? 'Suggested rewrite' : 'Suggestion'),
      looksLikeSQL(f.suggestion) ? sqlBlock(f.suggestion) : el('p', { class: 'advice' }, f.suggestion)) : null,
    f.related && f.related.length ? el('p', { class: 'small' }, 'Related statements: ',
      f.related.slice(0, 10).map((d, i) => [i ? ', ' : '', el('a', { href: digestHref({ digest: d, schema: f.schema || '' }) }, d)])) : null,
    f.tags && f.tags.length ? el('p', { class: 'muted small' }, `Tags: ${f.tags.join(', ')}`) : null,
    examples.length ? el('details', {},
      el('summary', {}, `Examples (${(f.examples || []).length})`),
      el('ul', { class: 'examples' }, examples.map((x) => el('li', {},
        [x.unit, x.user && `user ${x.user}`, x.client && `from ${x.client}`,
          x.executions != null && `${fmtInt(x.executions)} executions`,
          x.seconds != null && fmtDuration(x.seconds),
          x.values && x.values.length ? `values ${x.values.slice(0, 5).join(', ')}${x.values.length > 5 ? ', …' : ''}` : null,
          x.at && fmtTime(x.at)].filter(Boolean).join(' · '))))) : null);
}

function renderFindings() {
  const list = $('findings-list');
  const empty = $('findings-empty');
  const doc = state.findings;
  if (!doc) return;
  if (doc.missing || doc.error) {
    for (const n of document.querySelectorAll('.chip .n')) n.textContent = '';
    list.replaceChildren();
    empty.hidden = false;
    empty.textContent = doc.missing
      ? 'Findings are not available from this endpoint (GET api/v1/findings answered 404).'
      : `Findings could not be loaded: ${doc.error}`;
    list.dataset.count = '0';
    return;
  }
  const all = doc.findings || [];
  for (const chip of document.querySelectorAll('.chip')) {
    const g = chip.dataset.group;
    const n = g === 'all' ? all.length : all.filter((f) => (FINDING_KINDS[f.kind] || {}).group === g).length;
    chip.querySelector('.n').textContent = n ? ` ${n}` : '';
  }
  const shown = all.filter((f) => state.group === 'all' || (FINDING_KINDS[f.kind] || {}).group === state.group);
  list.replaceChildren(...shown.map(renderFinding));
  list.dataset.count = String(shown.length);
  empty.hidden = shown.length > 0;
  empty.textContent = all.length ? 'No findings of this kind.' : 'No wasteful patterns seen so far.';
}

// ---------- detail view ----------

function histogramChart(lat, ttfb) {
  const W = 640; const H = 220; const L = 44; const B = 34; const T = 12; const R = 8;
  const lb = new Map(); const tb = new Map();
  const fill = (h, m) => { if (h && h.counts) h.counts.forEach((c, i) => { if (c) m.set(h.offset + i, c); }); };
  fill(lat, lb); fill(ttfb, tb);
  const keys = [...lb.keys(), ...tb.keys()];
  if (!keys.length) return el('p', { class: 'empty' }, 'No timed executions.');
  const lo = Math.min(...keys); const hi = Math.max(...keys);
  const n = hi - lo + 1;
  const ymax = Math.max(...lb.values(), ...tb.values(), 1);
  const bw = (W - L - R) / n;
  const y = (c) => T + (H - T - B) * (1 - c / ymax);
  const schema = lat.schema || 3;
  const g = [];
  // Grid and y labels.
  for (const f of [0, 0.5, 1]) {
    const c = Math.round(ymax * f);
    g.push(svg('line', { x1: L, x2: W - R, y1: y(c), y2: y(c), class: 'grid' }));
    g.push(svg('text', { x: L - 6, y: y(c) + 4, class: 'axis', 'text-anchor': 'end' }, fmtInt(c)));
  }
  for (let k = lo; k <= hi; k++) {
    const x = L + (k - lo) * bw;
    const c = lb.get(k) || 0;
    if (c) {
      const r = svg('rect', { x: x + 0.5, y: y(c), width: Math.max(bw - 1, 1), height: H - B - y(c), class: 'bar-total' });
      r.append(svg('title', {}, `${fmtDuration(bucketUpper(schema, k - 1))} – ${fmtDuration(bucketUpper(schema, k))}: ${fmtInt(c)} executions`));
      g.push(r);
    }
  }
  // TTFB as a step line over the bars.
  let d = '';
  for (let k = lo; k <= hi; k++) {
    const x = L + (k - lo) * bw;
    const yy = y(tb.get(k) || 0);
    d += `${d ? 'L' : 'M'}${x.toFixed(1)},${yy.toFixed(1)}H${(x + bw).toFixed(1)}`;
  }
  if (tb.size) g.push(svg('path', { d, class: 'line-ttfb' }));
  // X labels: a few bucket bounds.
  const ticks = Math.min(n, 6);
  for (let t = 0; t <= ticks; t++) {
    const k = lo - 1 + Math.round((t * n) / ticks);
    const x = L + (k - lo + 1) * bw;
    const anchor = t === 0 ? 'start' : t === ticks ? 'end' : 'middle';
    g.push(svg('text', { x, y: H - B + 16, class: 'axis', 'text-anchor': anchor }, fmtDuration(bucketUpper(schema, k))));
  }
  g.push(svg('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axis-line' }));
  const label = `Latency histogram: ${fmtInt(lat.count)} executions from ${fmtDuration(lat.min)} to ${fmtDuration(lat.max)}`;
  return el('figure', { class: 'chart' },
    svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, preserveAspectRatio: 'xMidYMid meet' }, g),
    el('figcaption', { class: 'legend' },
      el('span', { class: 'key key-total' }), 'total time (command → last byte)  ',
      el('span', { class: 'key key-ttfb' }), 'time to first byte'));
}

function kv(rows) {
  return el('dl', { class: 'kv' }, rows.filter(Boolean).map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, v))));
}

function renderDetail(doc) {
  const body = $('detail-body');
  const d = doc.digests[0];
  $('detail-h').textContent = `Statement ${d.digest}`;
  const lat = d.latency_seconds; const tt = d.ttfb_seconds;
  const qrow = (name, a, b) => el('tr', {}, el('th', { scope: 'row' }, name),
    el('td', { class: 'num' }, fmtDuration(a)), el('td', { class: 'num' }, fmtDuration(b)),
    el('td', { class: 'num' }, a > 0 ? fmtPct(Math.max(0, (a - b) / a)) : '–'));
  const codes = Object.entries(d.errors_by_code || {}).sort((a, b) => b[1] - a[1]);
  const related = state.findings && state.findings.findings
    ? state.findings.findings.filter((f) => f.digest === d.digest || f.source_digest === d.digest) : [];
  const others = doc.digests.length > 1
    ? el('p', { class: 'muted small' }, 'Also seen in schemas: ',
      doc.digests.slice(1).map((o, i) => [i ? ', ' : '', el('a', { href: digestHref(o) }, o.schema || '(none)')]))
    : null;
  fill(body,
    sqlBlock(formatSQL(d.fingerprint)),
    d.sample_raw ? el('div', {}, el('p', { class: 'label' }, 'Slowest statement, literals included (--log-literals is on)'),
      sqlBlock(d.sample_raw)) : el('p', { class: 'muted small' }, 'Sample: the normalized text above; literal values are redacted.'),
    others,
    el('div', { class: 'detail-grid' },
      el('section', { 'aria-labelledby': 'dh-lat' }, el('h3', { id: 'dh-lat' }, 'Latency'),
        histogramChart(d.latency_histogram, d.ttfb_histogram),
        el('table', { class: 'compact' },
          el('caption', {}, 'Time to first byte against total time'),
          el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, ''), el('th', { scope: 'col', class: 'num' }, 'Total'),
            el('th', { scope: 'col', class: 'num' }, 'First byte'), el('th', { scope: 'col', class: 'num' }, 'Transfer share'))),
          el('tbody', {}, qrow('mean', lat.mean, tt.mean), qrow('p50', lat.p50, tt.p50), qrow('p95', lat.p95, tt.p95),
            qrow('p99', lat.p99, tt.p99), qrow('max', lat.max, tt.max), qrow('sum', lat.sum, tt.sum)))),
      el('section', { 'aria-labelledby': 'dh-facts' }, el('h3', { id: 'dh-facts' }, 'Facts'),
        kv([
          ['Executions', fmtInt(d.count)],
          ['Commands', Object.entries(d.commands || {}).map(([k, v]) => `${k} ${fmtInt(v)}`).join(', ') || '–'],
          ['Schema', d.schema === '' ? '(none)' : d.schema],
          ['Kind', d.kind || '–'],
          ['Tables', (d.tables || []).join(', ') || '–'],
          ['Users', (d.users || []).join(', ') + (d.users_truncated ? ' …' : '') || '–'],
          d.schemas && d.schemas.length ? ['Schemas', d.schemas.join(', ')] : null,
          ['Rows sent', `${fmtInt(d.rows_sent)} (${d.count ? (d.rows_sent / d.count).toFixed(1) : 0} per execution)`],
          ['Rows affected', fmtInt(d.rows_affected)],
          ['Warnings', fmtInt(d.warnings)],
          ['Bytes in / out', `${fmtInt(d.bytes_in)} / ${fmtInt(d.bytes_out)}`],
          ['Incomplete', fmtInt(d.incomplete)],
          d.tags && d.tags.length ? ['Tags', d.tags.join(', ')] : null,
          ['First seen', fmtTime(d.first_seen)],
          ['Last seen', fmtTime(d.last_seen)],
        ]),
        el('h3', {}, 'Errors'),
        codes.length || d.errors_other_codes
          ? el('table', { class: 'compact' }, el('caption', { class: 'visually-hidden' }, 'Errors by code'),
            el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Code'), el('th', { scope: 'col', class: 'num' }, 'Count'))),
            el('tbody', {}, codes.map(([c, n]) => el('tr', {}, el('th', { scope: 'row' }, c), el('td', { class: 'num' }, fmtInt(n)))),
              d.errors_other_codes ? el('tr', {}, el('th', { scope: 'row' }, 'other codes'), el('td', { class: 'num' }, fmtInt(d.errors_other_codes))) : null))
          : el('p', { class: 'muted' }, d.prepare_errors ? `No failed executions; ${fmtInt(d.prepare_errors)} failed prepares.` : 'No errors.'))),
    related.length ? el('section', {}, el('h3', {}, 'Findings about this statement'),
      el('div', { class: 'findings-list' }, related.map(renderFinding))) : null);
  body.dataset.digest = d.digest;
}

// formatSQL breaks a long statement before its main clauses for reading.
function formatSQL(sql) {
  if (!sql || sql.length < 90) return sql;
  return sql.replace(/\s+(from|where|group by|order by|having|limit|union|values|set|(?:left |right |inner |cross )?join|on duplicate key update)\s+/gi,
    (m, kw) => `\n${kw} `);
}

// ---------- routing ----------

function parseRoute() {
  const h = location.hash.replace(/^#/, '');
  const [p, qs] = h.split('?');
  const params = new URLSearchParams(qs || '');
  const m = /^\/digest\/([^/]+)$/.exec(p || '');
  if (m) return { view: 'detail', digest: decodeURIComponent(m[1]), schema: params.has('schema') ? params.get('schema') : null };
  return { view: 'overview' };
}

function applyRoute() {
  state.route = parseRoute();
  const detail = state.route.view === 'detail';
  $('overview').hidden = detail;
  $('detail').hidden = !detail;
  if (detail) {
    $('detail-body').replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
    $('detail-h').focus?.();
  }
  refresh();
}

// ---------- refresh loop ----------

function status(msg, isError) {
  const s = $('status');
  if (s.textContent !== msg) s.textContent = msg;
  s.classList.toggle('error', !!isError);
}

async function refresh() {
  clearTimeout(state.timer);
  const gen = ++state.gen;
  const route = state.route;
  const summaryURL = digestsURL({ limit: SUMMARY_LIMIT });
  const plainTable = state.sort === 'total_time' && !state.q && state.schema === '*';
  const tableURL = digestsURL({ sort: state.sort, limit: TABLE_LIMIT, q: state.q, schema: state.schema === '*' ? null : state.schema });
  const jobs = [
    getJSON(summaryURL),
    getText(API.metrics).catch(() => null),
    getJSON(`${API.findings}?limit=100`).catch((e) => (e.status === 404 ? { missing: true } : { error: e.message })),
    route.view === 'overview' && !plainTable ? getJSON(tableURL) : null,
    route.view === 'detail'
      ? getJSON(`${API.digests}/${encodeURIComponent(route.digest)}${route.schema != null ? `?schema=${encodeURIComponent(route.schema)}` : ''}`)
        .catch((e) => ({ failed: e }))
      : null,
  ];
  try {
    const [summary, metrics, findings, table, detail] = await Promise.all(jobs);
    if (gen !== state.gen) return;
    state.summary = summary;
    state.findings = findings;
    renderSummary(summary, metrics);
    if (route.view === 'overview') {
      renderTable(plainTable ? { ...summary, digests: summary.digests.slice(0, TABLE_LIMIT) } : table);
      renderFindings();
    } else if (detail && detail.failed) {
      $('detail-body').replaceChildren(el('p', { class: 'empty' }, detail.failed.status === 404
        ? 'This statement is not in the statistics (any more): it may have been reset.'
        : `Could not load the statement: ${detail.failed.message}`));
    } else if (detail) {
      renderDetail(detail);
    }
    document.body.dataset.loaded = 'true';
    setText('updated', `Updated ${new Date(summary.taken).toLocaleTimeString()}`);
    status(state.paused ? 'Paused.' : '', false);
  } catch (e) {
    if (gen !== state.gen) return;
    if (e.status === 401) {
      status('This endpoint needs its API token to read the statistics: use “Token…” to enter it.', true);
      $('reset').hidden = false;
      $('reset').textContent = 'Token…';
      state.needsToken = true;
    } else {
      status(`Cannot reach the API: ${e.message}`, true);
    }
  } finally {
    if (gen === state.gen) schedule();
  }
}

function schedule() {
  clearTimeout(state.timer);
  if (!state.paused && !document.hidden) state.timer = setTimeout(refresh, state.interval);
}

// ---------- controls ----------

function setPaused(p) {
  state.paused = p;
  const b = $('pause');
  b.setAttribute('aria-pressed', String(p));
  b.textContent = p ? 'Resume' : 'Pause';
  status(p ? 'Paused.' : '', false);
  if (p) clearTimeout(state.timer); else refresh();
}

const THEMES = ['auto', 'light', 'dark'];
function applyTheme(t) {
  if (t === 'auto') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  $('theme').textContent = `Theme: ${t}`;
}

let searchTimer = 0;
function setupControls() {
  const meta = document.querySelector('meta[name="querylens-refresh"]');
  const ms = Number(meta && meta.content);
  if (ms >= 250) state.interval = ms;
  const sel = $('interval');
  if (![...sel.options].some((o) => Number(o.value) === state.interval)) {
    sel.append(el('option', { value: String(state.interval) }, `${state.interval / 1000} s`));
  }
  sel.value = String(state.interval);
  sel.addEventListener('change', () => { state.interval = Number(sel.value); schedule(); });

  $('pause').addEventListener('click', () => setPaused(!state.paused));

  let theme = 'auto';
  try { theme = localStorage.getItem('querylens-theme') || 'auto'; } catch { /* storage off */ }
  applyTheme(THEMES.includes(theme) ? theme : 'auto');
  $('theme').addEventListener('click', () => {
    const cur = document.documentElement.dataset.theme || 'auto';
    const next = THEMES[(THEMES.indexOf(cur) + 1) % THEMES.length];
    applyTheme(next);
    try { localStorage.setItem('querylens-theme', next); } catch { /* storage off */ }
  });

  for (const th of document.querySelectorAll('#digests th[data-sort]')) {
    th.querySelector('button').addEventListener('click', () => {
      state.sort = th.dataset.sort;
      refresh();
    });
  }
  $('q').addEventListener('input', (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { state.q = e.target.value.trim(); refresh(); }, 200);
  });
  $('schema').addEventListener('change', (e) => { state.schema = e.target.value; refresh(); });

  for (const chip of document.querySelectorAll('.chip')) {
    chip.addEventListener('click', () => {
      state.group = chip.dataset.group;
      for (const c of document.querySelectorAll('.chip')) c.setAttribute('aria-pressed', String(c === chip));
      renderFindings();
    });
  }

  document.addEventListener('visibilitychange', () => { if (!document.hidden && !state.paused) refresh(); });
  window.addEventListener('hashchange', applyRoute);
  setupReset();
}

// ---------- reset ----------

function storedToken() {
  try { return sessionStorage.getItem('querylens-token') || ''; } catch { return ''; }
}

async function setupReset() {
  // Without credentials the endpoint answers 403 when no token is configured
  // and 401 when one is; it never resets without the token.
  try {
    const resp = await fetch(API.reset, { method: 'POST', cache: 'no-store' });
    $('reset').hidden = resp.status !== 401;
  } catch { /* leave hidden */ }
  const dlg = $('reset-dialog');
  $('reset').addEventListener('click', () => {
    const signIn = !!state.needsToken;
    $('reset-h').textContent = signIn ? 'API token' : 'Reset the statistics?';
    $('reset-text').textContent = signIn
      ? 'This endpoint requires its API token for reads. It is kept in this tab only.'
      : 'This clears every per-statement aggregate on this proxy. Prometheus counters keep counting.';
    $('reset-confirm').textContent = signIn ? 'Use token' : 'Reset';
    $('token').value = storedToken();
    $('reset-error').textContent = '';
    dlg.showModal();
    $('token').focus();
  });
  $('reset-cancel').addEventListener('click', () => dlg.close());
  const confirm = async () => {
    const token = $('token').value;
    if (!token) { $('reset-error').textContent = 'Enter the API token.'; return; }
    if (state.needsToken) {
      try { sessionStorage.setItem('querylens-token', token); } catch { /* storage off */ }
      state.needsToken = false;
      $('reset').textContent = 'Reset…';
      dlg.close();
      refresh();
      return;
    }
    try {
      const resp = await fetch(API.reset, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
      if (resp.ok) {
        try {
          if ($('remember').checked) sessionStorage.setItem('querylens-token', token);
          else sessionStorage.removeItem('querylens-token');
        } catch { /* storage off */ }
        dlg.close();
        await refresh();
        status('Statistics reset.', false);
        return;
      }
      if (resp.status === 401) {
        try { sessionStorage.removeItem('querylens-token'); } catch { /* storage off */ }
        $('reset-error').textContent = 'The token was refused.';
      } else {
        let msg = `${resp.status}`;
        try { msg = (await resp.json()).error || msg; } catch { /* not JSON */ }
        $('reset-error').textContent = msg;
      }
    } catch (e) {
      $('reset-error').textContent = `Reset failed: ${e.message}`;
    }
  };
  $('reset-confirm').addEventListener('click', confirm);
  $('token').addEventListener('keydown', (e) => { if (e.key === 'Enter') confirm(); });
}

setupControls();
applyRoute();
