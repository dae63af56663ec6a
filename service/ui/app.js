// The dashboard: a job list and a job page, both reading the service's JSON API with the key kept in
// sessionStorage. The job page follows the job's Server-Sent Events through fetch (EventSource cannot send
// an Authorization header) and draws the result once the job has succeeded.
import { format, heatMap, histogram, intervals, lineChart, scatter } from './charts.js';

const KEY = 'blp-api-key';
const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
const view = document.getElementById('view');
const message = document.getElementById('message');
let config = { auth_required: false };
let leave = () => {};
let statusFilter = '';

// ------------------------------------------------------------------------------------------ helpers

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value === true ? '' : value);
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return node;
}

function headers() {
  const key = sessionStorage.getItem(KEY);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function api(path, signal) {
  const response = await fetch(path, { headers: headers(), signal });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function say(text) {
  message.hidden = !text;
  message.textContent = text || '';
}

function fail(error) {
  if (error.name === 'AbortError') return;
  if (error.status === 401) {
    sessionStorage.removeItem(KEY);
    showKeyState();
    say('The service needs a valid API key: type it above.');
    return;
  }
  say(`Error: ${error.message}`);
}

const short = (id) => id.slice(0, 8);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

function duration(job) {
  if (!job.started_at) return '—';
  const end = job.finished_at ? new Date(job.finished_at) : new Date();
  const seconds = (end - new Date(job.started_at)) / 1000;
  return seconds < 60 ? `${seconds.toFixed(1)} s` : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

function table(caption, columns, rows, attrs = {}) {
  return h('table', attrs,
    h('caption', { text: caption }),
    h('thead', {}, h('tr', {}, columns.map(([label, numeric]) => h('th', { scope: 'col', class: numeric ? 'num' : null, text: label })))),
    h('tbody', {}, rows));
}

function select(id, label, options, value, onchange) {
  return h('p', {}, h('label', { for: id, text: `${label} ` }),
    h('select', { id, onchange: (event) => onchange(event.target.value) },
      options.map(([optionValue, text]) => h('option', { value: optionValue, selected: optionValue === value, text }))));
}

function figure(chart, caption) {
  return h('figure', {}, chart, h('figcaption', { text: caption }));
}

// ------------------------------------------------------------------------------------------ key and routing

function showKeyState() {
  const key = sessionStorage.getItem(KEY);
  document.getElementById('key-state').textContent = key ? 'key in use for this session' : (config.auth_required ? 'no key yet' : '');
}

function route() {
  leave();
  leave = () => {};
  say('');
  if (config.auth_required && !sessionStorage.getItem(KEY)) {
    view.replaceChildren(h('p', { text: 'This service needs an API key: type it above and press "Use key".' }));
    document.getElementById('api-key').focus();
    return;
  }
  const match = location.hash.match(/^#\/jobs\/([\w-]+)/);
  if (match) jobPage(match[1]);
  else jobList();
}

// ------------------------------------------------------------------------------------------ job list

function jobList() {
  const body = h('tbody');
  const list = table('Jobs, newest first', [['Job'], ['Kind'], ['Status'], ['Created'], ['Duration', true]], [], { id: 'jobs' });
  list.replaceChild(body, list.querySelector('tbody'));
  const filter = select('status-filter', 'Status', [['', 'all'], ...STATUSES.map((s) => [s, s])], statusFilter, (value) => {
    statusFilter = value;
    load();
  });
  view.replaceChildren(h('h2', { text: 'Jobs' }), filter, list);
  const controller = new AbortController();
  async function load() {
    try {
      const query = statusFilter ? `&status=${statusFilter}` : '';
      const page = await api(`/v1/jobs?limit=200${query}`, controller.signal);
      body.replaceChildren(...page.items.map((job) => h('tr', { 'data-job': job.id },
        h('td', {}, h('a', { href: `#/jobs/${job.id}`, text: short(job.id) })),
        h('td', { text: job.kind }),
        h('td', { class: `status-${job.status}`, text: job.status }),
        h('td', { text: when(job.created_at) }),
        h('td', { class: 'num', text: duration(job) }))));
      if (!page.items.length) body.append(h('tr', {}, h('td', { colspan: 5, class: 'muted', text: 'No jobs.' })));
    } catch (error) {
      fail(error);
    }
  }
  load();
  const timer = setInterval(load, 3000);
  leave = () => { clearInterval(timer); controller.abort(); };
}

// ------------------------------------------------------------------------------------------ job page

async function followEvents(id, onJob, signal) {
  const response = await fetch(`/v1/jobs/${id}/events`, { headers: headers(), signal });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const fields = Object.fromEntries(block.split('\n').filter((line) => !line.startsWith(':'))
        .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]));
      if (!fields.data) continue;
      const data = JSON.parse(fields.data);
      if (data.id) onJob(data);
      if (fields.event === 'end') return;
    }
  }
}

