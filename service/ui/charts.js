// SVG charts drawn in the browser with no library: a line chart (log scale), a heat map, a histogram and a
// scatter. Each is an <svg role="img"> with a <title> and <desc>, labelled axes, and a text alternative nearby.
const NS = 'http://www.w3.org/2000/svg';
const MARGIN = { top: 12, right: 16, bottom: 44, left: 64 };

export function el(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

export function format(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  const size = Math.abs(value);
  if (size === 0) return '0';
  return size >= 1e-3 && size < 1e4 ? String(Number(value.toPrecision(4))) : value.toExponential(2);
}

function frame(id, title, description, width, height) {
  const svg = el('svg', { id, width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
                          'aria-labelledby': `${id}-title ${id}-desc` });
  svg.append(el('title', { id: `${id}-title` }, title), el('desc', { id: `${id}-desc` }, description));
  return svg;
}

// A scale maps data to pixels; log scales take log10 of positive data.
function scale(domain, range, log = false) {
  const f = log ? Math.log10 : (v) => v;
  const [d0, d1] = [f(domain[0]), f(domain[1])];
  const span = d1 - d0 || 1;
  return (v) => range[0] + (f(v) - d0) / span * (range[1] - range[0]);
}

function ticks(min, max, log) {
  if (log) {
    const out = [];
    for (let p = Math.ceil(Math.log10(min)); p <= Math.floor(Math.log10(max)); p++) out.push(10 ** p);
    if (!out.length) out.push(min, max);
    const step = Math.ceil(out.length / 8);
    return out.filter((_, i) => i % step === 0);
  }
  const raw = (max - min) / 5 || 1;
  const step = 10 ** Math.floor(Math.log10(raw)) * [1, 2, 5, 10].find((m) => 10 ** Math.floor(Math.log10(raw)) * m >= raw);
  const out = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function axes(svg, x, y, xTicks, yTicks, xLabel, yLabel, width, height) {
  const bottom = height - MARGIN.bottom, left = MARGIN.left;
  const group = el('g', { class: 'axis' });
  group.append(el('line', { x1: left, x2: width - MARGIN.right, y1: bottom, y2: bottom }),
               el('line', { x1: left, x2: left, y1: MARGIN.top, y2: bottom }));
  for (const t of xTicks) {
    group.append(el('line', { x1: x(t), x2: x(t), y1: bottom, y2: bottom + 4 }),
                 el('text', { x: x(t), y: bottom + 16, 'text-anchor': 'middle' }, format(t)));
  }
  for (const t of yTicks) {
    group.append(el('line', { class: 'grid', x1: left, x2: width - MARGIN.right, y1: y(t), y2: y(t) }),
                 el('text', { x: left - 6, y: y(t) + 4, 'text-anchor': 'end' }, format(t)));
  }
  group.append(el('text', { x: (left + width - MARGIN.right) / 2, y: height - 8, 'text-anchor': 'middle' }, xLabel),
               el('text', { x: 14, y: (MARGIN.top + bottom) / 2, 'text-anchor': 'middle',
                            transform: `rotate(-90 14 ${(MARGIN.top + bottom) / 2})` }, yLabel));
  svg.append(group);
}

function extent(values) {
  return [Math.min(...values), Math.max(...values)];
}

// Lines of [x, y] points; on a log scale, points with y <= 0 cannot be drawn and are left out.
export function lineChart({ id, title, description, series, xLabel, yLabel, log = true, width = 620, height = 300 }) {
  const svg = frame(id, title, description, width, height);
  const drawn = series.map((s) => ({ ...s, points: s.points.filter(([, v]) => Number.isFinite(v) && (!log || v > 0)) }));
  const all = drawn.flatMap((s) => s.points);
  if (!all.length) return svg;
  let [xMin, xMax] = extent(all.map(([v]) => v));
  let [yMin, yMax] = extent(all.map(([, v]) => v));
  if (xMin === xMax) xMax = xMin + 1;
  if (yMin === yMax) [yMin, yMax] = log ? [yMin / 10, yMax * 10] : [yMin - 1, yMax + 1];
  const x = scale([xMin, xMax], [MARGIN.left, width - MARGIN.right]);
  const y = scale([yMin, yMax], [height - MARGIN.bottom, MARGIN.top], log);
  axes(svg, x, y, ticks(xMin, xMax, false).filter(Number.isInteger), ticks(yMin, yMax, log), xLabel, yLabel, width, height);
  drawn.forEach((s, i) => {
    svg.append(el('polyline', { fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-dasharray': i ? '5 3' : '',
                                points: s.points.map(([a, b]) => `${x(a)},${y(b)}`).join(' ') }));
    svg.append(el('text', { x: width - MARGIN.right - 4, y: MARGIN.top + 12 + 14 * i, 'text-anchor': 'end', fill: s.color },
                  `${i ? '- - ' : '—— '}${s.name}`));
  });
  return svg;
}

// A matrix as coloured cells (negative blue, positive red, each sign scaled to its own largest magnitude).
// Arrow keys move a cursor over the cells and `onMove(i, j)` reports the one under it.
export function heatMap({ id, title, description, labels, matrix, xLabel, yLabel, onMove, size = 560 }) {
  const n = labels.length, left = 70, top = 10, bottom = 70, cell = (size - left) / n;
  const svg = frame(id, title, description, size, top + n * cell + bottom);
  svg.setAttribute('tabindex', '0');
  const values = matrix.flat().filter(Number.isFinite);
  const lowest = Math.min(0, ...values), highest = Math.max(0, ...values);
  const colour = (v) => {
    if (!Number.isFinite(v)) return '#ccc';
    const t = v < 0 ? Math.sqrt(v / lowest) : Math.sqrt(v / (highest || 1));
    const light = Math.round(97 - 55 * t);
    return v < 0 ? `hsl(214 70% ${light}%)` : `hsl(4 70% ${light}%)`;
  };
  const cells = el('g', { class: 'cells' });
  matrix.forEach((row, i) => row.forEach((v, j) => {
    const rect = el('rect', { class: 'cell', x: left + j * cell, y: top + i * cell, width: cell, height: cell,
                              fill: colour(v), 'data-row': i, 'data-column': j });
    rect.append(el('title', {}, `${labels[i]} × ${labels[j]}: ${format(v)}`));
    cells.append(rect);
  }));
  svg.append(cells);
  labels.forEach((label, k) => {
    svg.append(el('text', { x: left - 4, y: top + (k + 0.7) * cell, 'text-anchor': 'end', 'font-size': 9 }, label));
    const cx = left + (k + 0.6) * cell, cy = top + n * cell + 4;
    svg.append(el('text', { x: cx, y: cy, 'text-anchor': 'end', 'font-size': 9, transform: `rotate(-90 ${cx} ${cy})` }, label));
  });
  svg.append(el('text', { x: left + n * cell / 2, y: top + n * cell + bottom - 4, 'text-anchor': 'middle' }, xLabel),
             el('text', { x: 10, y: top + n * cell / 2, 'text-anchor': 'middle',
                          transform: `rotate(-90 10 ${top + n * cell / 2})` }, yLabel));
  const cursor = el('rect', { class: 'cursor', width: cell, height: cell, fill: 'none', stroke: '#f0a500',
                              'stroke-width': 2, visibility: 'hidden' });
  svg.append(cursor);
  let at = [0, 0];
  const move = (i, j) => {
    at = [Math.max(0, Math.min(n - 1, i)), Math.max(0, Math.min(n - 1, j))];
    cursor.setAttribute('x', left + at[1] * cell);
    cursor.setAttribute('y', top + at[0] * cell);
    cursor.setAttribute('visibility', 'visible');
    onMove?.(...at);
  };
  const steps = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
  svg.addEventListener('keydown', (event) => {
    const step = steps[event.key];
    if (!step) return;
    event.preventDefault();
    move(at[0] + step[0], at[1] + step[1]);
  });
  svg.addEventListener('focus', () => move(...at));
  return svg;
}

// Counts of values in integer-wide (or wider) bins.
export function histogram({ id, title, description, values, xLabel, yLabel, width = 420, height = 240 }) {
  const svg = frame(id, title, description, width, height);
  if (!values.length) return svg;
  const [min, max] = extent(values);
  const binCount = Math.min(20, max - min + 1), binWidth = Math.max(1, Math.ceil((max - min + 1) / binCount));
  const counts = Array.from({ length: Math.ceil((max - min + 1) / binWidth) }, () => 0);
  values.forEach((v) => { counts[Math.floor((v - min) / binWidth)] += 1; });
  const x = scale([min, min + counts.length * binWidth], [MARGIN.left, width - MARGIN.right]);
  const y = scale([0, Math.max(...counts)], [height - MARGIN.bottom, MARGIN.top]);
  axes(svg, x, y, ticks(min, min + counts.length * binWidth, false).filter(Number.isInteger),
       ticks(0, Math.max(...counts), false).filter(Number.isInteger), xLabel, yLabel, width, height);
  counts.forEach((count, k) => {
    const start = min + k * binWidth;
    const bar = el('rect', { class: 'bar', x: x(start) + 1, width: Math.max(1, x(start + binWidth) - x(start) - 2),
                             y: y(count), height: y(0) - y(count), fill: '#1f5fa8' });
    bar.append(el('title', {}, `${binWidth === 1 ? start : `${start}–${start + binWidth - 1}`}: ${count}`));
    svg.append(bar);
  });
  return svg;
}

// Points {x, y, group}; groups get their own marker and a legend entry.
export function scatter({ id, title, description, points, groups, xLabel, yLabel, log = true, width = 520, height = 280 }) {
  const svg = frame(id, title, description, width, height);
  const drawn = points.filter((p) => Number.isFinite(p.y) && (!log || p.y > 0));
  if (!drawn.length) return svg;
  let [xMin, xMax] = extent(drawn.map((p) => p.x));
  let [yMin, yMax] = extent(drawn.map((p) => p.y));
  if (xMin === xMax) [xMin, xMax] = [xMin - 1, xMax + 1];
  if (yMin === yMax) [yMin, yMax] = log ? [yMin / 10, yMax * 10] : [yMin - 1, yMax + 1];
  const x = scale([xMin - 0.5, xMax + 0.5], [MARGIN.left, width - MARGIN.right]);
  const y = scale([yMin, yMax], [height - MARGIN.bottom, MARGIN.top], log);
  axes(svg, x, y, ticks(xMin, xMax, false).filter(Number.isInteger), ticks(yMin, yMax, log), xLabel, yLabel, width, height);
  for (const p of drawn) {
    const style = groups[p.group];
    const mark = el('circle', { class: `point ${p.group}`, cx: x(p.x), cy: y(p.y), r: 5, fill: style.fill,
                                stroke: style.stroke, 'stroke-width': 2 });
    mark.append(el('title', {}, p.label));
    svg.append(mark);
  }
  Object.values(groups).forEach((style, i) => {
    const cy = MARGIN.top + 8 + 16 * i;
    svg.append(el('circle', { cx: width - 150, cy, r: 5, fill: style.fill, stroke: style.stroke, 'stroke-width': 2 }),
               el('text', { x: width - 140, y: cy + 4 }, style.name));
  });
  return svg;
}

// One row per item {label, value, lower, upper}: the value as a dot and [lower, upper] as a line, on a shared
// horizontal axis (a forest plot: one parameter across a sweep's variants). Items without a value are listed
// without a mark.
export function intervals({ id, title, description, items, xLabel, width = 620 }) {
  const left = 230, row = 26, top = 10, bottom = 44;
  const height = top + row * Math.max(items.length, 1) + bottom;
  const svg = frame(id, title, description, width, height);
  const known = items.filter((item) => Number.isFinite(item.value));
  const ends = known.flatMap((item) => [item.value, item.lower, item.upper].filter(Number.isFinite));
  if (!ends.length) return svg;
  let [min, max] = extent(ends);
  if (min === max) [min, max] = [min - 1, max + 1];
  const pad = (max - min) * 0.05;
  const x = scale([min - pad, max + pad], [left, width - MARGIN.right]);
  const bottomY = top + row * items.length;
  const group = el('g', { class: 'axis' });
  group.append(el('line', { x1: left, x2: width - MARGIN.right, y1: bottomY, y2: bottomY }));
  for (const t of ticks(min - pad, max + pad, false)) {
    group.append(el('line', { class: 'grid', x1: x(t), x2: x(t), y1: top, y2: bottomY }),
                 el('text', { x: x(t), y: bottomY + 16, 'text-anchor': 'middle' }, format(t)));
  }
  group.append(el('text', { x: (left + width - MARGIN.right) / 2, y: height - 8, 'text-anchor': 'middle' }, xLabel));
  svg.append(group);
  items.forEach((item, i) => {
    const y = top + row * i + row / 2;
    svg.append(el('text', { x: left - 8, y: y + 4, 'text-anchor': 'end' }, item.label));
    if (!Number.isFinite(item.value)) return;
    const mark = el('g', { class: 'interval' });
    if (Number.isFinite(item.lower) && Number.isFinite(item.upper)) {
      mark.append(el('line', { x1: x(item.lower), x2: x(item.upper), y1: y, y2: y, stroke: '#1f5fa8', 'stroke-width': 2 }));
    }
    mark.append(el('circle', { cx: x(item.value), cy: y, r: 4, fill: '#1f5fa8' }));
    mark.append(el('title', {}, `${item.label}: ${format(item.value)} [${format(item.lower)}, ${format(item.upper)}]`));
    svg.append(mark);
  });
  return svg;
}
