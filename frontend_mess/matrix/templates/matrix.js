// Rows are built here from the embedded records, so 4,000 cells stay one small page. Filters
// live in the URL's hash (#status=mismatch&q=Resize), so a filtered view can be shared and a
// headless browser can open one.
const cells = JSON.parse(document.getElementById('cells').textContent);
const headers = Array.from(document.querySelectorAll('#cells-table th'));
const columns = headers.map(th => th.dataset.key);
const stages = headers.filter(th => 'seconds' in th.dataset).map(th => th.dataset.key);
const value = (c, k) => stages.includes(k) ? (c.seconds || {})[k] : c[k];
let sortKey = null, ascending = true;
const controls = ['env', 'suite', 'path', 'target', 'status', 'q'].map(id => document.getElementById(id));

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  controls.forEach(el => { el.value = params.get(el.id) || ''; });
}

function writeHash() {
  const params = new URLSearchParams();
  controls.forEach(el => { if (el.value) params.set(el.id, el.value); });
  history.replaceState(null, '', '#' + params.toString());
}

function text(k, v) {
  if (v === null || v === undefined) return '';
  return k === 'max_rel_error' ? Number(v).toExponential(1) : String(v);
}

function row(c) {
  const tr = document.createElement('tr');
  tr.className = c.status;
  tr.dataset.status = c.status;
  columns.forEach(k => {
    const td = document.createElement('td');
    td.textContent = text(k, value(c, k));
    if (k === 'status') td.className = 'status';
    tr.appendChild(td);
  });
  if (!c.passing) {
    tr.classList.add('failing');
    tr.title = c.error;
    tr.addEventListener('click', () => {
      const next = tr.nextElementSibling;
      if (next && next.classList.contains('error')) { next.remove(); return; }
      const shown = document.createElement('tr'), td = document.createElement('td');
      shown.className = 'error'; td.colSpan = columns.length; td.textContent = c.error;
      if (c.repro) {  // its error class's reduced repro (reports/repros/, `reduce`)
        const link = document.createElement('a');
        link.href = c.repro; link.textContent = 'repro: ' + c.repro;
        td.append(document.createElement('br'), link);
      }
      if (c.run) {  // the cell's stages in the store: its IR and .vmfb, one command away
        const how = document.createElement('code');
        how.textContent = 'frontend-mess store export ' + c.run + ' ./' + c.run;
        td.append(document.createElement('br'), how);
      }
      shown.appendChild(td); tr.after(shown);
    });
  }
  return tr;
}

function show() {
  const [env, suite, path, target, status, q] = controls.map(el => el.value);
  const needle = q.toLowerCase();
  const rows = cells.filter(c => (!env || c.env === env)
    && (!suite || c.suite === suite) && (!path || c.path === path)
    && (!target || c.target === target)
    && (!status || (status === 'fail' ? !c.passing : c.status === status))
    && (!needle || (c.source + ' ' + c.error + ' ' + c.error_class).toLowerCase()
                     .includes(needle)));
  if (sortKey) rows.sort((a, b) => {
    const x = value(a, sortKey) ?? '', y = value(b, sortKey) ?? '';
    return (x > y ? 1 : x < y ? -1 : 0) * (ascending ? 1 : -1);
  });
  document.querySelector('#cells-table tbody').replaceChildren(...rows.map(row));
  // a cuda cell without a GPU passes as `assembled` (compiled, PTX assembled, not run)
  const assembled = rows.filter(c => c.status === 'assembled').length;
  const passed = rows.filter(c => c.passing).length - assembled;
  document.getElementById('shown').textContent =
    `${rows.length} of ${cells.length} cells, ${passed} pass` +
    (assembled ? `, ${assembled} assembled (cuda, not run)` : '');
}

headers.forEach(th => th.addEventListener('click', () => {
  ascending = sortKey === th.dataset.key ? !ascending : true;
  sortKey = th.dataset.key;
  show();
}));
controls.forEach(el => el.addEventListener('input', () => { writeHash(); show(); }));
window.addEventListener('hashchange', () => { readHash(); show(); });
readHash();
show();