function jobPage(id) {
  const controller = new AbortController();
  leave = () => controller.abort();
  const facts = h('dl', { class: 'facts', id: 'job-facts' });
  const trace = { points: [], box: h('div', { id: 'trace' }), rows: h('tbody') };
  const progressText = h('p', { id: 'progress', role: 'status' });
  const results = h('div', { id: 'results' });
  view.replaceChildren(
    h('p', {}, h('a', { href: '#/', text: '← all jobs' })),
    h('h2', { text: `Job ${short(id)}` }), facts,
    h('h3', { text: 'Convergence' }), progressText, trace.box,
    h('details', {}, h('summary', { text: 'Iterations as a table' }),
      (() => { const t = table('Optimizer iterations', [['Iteration', true], ['Objective', true], ['Gradient norm', true]], []);
               t.replaceChild(trace.rows, t.querySelector('tbody')); return t; })()),
    results);
  let shown = false, finished = false;
  const onJob = (job) => {
    finished = ['succeeded', 'failed', 'cancelled'].includes(job.status);
    showFacts(facts, job);
    recordProgress(trace, progressText, job);
    if (job.status === 'succeeded' && !shown) {
      shown = true;
      showResult(job, results, controller.signal, (points) => showStoredTrace(trace, progressText, points)).catch(fail);
    }
  };
  // a stream closed before the job finished (a proxy's idle timeout, a restarted API) is opened again
  const follow = () => followEvents(id, onJob, controller.signal)
    .then(() => { if (!finished && !controller.signal.aborted) setTimeout(follow, 2000); })
    .catch(fail);
  follow();
}

function showFacts(facts, job) {
  const entries = [
    ['Status', h('span', { id: 'job-status', class: `status-${job.status}`, text: job.status })],
    ['Kind', job.kind], ['Created', when(job.created_at)], ['Started', when(job.started_at)],
    ['Finished', when(job.finished_at)], ['Duration', duration(job)], ['Attempts', String(job.attempts)],
  ];
  if (job.parent_job_id) entries.push(['From estimate', h('a', { href: `#/jobs/${job.parent_job_id}`, text: short(job.parent_job_id) })]);
  if (job.error) entries.push(['Error', `${job.error.title}: ${job.error.detail || ''}`]);
  facts.replaceChildren(...entries.flatMap(([term, value]) => [h('dt', { text: term }), h('dd', {}, value)]));
}

