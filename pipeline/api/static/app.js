// Dashboard for the readings API: pick a device and a metric, see its time series,
// optionally poll for new readings, export what is shown as CSV. Plain JS and a
// hand-drawn SVG chart so the page works offline and under a strict CSP.
'use strict';
(() => {
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const W = 960, H = 400, M = {left: 68, right: 20, top: 18, bottom: 42};
  const $ = (id) => document.getElementById(id);
  const meta = (name, dflt) => {
    const el = document.querySelector(`meta[name="${name}"]`);
    const n = el ? Number(el.content) : NaN;
    return Number.isFinite(n) && n > 0 ? n : dflt;
  };
  const MAX_LIMIT = meta('max-limit', 10000);
  const POLL_MS = meta('poll-ms', 5000);

  const state = {
    devices: [],
    readings: [],
    truncated: false,
    partial: false, // only the latest part of the window is shown
    range: null, // {from, to} in ms of the data shown
    timer: null,
    inflight: null, // AbortController of the running refresh
  };

  // The API sends RFC 3339 with up to nanoseconds; Date.parse only promises
  // milliseconds, so cut the fraction down first.
  function parseTime(s) {
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(s || '');
    if (!m) return NaN;
    const frac = m[2] ? m[2].slice(0, 4).padEnd(4, '0') : '';
    return Date.parse(m[1] + frac + m[3]);
  }

  async function getJSON(url, signal) {
    const res = await fetch(url, {signal, headers: {Accept: 'application/json'}});
    const body = await res.json().catch(() => null);
    if (!res.ok) {
      const why = body && body.error ? body.error + (body.param ? ` (${body.param})` : '') : `HTTP ${res.status}`;
      throw new Error(why);
    }
    return body;
  }

  function setStatus(text, isError) {
    const el = $('status');
    el.textContent = text;
    el.classList.toggle('error', !!isError);
  }

  function selectedDevice() {
    return state.devices.find((d) => d.id === $('device').value);
  }

  // The window ends now, unless the device has been silent for longer than the
  // window (a replay, a finished run): then it ends at the device's last reading,
  // so the chart shows data rather than an empty present.
  function windowRange(dev) {
    const win = Number($('window').value);
    let to = Date.now();
    const last = dev ? parseTime(dev.last_seen) : NaN;
    if (Number.isFinite(last) && last < to - win) to = last + 1;
    return {from: to - win, to};
  }

  function fillSelect(sel, values, label) {
    const keep = sel.value;
    sel.replaceChildren(...values.map((v) => {
      const o = document.createElement('option');
      o.value = v;
      o.textContent = label ? label(v) : v;
      return o;
    }));
    if (values.includes(keep)) sel.value = keep;
    sel.disabled = values.length === 0;
  }

  async function loadDevices(signal) {
    const devs = await getJSON('/api/v1/devices', signal);
    state.devices = devs;
    fillSelect($('device'), devs.map((d) => d.id));
  }

  function showDeviceInfo(dev) {
    if (!dev) { $('device-info').textContent = ''; return; }
    const loc = Object.entries(dev.location || {}).map(([k, v]) => `${k}=${v}`).join(', ');
    const last = dev.last_seen ? new Date(parseTime(dev.last_seen)).toLocaleString() : 'never';
    $('device-info').textContent =
      [dev.model && `model ${dev.model}`, dev.topic && `topic ${dev.topic}`, loc, `last seen ${last}`]
        .filter(Boolean).join(' · ');
  }

  async function loadReadings(signal) {
    const dev = selectedDevice();
    showDeviceInfo(dev);
    if (!dev) {
      state.readings = [];
      state.range = null;
      return;
    }
    const r = windowRange(dev);
    const url = (from) => `/api/v1/devices/${encodeURIComponent(dev.id)}/readings?from=${from}&to=${r.to}&limit=${MAX_LIMIT}`;
    let body = await getJSON(url(r.from), signal);
    state.partial = false;
    if (body.truncated && body.readings.length > 1) {
      // The API returns the oldest readings first, but a dashboard is about the
      // latest. Ask again for the tail of the window that the limit can cover at
      // the rate just seen.
      const first = parseTime(body.readings[0].time);
      const last = parseTime(body.readings[body.readings.length - 1].time);
      const span = Math.floor((last - first) * 0.95);
      if (span > 0) {
        body = await getJSON(url(r.to - span), signal);
        state.partial = true;
      }
    }
    state.readings = body.readings.map((x) => ({t: parseTime(x.time), seq: x.seq, m: x.metrics}));
    state.truncated = body.truncated;
    state.range = r;
    const names = new Set();
    for (const x of state.readings) for (const k of Object.keys(x.m)) names.add(k);
    fillSelect($('metric'), [...names].sort());
  }

  function updateExport() {
    const a = $('export');
    const dev = selectedDevice();
    if (!dev || !state.range) {
      a.classList.add('disabled');
      a.removeAttribute('href');
      return;
    }
    const p = new URLSearchParams({device: dev.id, from: String(state.range.from), to: String(state.range.to)});
    if ($('metric').value) p.set('metric', $('metric').value);
    a.href = `/api/v1/export.csv?${p}`;
    a.classList.remove('disabled');
  }

  // refresh reloads devices and readings; a newer refresh cancels an older one so
  // slow answers never overwrite newer ones.
  async function refresh(withDevices) {
    if (state.inflight) state.inflight.abort();
    const ctl = new AbortController();
    state.inflight = ctl;
    try {
      if (withDevices) await loadDevices(ctl.signal);
      await loadReadings(ctl.signal);
      draw();
      updateExport();
      const auto = $('auto').checked ? `auto-update every ${POLL_MS / 1000} s · ` : '';
      setStatus(`${auto}updated ${new Date().toLocaleTimeString()}`);
    } catch (err) {
      if (err.name === 'AbortError') return;
      setStatus(`error: ${err.message}`, true);
    } finally {
      if (state.inflight === ctl) state.inflight = null;
    }
  }

  function setAuto(on) {
    clearInterval(state.timer);
    state.timer = null;
    if (on) {
      state.timer = setInterval(() => { if (!document.hidden) refresh(true); }, POLL_MS);
      refresh(true);
    } else {
      setStatus(`auto-update off · updated ${new Date().toLocaleTimeString()}`);
    }
  }

  // ---- chart ----

  function el(name, attrs, parent) {
    const e = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  function niceStep(span, ticks) {
    const raw = span / ticks;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  }

  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
    .map((s) => s * 1000);

  function timeLabel(ms, step) {
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, '0');
    const hm = `${p(d.getHours())}:${p(d.getMinutes())}`;
    if (step < 60000) return `${hm}:${p(d.getSeconds())}`;
    if (step >= 86400000) return `${d.getMonth() + 1}/${d.getDate()}`;
    return hm;
  }

  function fmtValue(v) {
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    return Number(v.toPrecision(6)).toString();
  }

  function draw() {
    const svg = $('chart');
    const metric = $('metric').value;
    svg.querySelectorAll(':scope > g, :scope > text').forEach((n) => n.remove());
    const pts = state.readings
      .filter((x) => metric && typeof x.m[metric] === 'number' && Number.isFinite(x.t))
      .map((x) => ({t: x.t, v: x.m[metric], seq: x.seq}));
    svg.dataset.points = String(pts.length);
    svg.dataset.metric = metric || '';
    // The range actually queried, for anyone (tests, users in devtools) checking the chart.
    svg.dataset.from = state.range ? String(state.range.from) : '';
    svg.dataset.to = state.range ? String(state.range.to) : '';
    const dev = selectedDevice();
    let note = '';
    if (state.partial) note = ` — the latest only: the window holds more than ${MAX_LIMIT} readings; narrow it to see all`;
    if (state.truncated) note = ` — more than ${MAX_LIMIT} readings; narrow the window to see all`;
    $('caption').textContent = pts.length ? `${pts.length} readings of ${metric} from ${dev ? dev.id : ''}${note}` : '';
    svg.dataset.first = pts.length ? String(pts[0].t) : '';
    svg.dataset.last = pts.length ? String(pts[pts.length - 1].t) : '';
    if (!dev || pts.length === 0) {
      const t = el('text', {x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty'}, svg);
      t.textContent = dev ? 'No readings in this window' : 'No devices yet';
      return;
    }

    const x0 = state.range.from, x1 = state.range.to;
    let y0 = Math.min(...pts.map((p) => p.v)), y1 = Math.max(...pts.map((p) => p.v));
    if (y0 === y1) { y0 -= 1; y1 += 1; }
    const ystep = niceStep(y1 - y0, 5);
    y0 = Math.floor(y0 / ystep) * ystep;
    y1 = Math.ceil(y1 / ystep) * ystep;
    const pw = W - M.left - M.right, ph = H - M.top - M.bottom;
    const sx = (t) => M.left + ((t - x0) / (x1 - x0)) * pw;
    const sy = (v) => M.top + (1 - (v - y0) / (y1 - y0)) * ph;

    const grid = el('g', {class: 'grid'}, svg);
    const axes = el('g', {class: 'axis'}, svg);
    for (let v = y0; v <= y1 + ystep / 2; v += ystep) {
      const y = sy(v);
      el('line', {x1: M.left, x2: W - M.right, y1: y, y2: y}, grid);
      const t = el('text', {x: M.left - 8, y: y + 4, 'text-anchor': 'end'}, axes);
      t.textContent = fmtValue(Number(v.toPrecision(12)));
    }
    const tstep = TIME_STEPS.find((s) => (x1 - x0) / s <= 8) || 86400000 * Math.ceil((x1 - x0) / 8 / 86400000);
    const tzOffset = new Date(x0).getTimezoneOffset() * 60000;
    for (let t = Math.ceil((x0 - tzOffset) / tstep) * tstep + tzOffset; t <= x1; t += tstep) {
      const x = sx(t);
      el('line', {x1: x, x2: x, y1: M.top, y2: H - M.bottom}, grid);
      const lbl = el('text', {x, y: H - M.bottom + 18, 'text-anchor': 'middle'}, axes);
      lbl.textContent = timeLabel(t, tstep);
    }
    el('line', {x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom}, axes);
    el('line', {x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom}, axes);
    const ylabel = el('text', {x: 14, y: M.top + ph / 2, 'text-anchor': 'middle', transform: `rotate(-90 14 ${M.top + ph / 2})`}, axes);
    ylabel.textContent = metric;

    // Break the line where readings stop for much longer than usual, so an outage
    // shows as a gap instead of a straight line across it.
    const gaps = pts.slice(1).map((p, i) => p.t - pts[i].t).sort((a, b) => a - b);
    const typical = gaps.length ? gaps[Math.floor(gaps.length / 2)] : 0;
    let d = '';
    pts.forEach((p, i) => {
      const jump = i === 0 || (typical > 0 && p.t - pts[i - 1].t > 5 * typical);
      d += `${jump ? 'M' : 'L'}${sx(p.t).toFixed(1)},${sy(p.v).toFixed(1)}`;
    });
    const series = el('g', {class: 'series-group'}, svg);
    el('path', {d, class: 'series'}, series);
    if (pts.length <= 240) {
      for (const p of pts) el('circle', {cx: sx(p.t).toFixed(1), cy: sy(p.v).toFixed(1), r: 2.5, class: 'dot'}, series);
    }

    const hover = el('g', {class: 'hover', visibility: 'hidden'}, svg);
    const hl = el('line', {y1: M.top, y2: H - M.bottom}, hover);
    const hc = el('circle', {r: 4}, hover);
    const hr = el('rect', {height: 22, rx: 3}, hover);
    const ht = el('text', {}, hover);
    // Inside a <g> so the next draw() clears it with the rest.
    const overlay = el('rect', {x: M.left, y: M.top, width: pw, height: ph, fill: 'transparent'}, el('g', {}, svg));
    overlay.addEventListener('mousemove', (ev) => {
      const box = svg.getBoundingClientRect();
      const t = x0 + ((ev.clientX - box.left) * (W / box.width) - M.left) / pw * (x1 - x0);
      let best = pts[0];
      for (const p of pts) if (Math.abs(p.t - t) < Math.abs(best.t - t)) best = p;
      const x = sx(best.t), y = sy(best.v);
      hl.setAttribute('x1', x); hl.setAttribute('x2', x);
      hc.setAttribute('cx', x); hc.setAttribute('cy', y);
      ht.textContent = `${new Date(best.t).toLocaleTimeString()}  ${metric} = ${fmtValue(best.v)}  (seq ${best.seq})`;
      const tw = ht.getComputedTextLength() + 12;
      const bx = Math.min(Math.max(x - tw / 2, M.left), W - M.right - tw);
      hr.setAttribute('x', bx); hr.setAttribute('y', M.top + 4); hr.setAttribute('width', tw);
      ht.setAttribute('x', bx + 6); ht.setAttribute('y', M.top + 19);
      hover.setAttribute('visibility', 'visible');
    });
    overlay.addEventListener('mouseleave', () => hover.setAttribute('visibility', 'hidden'));
  }

  // ---- wiring ----

  $('controls').addEventListener('submit', (ev) => ev.preventDefault());
  $('device').addEventListener('change', () => refresh(false));
  $('window').addEventListener('change', () => refresh(false));
  $('metric').addEventListener('change', () => { draw(); updateExport(); });
  $('auto').addEventListener('change', (ev) => setAuto(ev.target.checked));
  updateExport();
  refresh(true);
})();