function recordProgress(trace, text, job) {
  const p = job.progress || {};
  if (p.starts_total) {
    text.textContent = `${p.starts_done ?? 0} of ${p.starts_total} starts done (phase ${p.phase ?? 1} of ${p.phases ?? 1}), `
      + `${p.starts_failed ?? 0} failed, best objective ${format(p.best_objective)}`;
    return;
  }
  if (p.candidates_total) {
    text.textContent = `${p.candidates_done ?? 0} of ${p.candidates_total} candidate mergers done, ${p.candidates_failed ?? 0} failed`;
    return;
  }
  if (p.variants_total) {
    text.textContent = `${p.variants_done ?? 0} of ${p.variants_total} variants done, ${p.variants_failed ?? 0} failed`;
    return;
  }
  if (p.iteration === null || p.iteration === undefined) {
    text.textContent = job.status === 'queued' ? 'Waiting for a worker…' : '';
    return;
  }
  const point = { iteration: p.iteration, objective: p.objective, gradient: p.gradient_norm };
  const last = trace.points[trace.points.length - 1];
  if (last && last.iteration === point.iteration) trace.points[trace.points.length - 1] = point;
  else trace.points.push(point);
  text.textContent = `Iteration ${p.iteration}: objective ${format(p.objective)}, gradient norm ${format(p.gradient_norm)}`;
  if (trace.points.length < 2 && ['failed', 'cancelled'].includes(job.status)) {
    text.textContent += ' (the trace is drawn while this page watches a running job)';
  }
  drawTrace(trace);
}

// A finished estimate's result holds every iteration (results.trace): drawn in place of what progress showed.
function showStoredTrace(trace, text, stored) {
  if (!stored || !stored.length) return;
  trace.points = stored.map((q) => ({ iteration: q.iteration, objective: q.objective, gradient: q.gradient_norm }));
  const last = stored[stored.length - 1];
  text.textContent = `${stored.length} iterations: objective ${format(last.objective)}, gradient norm ${format(last.gradient_norm)}`;
  drawTrace(trace);
}

function drawTrace(trace) {
  trace.box.replaceChildren(figure(lineChart({
    id: 'trace-chart', title: 'Objective and gradient norm by iteration',
    description: `${trace.points.length} iterations recorded; log scale.`,
    series: [{ name: 'objective', color: '#1f5fa8', points: trace.points.map((q) => [q.iteration, q.objective]) },
             { name: 'gradient norm', color: '#b5540b', points: trace.points.map((q) => [q.iteration, q.gradient]) }],
    xLabel: 'optimizer iteration', yLabel: 'value (log scale)',
  }), 'Objective and projected gradient norm at each optimizer iteration.'));
  trace.rows.replaceChildren(...trace.points.map((q) => h('tr', {},
    h('td', { class: 'num', text: String(q.iteration) }), h('td', { class: 'num', text: format(q.objective) }),
    h('td', { class: 'num', text: format(q.gradient) }))));
}

async function showResult(job, box, signal, onTrace) {
  const result = await api(`/v1/jobs/${job.id}/result`, signal);
  if (job.kind === 'counterfactual') showCounterfactual(result, box);
  else if (job.kind === 'merger_screen') showMergerScreen(result, box);
  else if (job.kind === 'sweep') showSweep(job, result, box);
  else {
    if (result.results) onTrace(result.results.trace);
    showEstimate(job, result, box, signal);
  }
}

// ------------------------------------------------------------------------------------------ estimates

function parameterName(p) {
  return p.column ? `${p.kind}[${p.row}, ${p.column}]` : `${p.kind}[${p.row}]`;
}

function showEstimate(job, result, box, signal) {
  const estimate = result.results;
  const rows = estimate.parameters.filter((p) => !p.fixed).map((p) => {
    const ok = p.se !== null && p.value !== null;
    return h('tr', { 'data-kind': p.kind, 'data-row': p.row, 'data-column': p.column ?? '' },
      h('th', { scope: 'row', text: parameterName(p) }),
      h('td', { class: 'num value', text: format(p.value) }),
      h('td', { class: 'num se', text: format(p.se) }),
      h('td', { class: 'num ci', text: ok ? `[${format(p.value - 1.959964 * p.se)}, ${format(p.value + 1.959964 * p.se)}]` : '—' }));
  });
  const markets = Object.keys(estimate.contraction_iterations_by_market || {});
  const counts = Object.values(estimate.contraction_iterations_by_market || {});
  const matrices = h('div', { id: 'matrices' });
  box.replaceChildren(
    h('h3', { text: 'Estimates' }),
    table('Parameters with robust standard errors and 95 % intervals (estimate ± 1.96 SE)',
          [['Parameter'], ['Estimate', true], ['Std. error', true], ['95 % interval', true]], rows, { id: 'parameters' }),
    h('h3', { text: 'Diagnostics' }),
    h('dl', { class: 'facts', id: 'diagnostics' }, ...[
      ['Converged', estimate.converged ? 'yes' : 'no'], ['Objective', format(estimate.objective)],
      ['Projected gradient norm', format(estimate.gradient_norm)],
      ['Hessian eigenvalues', (estimate.hessian_eigenvalues || []).map(format).join(', ') || '—'],
      ['Optimizer iterations', String(estimate.optimization_iterations)],
      ['Contraction iterations (all markets)', String(estimate.contraction_iterations)],
      ['Markets whose inner loop failed', (estimate.inner_loop_failures || []).join(', ') || 'none'],
      ['Optimizer message', estimate.optimization_message || '—'],
    ].flatMap(([term, value]) => [h('dt', { text: term }), h('dd', { text: value })])),
    figure(histogram({ id: 'contraction-histogram', title: 'Contraction iterations per market',
                       description: `${counts.length} markets, from ${Math.min(...counts)} to ${Math.max(...counts)} iterations.`,
                       values: counts, xLabel: 'contraction iterations at the optimum', yLabel: 'markets' }),
           'How many fixed-point iterations each market needed at the last evaluation.'),
    result.multistart ? multistartView(result.multistart) : '',
    h('h3', { text: 'Elasticities and diversion ratios' }),
    select('market', 'Market', markets.map((m) => [m, m]), markets.includes('C01Q2') ? 'C01Q2' : markets[0],
           (market) => showMatrices(job.id, market, matrices, signal).catch(fail)),
    matrices);
  if (markets.length) showMatrices(job.id, document.getElementById('market').value, matrices, signal).catch(fail);
}

async function showMatrices(id, market, box, signal) {
  const query = `market=${encodeURIComponent(market)}`;
  const [elasticities, diversion] = await Promise.all([
    api(`/v1/jobs/${id}/elasticities?${query}`, signal), api(`/v1/jobs/${id}/diversion-ratios?${query}`, signal)]);
  const panel = (data, name, what, xLabel) => {
    const readout = h('p', { class: 'muted', 'aria-live': 'polite', id: `${name}-readout`,
                             text: 'Focus the map and use the arrow keys to read cells.' });
    const labels = data.product_ids;
    const chart = heatMap({
      id: `${name}-heatmap`, title: `${what} in market ${market}`,
      description: `${labels.length} by ${labels.length} products; blue negative, red positive.`,
      labels, matrix: data.matrix, xLabel, yLabel: 'product j',
      onMove: (i, j) => { readout.textContent = `${labels[i]}, ${labels[j]}: ${format(data.matrix[i][j])}`; },
    });
    return h('div', {}, figure(chart, `${what}: row j, column k. Blue cells are negative, red positive; each colour is scaled to its largest magnitude.`), readout);
  };
  box.replaceChildren(h('div', { class: 'panels' },
    panel(elasticities, 'elasticity', 'Price elasticities (share of j, price of k)', 'price of product k'),
    panel(diversion, 'diversion', 'Diversion ratios (j to k; diagonal: outside good)', 'product k')));
}

function multistartView(report) {
  const chosen = report.chosen_start;
  const optimum = (report.agreement?.optima || []).find((o) => o.starts.includes(chosen));
  const reached = new Set(optimum ? optimum.starts : [chosen]);
  const points = report.starts.map((s) => ({
    x: s.index, y: s.objective, label: `start ${s.index}: ${s.status}, objective ${format(s.objective)}`,
    group: s.status !== 'succeeded' ? 'failed' : reached.has(s.index) ? 'reached' : 'other',
  }));
  const chart = scatter({
    id: 'multistart-scatter', title: 'Objective reached from each start',
    description: `${report.starts.length} starts; ${reached.size} reached the chosen optimum (start ${chosen}).`,
    points, xLabel: 'start', yLabel: 'objective (log scale)',
    groups: { reached: { name: 'reached the chosen optimum', fill: '#1d6b2a', stroke: '#1d6b2a' },
              other: { name: 'another optimum', fill: 'none', stroke: '#b5540b' },
              failed: { name: 'failed', fill: '#a61b1b', stroke: '#a61b1b' } },
  });
  const rows = report.starts.map((s) => h('tr', {},
    h('th', { scope: 'row', text: String(s.index) }), h('td', { text: s.status }),
    h('td', { class: 'num', text: format(s.objective) }), h('td', { class: 'num', text: format(s.gradient_norm) }),
    h('td', { text: reached.has(s.index) ? 'yes' : 'no' }), h('td', { text: s.index === chosen ? 'chosen' : '' })));
  return h('section', { id: 'multistart' }, h('h3', { text: 'Multi-start' }),
    h('p', { text: report.agreement?.message || '' }), figure(chart, 'Filled green: starts that reached the chosen optimum.'),
    table('Starts', [['Start', true], ['Status'], ['Objective', true], ['Gradient norm', true], ['Reached chosen'], ['']], rows));
}

// ------------------------------------------------------------------------------------------ sweeps

function showSweep(job, result, box) {
  const comparison = result.comparison;
  const rows = comparison.rows;
  const chart = h('div', { id: 'sweep-chart' });
  const draw = (name) => {
    const items = rows.map((row) => {
      const value = row[name], se = row[`se ${name}`];
      const ok = Number.isFinite(value) && Number.isFinite(se);
      return { label: row.label, value, lower: ok ? value - 1.959964 * se : null, upper: ok ? value + 1.959964 * se : null };
    });
    chart.replaceChildren(figure(intervals({
      id: 'sweep-intervals', title: `${name} across the sweep's variants`,
      description: `${items.length} variants; estimate and 95 % interval (estimate ± 1.96 SE); failed variants have no mark.`,
      items, xLabel: name,
    }), `${name} in each variant, with its 95 % interval (estimate ± 1.96 SE). A variant that failed is listed without a mark.`));
  };
  const counterfactual = comparison.columns.filter((c) => c.startsWith('counterfactual ') && c.includes('change'));
  const columns = [['Variant'], ['Status'], ['Converged'], ['Objective', true], ...comparison.parameters.map((p) => [p, true]),
                   ['Mean own elasticity', true], ...counterfactual.map((c) => [c.replace('counterfactual ', ''), true]),
                   ['Seconds', true]];
  const cells = (row) => [
    h('th', { scope: 'row', text: row.label }), h('td', { class: `status-${row.status}`, text: row.status }),
    h('td', { text: row.converged === null ? '—' : row.converged ? 'yes' : 'no' }),
    h('td', { class: 'num', text: format(row.objective) }),
    ...comparison.parameters.map((p) => h('td', { class: 'num', text: row[p] === null ? '—' : `${format(row[p])} (${format(row[`se ${p}`])})` })),
    h('td', { class: 'num', text: format(row.mean_own_price_elasticity) }),
    ...counterfactual.map((c) => h('td', { class: 'num', text: format(row[c]) })),
    h('td', { class: 'num', text: format(row.seconds) })];
  const failed = rows.filter((row) => row.error);
  box.replaceChildren(
    h('h3', { text: 'Robustness sweep' }),
    h('p', { text: `${result.variants_succeeded} of ${result.variants_total} variants succeeded.` }),
    select('sweep-parameter', 'Parameter', comparison.parameters.map((p) => [p, p]), comparison.parameters[0], draw),
    chart,
    table('Variants side by side: estimates (standard errors), objective, convergence, mean own-price elasticity, the counterfactual\'s headline numbers',
          columns, rows.map((row) => h('tr', { 'data-variant': String(row.variant) }, ...cells(row))), { id: 'sweep-table' }),
    failed.length ? h('h3', { text: 'Failed variants' }) : '',
    failed.length ? h('ul', { id: 'sweep-errors' }, failed.map((row) => h('li', { text: `${row.label}: ${row.error}` }))) : '',
    h('p', {}, h('a', { href: `/v1/jobs/${job.id}/comparison?format=csv`, text: 'The table as CSV' }),
      ' (needs the API key in an Authorization header when keys are required).'));
  if (comparison.parameters.length) draw(comparison.parameters[0]);
}

// ------------------------------------------------------------------------------------------ merger screens

const RANKING_COLUMNS = [
  ['candidate', 'Candidate', false], ['consumer_surplus_loss', 'CS loss', true], ['welfare_change', 'Welfare Δ', true],
  ['merging_profit_change', 'Merging profit Δ', true], ['price_change_percent', 'Price Δ %', true],
  ['merging_price_change_percent', 'Merging price Δ %', true], ['hhi_change_max', 'ΔHHI max', true],
  ['diversion_max', 'Diversion max', true], ['guppi_max', 'GUPPI max', true], ['upp_max', 'UPP max', true],
  ['cmcr_max', 'CMCR max', true], ['markets', 'Markets', true], ['converged', 'Converged', false],
];

function showMergerScreen(result, box) {
  let sort = result.sort, descending = result.order === 'desc';
  const body = h('tbody');
  const head = h('tr');
  const draw = () => {
    const known = result.ranking.filter((row) => typeof row[sort] === 'number');
    known.sort((a, b) => (descending ? b[sort] - a[sort] : a[sort] - b[sort]));
    const rows = known.concat(result.ranking.filter((row) => typeof row[sort] !== 'number'));
    body.replaceChildren(...rows.map((row, index) => h('tr', { 'data-candidate': row.candidate },
      h('td', { class: 'num', text: String(index + 1) }),
      ...RANKING_COLUMNS.map(([key, , numeric]) => (key === 'candidate'
        ? h('th', { scope: 'row', text: row.candidate })
        : h('td', { class: numeric ? 'num' : null,
                    text: typeof row[key] === 'boolean' ? (row[key] ? 'yes' : 'no') : numeric ? format(row[key]) : String(row[key]) }))))));
    head.replaceChildren(h('th', { scope: 'col', class: 'num', text: 'Rank' }),
      ...RANKING_COLUMNS.map(([key, label, numeric]) => h('th', {
        scope: 'col', class: numeric ? 'num' : null,
        'aria-sort': key === sort ? (descending ? 'descending' : 'ascending') : null,
      }, numeric ? h('button', { type: 'button', 'data-sort': key, text: label + (key === sort ? (descending ? ' ▼' : ' ▲') : ''),
                                 onclick: () => { descending = key === sort ? !descending : true; sort = key; draw(); } })
        : label)));
  };
  draw();
  const failed = result.failed.length ? h('p', { text: `${result.failed.length} candidate(s) failed: `
    + result.failed.map((f) => `${f.firms.join(' + ')} (${f.error?.detail || f.error?.title || 'failed'})`).join('; ') }) : '';
  box.replaceChildren(
    h('h3', { text: `Merger screen: ${result.ranking.length} of ${result.candidates} candidates ranked` }),
    h('p', { class: 'muted', text: `Efficiency credit ${format(result.credit)} of marginal cost; changes are after minus `
      + 'before, summed over the markets where at least two of the firms sell. Sort by a column with its button; '
      + 'each candidate simulates in full with POST /v1/jobs/{estimate}/counterfactuals and the body in the ranking.' }),
    figure(scatter({
      id: 'ranking-chart', title: 'Consumer-surplus loss of each candidate, by rank',
      description: `${result.ranking.length} candidates; the largest loss first.`, log: false,
      points: result.ranking.filter((row) => typeof row.consumer_surplus_loss === 'number')
        .sort((a, b) => b.consumer_surplus_loss - a.consumer_surplus_loss)
        .map((row, index) => ({ x: index + 1, y: row.consumer_surplus_loss, group: row.converged ? 'converged' : 'other',
                                label: `${row.candidate}: consumer-surplus loss ${format(row.consumer_surplus_loss)}` })),
      groups: { converged: { name: 'every market converged', fill: '#1f5fa8', stroke: '#1f5fa8' },
                other: { name: 'some market did not converge', fill: 'none', stroke: '#a61b1b' } },
      xLabel: 'rank by consumer-surplus loss', yLabel: 'consumer-surplus loss',
    }), 'Consumer-surplus loss (before minus after, summed over markets) of each candidate, largest first.'),
    h('table', { id: 'ranking' }, h('caption', { text: 'Candidate mergers ranked' }), h('thead', {}, head), body),
    failed);
}

// ------------------------------------------------------------------------------------------ counterfactuals

function showCounterfactual(result, box) {
  const markets = [...new Set(result.products.map((p) => p.market_id))];
  const body = h('tbody');
  const summary = h('div');
  const draw = (market) => {
    const change = (row, name) => format(row[`${name}_change_percent`]);
    body.replaceChildren(...result.products.filter((p) => p.market_id === market).map((p) => h('tr', { 'data-product': p.product_id },
      h('th', { scope: 'row', text: p.product_id }),
      h('td', { text: p.firm_id_before === p.firm_id_after ? (p.firm_id_after ?? '—') : `${p.firm_id_before} → ${p.firm_id_after}` }),
      h('td', { class: 'num', text: format(p.price_before) }), h('td', { class: 'num', text: format(p.price_after) }),
      h('td', { class: 'num', text: change(p, 'price') }),
      h('td', { class: 'num', text: format(p.share_before) }), h('td', { class: 'num', text: format(p.share_after) }),
      h('td', { class: 'num', text: change(p, 'share') }))));
    const m = result.markets.find((row) => row.market_id === market) || {};
    summary.replaceChildren(table(`Market ${market}`, [[''], ['Before', true], ['After', true], ['Change %', true]],
      [['Outside share', 'outside_share'], ['Consumer surplus', 'consumer_surplus'], ['HHI', 'hhi'], ['Total profit', 'profit']]
        .map(([label, name]) => h('tr', {}, h('th', { scope: 'row', text: label }),
          h('td', { class: 'num', text: format(m[`${name}_before`]) }), h('td', { class: 'num', text: format(m[`${name}_after`]) }),
          h('td', { class: 'num', text: format(m[`${name}_change_percent`]) })))));
  };
  const products = table('Prices and shares per product, before and after',
    [['Product'], ['Firm'], ['Price before', true], ['Price after', true], ['Price change %', true],
     ['Share before', true], ['Share after', true], ['Share change %', true]], [], { id: 'counterfactual' });
  products.replaceChild(body, products.querySelector('tbody'));
  box.replaceChildren(h('h3', { text: `Counterfactual (${result.mode})` }),
    select('cf-market', 'Market', markets.map((m) => [m, m]), markets[0], draw), summary, products);
  draw(markets[0]);
}

// ------------------------------------------------------------------------------------------ start

document.getElementById('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = document.getElementById('api-key');
  if (input.value.trim()) sessionStorage.setItem(KEY, input.value.trim());
  input.value = '';
  showKeyState();
  route();
});
document.getElementById('forget-key').addEventListener('click', () => {
  sessionStorage.removeItem(KEY);
  showKeyState();
  route();
});
window.addEventListener('hashchange', route);
fetch('/ui/config').then((response) => response.json()).then((body) => { config = body; })
  .catch(() => {}).finally(() => { showKeyState(); route(); });
