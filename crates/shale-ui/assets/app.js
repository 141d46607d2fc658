// shale admin UI: the one script of every signed-in page. It reads and changes everything through
// the gateway's own admin API (same origin), sending the session's CSRF token in `x-csrf-token` on
// every call; the session cookie goes along by itself. No library, no build step, no inline code:
// the page's CSP allows scripts from this origin only. Text from the API is only ever set with
// `textContent` (never parsed as HTML). Charts are SVG built with DOM calls.
'use strict';
(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const csrf = ($('meta[name="csrf-token"]') || {}).content || '';
  const hasDb = document.body.dataset.database === 'on';
  const hasMetrics = document.body.dataset.metrics === 'on';
  const hasModelStore = document.body.dataset.modelStore === 'on';
  const SVG = 'http://www.w3.org/2000/svg';
  const COLORS = ['#1d5fa8', '#d9822b', '#2e8540', '#a3262a', '#7a4fb5', '#0f8b8d', '#b0417a', '#6b6b00'];

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  /** One admin API call; JSON in and out (text for non-JSON answers). 401 → sign in again. */
  async function api(method, path, payload) {
    const headers = { 'x-csrf-token': csrf, accept: 'application/json' };
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(payload);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let data = text;
    if ((response.headers.get('content-type') || '').includes('json')) {
      try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
    }
    if (response.status === 401) {
      window.location.assign('/ui/login');
      throw new ApiError(401, 'Your session ended: sign in again.');
    }
    if (!response.ok) {
      const message = data && data.error && data.error.message ? data.error.message : `${response.status} ${response.statusText}`;
      throw new ApiError(response.status, message);
    }
    return data;
  }

  /** A call whose endpoint may not exist in this build: null on 404. */
  async function optional(method, path) {
    try { return await api(method, path); } catch (e) { if (e.status === 404) return null; throw e; }
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'data') Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
    for (const c of children) e.append(c instanceof Node ? c : String(c));
    return e;
  }

  // ------------------------------------------------------------------ messages

  function say(text) { $('#status').textContent = text; }
  function showError(err, where) {
    const box = where || $('#error');
    box.textContent = err instanceof Error ? err.message : String(err);
    box.hidden = false;
  }
  function clearError(where) { const box = where || $('#error'); box.textContent = ''; box.hidden = true; }
  /** Runs an async step; its failure is shown (never left as an unhandled rejection). */
  function run(step, where) {
    return Promise.resolve().then(step).catch((err) => showError(err, where));
  }

  // ------------------------------------------------------------------ formatting

  function usd(v) {
    if (v === null || v === undefined) return '—';
    const n = Number(v);
    if (!Number.isFinite(n)) return '—';
    if (n === 0) return '$0.00';
    if (Math.abs(n) >= 1) return '$' + n.toFixed(2);
    if (Math.abs(n) < 0.000001) return '<$0.000001';
    let s = n.toFixed(6).replace(/0+$/, '');
    if (s.split('.')[1].length < 2) s = n.toFixed(2);
    return '$' + s;
  }
  const count = (v) => (v === null || v === undefined ? '—' : Number(v).toLocaleString('en-US'));
  const plural = (n, noun) => `${count(n)} ${noun}${Number(n) === 1 ? '' : 's'}`;
  const limit = (v) => (v === null || v === undefined ? '–' : count(v));
  /** An RFC 3339 time as `YYYY-MM-DD HH:MM:SS` (UTC). */
  function utc(iso) {
    const t = parseTime(iso);
    return Number.isNaN(t) ? String(iso) : new Date(t).toISOString().slice(0, 19).replace('T', ' ');
  }
  /** Milliseconds since the epoch; fractions beyond milliseconds dropped. */
  function parseTime(iso) {
    return Date.parse(String(iso).replace(/(\.\d{3})\d+/, '$1'));
  }
  const day = (d) => d.toISOString().slice(0, 10);

  // ------------------------------------------------------------------ dialogs and shared look-ups

  document.addEventListener('click', (e) => {
    const closer = e.target.closest('[data-close]');
    if (closer) closer.closest('dialog').close();
  });

  function confirmAction(text, label) {
    const dialog = $('#confirm');
    $('#confirm-text').textContent = text;
    $('#confirm-ok').textContent = label;
    dialog.returnValue = '';
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    });
  }

  async function modelNames() {
    const list = await api('GET', '/v1/models');
    return (list.data || []).map((m) => m.id).sort();
  }

  async function teamList() {
    return hasDb ? api('GET', '/team/list') : [];
  }

  function fillOptions(select, values, chosen) {
    const keep = Array.from(select.querySelectorAll('option[data-fixed]'));
    select.replaceChildren(...keep);
    for (const [value, text] of values) {
      select.append(el('option', { value, selected: chosen && chosen.includes(value) }, text));
    }
  }

  const selected = (select) => Array.from(select.selectedOptions).map((o) => o.value).filter(Boolean);
  const numberOrNull = (input) => (input.value.trim() === '' ? null : Number(input.value));
  const textOrNull = (input) => (input.value.trim() === '' ? null : input.value.trim());

  function pill(kind, text) { return el('span', { class: `pill ${kind}` }, text); }

  /** A small button in a table row; its accessible name says what it acts on. */
  function rowButton(label, target, action) {
    return el('button', { type: 'button', class: 'small', 'aria-label': `${label} ${target}`, onclick: () => run(action) }, label);
  }

  /** Asks first; runs `action` only when confirmed. */
  async function confirmed(text, label, action) {
    if (await confirmAction(text, label)) await action();
  }

  /** A dialog's form: submitting runs `action`, whose failure shows in the form's error box. */
  function onSubmit(form, action) {
    const box = $('.error', form);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      run(async () => { clearError(box); await action(); }, box);
    });
  }

  /** Opens a dialog with its form emptied. */
  function openEmpty(dialog) {
    const form = $('form', dialog);
    form.reset();
    clearError($('.error', form));
    dialog.showModal();
  }

  function emptyRow(tbody, columns, text) {
    tbody.replaceChildren(el('tr', {}, el('td', { class: 'empty', colspan: columns }, text)));
  }

  function pager(nav, page, totalPages, total, noun, go) {
    nav.replaceChildren();
    if (totalPages <= 1) {
      nav.append(el('span', { class: 'muted' }, plural(total, noun)));
      return;
    }
    nav.append(
      el('button', { type: 'button', disabled: page <= 1, onclick: () => go(page - 1) }, 'Previous'),
      el('span', {}, `Page ${page} of ${totalPages} · ${plural(total, noun)}`),
      el('button', { type: 'button', disabled: page >= totalPages, onclick: () => go(page + 1) }, 'Next'),
    );
  }

  // ------------------------------------------------------------------ Keys

  async function keysPage() {
    if (!hasDb) return;
    const [models, teams] = await Promise.all([modelNames(), teamList()]);
    const teamName = (id) => {
      const t = teams.find((x) => x.team_id === id);
      return id ? (t && t.team_alias) || id : '—';
    };
    fillOptions($('#key-models'), models.map((m) => [m, m]));
    fillOptions($('#key-team'), teams.map((t) => [t.team_id, t.team_alias || t.team_id]));
    let page = 1;

    async function load() {
      const q = new URLSearchParams({ return_full_object: 'true', size: '50', page: String(page) });
      const alias = $('#key-filter').value.trim();
      if (alias) q.set('key_alias', alias);
      const list = await api('GET', '/key/list?' + q);
      const tbody = $('#keys-table tbody');
      if (!list.keys.length) emptyRow(tbody, 9, alias ? `No key has the alias “${alias}”.` : 'No keys yet: create one.');
      else tbody.replaceChildren(...list.keys.map(keyRow));
      pager($('#keys-pager'), list.current_page, list.total_pages, list.total_count, 'key', (p) => { page = p; run(load); });
      say(plural(list.total_count, 'key'));
    }

    function keyRow(k) {
      const name = k.key_alias || k.key_name;
      const expired = k.expires && parseTime(k.expires) < Date.now();
      const status = k.blocked ? pill('bad', 'Blocked') : expired ? pill('warn', 'Expired') : pill('ok', 'Active');
      const act = (label, handler) => rowButton(label, `key ${name}`, handler);
      return el('tr', { data: { token: k.token, alias: k.key_alias || '' } },
        el('td', {}, k.key_alias || '—'),
        el('td', {}, el('code', {}, k.key_name)),
        el('td', {}, teamName(k.team_id)),
        el('td', {}, k.models.length ? k.models.join(', ') : el('span', { class: 'muted' }, 'all')),
        el('td', { class: 'num' }, `${usd(k.spend)} / ${k.max_budget === null ? 'no budget' : usd(k.max_budget)}`),
        el('td', { class: 'num' }, `${limit(k.rpm_limit)} / ${limit(k.tpm_limit)}`),
        el('td', {}, k.expires ? utc(k.expires) : 'never'),
        el('td', {}, status),
        el('td', {}, el('div', { class: 'actions' },
          k.blocked
            ? act('Unblock', async () => { await api('POST', '/key/unblock', { key: k.token }); say(`Unblocked ${name}.`); await load(); })
            : act('Block', async () => { await api('POST', '/key/block', { key: k.token }); say(`Blocked ${name}.`); await load(); }),
          act('Regenerate', () => confirmed(`Regenerate ${name}? Its current secret stops working at once.`, 'Regenerate', async () => {
            const made = await api('POST', '/key/regenerate', { key: k.token });
            showKey(made.key);
            await load();
          })),
          act('Delete', () => confirmed(`Delete ${name}? Requests with it are refused at once.`, 'Delete', async () => {
            await api('POST', '/key/delete', { keys: [k.token] });
            say(`Deleted ${name}.`);
            await load();
          })),
        )),
      );
    }

    function showKey(key) {
      $('#new-key-value').textContent = key;
      $('#new-key-copied').textContent = '';
      $('#new-key').showModal();
    }

    $('#new-key-copy').addEventListener('click', () => {
      const key = $('#new-key-value').textContent;
      const note = $('#new-key-copied');
      const selectIt = () => {
        const range = document.createRange();
        range.selectNodeContents($('#new-key-value'));
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      };
      const copied = navigator.clipboard && navigator.clipboard.writeText ? navigator.clipboard.writeText(key) : Promise.reject(new Error('no clipboard'));
      copied.then(() => { note.textContent = 'Copied.'; }, () => { selectIt(); note.textContent = 'Selected: press Ctrl+C to copy.'; });
    });
    $('#new-key').addEventListener('close', () => { $('#new-key-value').textContent = ''; });

    $('#create-key-open').addEventListener('click', () => openEmpty($('#create-key')));
    onSubmit($('#create-key-form'), async () => {
      const body = {};
      const alias = textOrNull($('#key-alias'));
      if (alias) body.key_alias = alias;
      const chosen = selected($('#key-models'));
      if (chosen.length) body.models = chosen;
      const budget = numberOrNull($('#key-budget'));
      if (budget !== null) body.max_budget = budget;
      if ($('#key-team').value) body.team_id = $('#key-team').value;
      const duration = textOrNull($('#key-duration'));
      if (duration) body.duration = duration;
      const made = await api('POST', '/key/generate', body);
      $('#create-key').close();
      say(`Created ${made.key_alias || made.key_name}.`);
      showKey(made.key);
      await load();
    });
    $('#key-filter').addEventListener('change', () => { page = 1; run(load); });
    await load();
  }

  // ------------------------------------------------------------------ Teams

  async function teamsPage() {
    if (!hasDb) return;
    const models = await modelNames();
    let editing = null;

    async function load() {
      const teams = await api('GET', '/team/list');
      const tbody = $('#teams-table tbody');
      if (!teams.length) emptyRow(tbody, 8, 'No teams yet: create one.');
      else tbody.replaceChildren(...teams.map(teamRow));
      say(plural(teams.length, 'team'));
    }

    function teamRow(t) {
      const name = t.team_alias || t.team_id;
      return el('tr', { data: { team: t.team_id } },
        el('td', {}, name),
        el('td', {}, el('code', {}, t.team_id)),
        el('td', {}, t.models.length ? t.models.join(', ') : el('span', { class: 'muted' }, 'all')),
        el('td', { class: 'num' }, `${usd(t.spend)} / ${t.max_budget === null ? 'no budget' : usd(t.max_budget)}`),
        el('td', {}, t.budget_duration || '—'),
        el('td', { class: 'num' }, `${limit(t.rpm_limit)} / ${limit(t.tpm_limit)}`),
        el('td', {}, t.blocked ? pill('bad', 'Blocked') : pill('ok', 'Active')),
        el('td', {}, el('div', { class: 'actions' },
          rowButton('Edit', `team ${name}`, () => openForm(t)),
          rowButton('Delete', `team ${name}`, () => confirmed(`Delete team ${name} and all its keys?`, 'Delete', async () => {
            await api('POST', '/team/delete', { team_ids: [t.team_id] });
            say(`Deleted team ${name}.`);
            await load();
          })),
        )),
      );
    }

    function openForm(team) {
      editing = team;
      openEmpty($('#team-dialog'));
      $('#team-dialog-title').textContent = team ? `Edit team ${team.team_alias || team.team_id}` : 'Create team';
      $('#team-submit').textContent = team ? 'Save' : 'Create';
      $('#team-id').disabled = Boolean(team);
      fillOptions($('#team-models'), models.map((m) => [m, m]), team ? team.models : []);
      if (team) {
        $('#team-alias').value = team.team_alias || '';
        $('#team-id').value = team.team_id;
        $('#team-budget').value = team.max_budget === null ? '' : team.max_budget;
        $('#team-budget-duration').value = team.budget_duration || '';
        $('#team-rpm').value = team.rpm_limit === null ? '' : team.rpm_limit;
        $('#team-tpm').value = team.tpm_limit === null ? '' : team.tpm_limit;
      }
    }

    $('#create-team-open').addEventListener('click', () => openForm(null));
    onSubmit($('#team-form'), async () => {
      const fields = {
        team_alias: textOrNull($('#team-alias')),
        models: selected($('#team-models')),
        max_budget: numberOrNull($('#team-budget')),
        budget_duration: textOrNull($('#team-budget-duration')),
        rpm_limit: numberOrNull($('#team-rpm')),
        tpm_limit: numberOrNull($('#team-tpm')),
      };
      if (editing) {
        // null clears a value on update.
        await api('POST', '/team/update', { team_id: editing.team_id, ...fields });
        say(`Saved team ${fields.team_alias || editing.team_id}.`);
      } else {
        const body = {};
        for (const [k, v] of Object.entries(fields)) if (v !== null && !(Array.isArray(v) && !v.length)) body[k] = v;
        const id = textOrNull($('#team-id'));
        if (id) body.team_id = id;
        const made = await api('POST', '/team/new', body);
        say(`Created team ${made.team_alias || made.team_id}.`);
      }
      $('#team-dialog').close();
      await load();
    });
    await load();
  }

  // ------------------------------------------------------------------ Models

  async function modelsPage() {
    let editing = null;
    let modelApi = false;

    async function load() {
      // The model API (/model/info) and a health-check /health may not exist in this build.
      const [health, info] = await Promise.all([api('GET', '/health'), optional('GET', '/model/info')]);
      modelApi = info !== null && hasModelStore;
      $('#add-model-open').hidden = !modelApi;
      $('#model-api-note').hidden = modelApi;
      const router = new Map((health.deployments || []).map((d) => [d.model_id, d]));
      const unhealthy = health.unhealthy_endpoints || [];
      let rows;
      if (info !== null) {
        rows = (info.data || []).map((m) => ({
          name: m.model_name,
          id: (m.model_info && m.model_info.id) || '',
          model: (m.litellm_params && m.litellm_params.model) || '',
          params: m.litellm_params || {},
        }));
        for (const d of router.values()) {
          if (!rows.some((r) => r.id === d.model_id)) rows.push({ name: d.model_name, id: d.model_id, model: d.model, params: null });
        }
      } else {
        rows = (health.deployments || []).map((d) => ({ name: d.model_name, id: d.model_id, model: d.model, params: null }));
      }
      const tbody = $('#models-table tbody');
      if (!rows.length) emptyRow(tbody, 7, 'No models are configured.');
      else tbody.replaceChildren(...rows.map((r) => modelRow(r, router.get(r.id), unhealthy)));
      const cooling = rows.filter((r) => (router.get(r.id) || {}).state === 'cooling_down').length;
      say(`${rows.length} deployments · ${cooling} cooling down · routing ${health.routing_strategy || ''}`.trim());
    }

    function healthCheck(row, unhealthy) {
      return unhealthy.find((u) => (u.model_id ? u.model_id === row.id : u.model === row.model));
    }

    function modelRow(r, routed, unhealthy) {
      const check = healthCheck(r, unhealthy);
      let state;
      if (check) state = pill('bad', 'Unhealthy');
      else if (routed && routed.state === 'cooling_down') {
        const left = routed.cooldown_remaining_s;
        state = pill('warn', left === null || left === undefined ? 'Cooling down' : `Cooling down (${Math.ceil(left)} s left)`);
      } else if (routed) state = pill('ok', 'Healthy');
      else state = el('span', { class: 'muted' }, 'No data yet');
      const last = routed && routed.last_error
        ? `${routed.last_error.class}: ${routed.last_error.message} (${utc(new Date(routed.last_error.at * 1000).toISOString())})`
        : check && check.error ? String(check.error) : '—';
      const actions = el('div', { class: 'actions' });
      if (modelApi && r.id) {
        actions.append(
          rowButton('Edit', `model ${r.id}`, () => openForm(r)),
          rowButton('Delete', `model ${r.id}`, () => confirmed(`Delete deployment ${r.id} of ${r.name}?`, 'Delete', async () => {
            await api('POST', '/model/delete', { id: r.id });
            say(`Deleted ${r.id}.`);
            await load();
          })),
        );
      }
      return el('tr', { data: { deployment: r.id } },
        el('td', {}, r.name),
        el('td', {}, el('code', {}, r.id)),
        el('td', {}, el('code', {}, r.model)),
        el('td', {}, state),
        el('td', { class: 'num' }, routed ? count(routed.in_flight) : '—'),
        el('td', {}, last),
        el('td', {}, actions),
      );
    }

    function openForm(row) {
      editing = row;
      openEmpty($('#model-dialog'));
      $('#model-dialog-title').textContent = row ? `Edit ${row.id}` : 'Add model';
      $('#model-submit').textContent = row ? 'Save' : 'Add';
      if (row) {
        const { model, aws_region_name: region, ...rest } = row.params || {};
        $('#model-name').value = row.name;
        $('#model-model').value = model || row.model;
        $('#model-region').value = region || '';
        const extra = Object.fromEntries(Object.entries(rest).filter(([, v]) => typeof v !== 'string' || !/^\*+|\*{3}/.test(v)));
        $('#model-params').value = Object.keys(extra).length ? JSON.stringify(extra) : '';
      }
    }

    $('#models-refresh').addEventListener('click', () => run(load));
    $('#add-model-open').addEventListener('click', () => openForm(null));
    onSubmit($('#model-form'), async () => {
      let extra = {};
      const raw = $('#model-params').value.trim();
      if (raw) {
        try { extra = JSON.parse(raw); } catch (_) { throw new Error('More litellm_params must be a JSON object.'); }
        if (!extra || typeof extra !== 'object' || Array.isArray(extra)) throw new Error('More litellm_params must be a JSON object.');
      }
      const params = { ...extra, model: $('#model-model').value.trim() };
      const region = textOrNull($('#model-region'));
      if (region) params.aws_region_name = region;
      const body = { model_name: $('#model-name').value.trim(), litellm_params: params };
      if (editing) {
        body.model_info = { id: editing.id };
        await api('POST', '/model/update', body);
        say(`Saved ${editing.id}.`);
      } else {
        await api('POST', '/model/new', body);
        say(`Added ${body.model_name}.`);
      }
      $('#model-dialog').close();
      await load();
    });
    await load();
  }

  // ------------------------------------------------------------------ Usage

  /** Adds `spend`, `tokens`, `requests` of an item to the entry `key` of `map`. */
  function add(map, key, item, extra) {
    const entry = map.get(key) || { ...extra, spend: 0, tokens: 0, requests: 0 };
    entry.spend += item.spend;
    entry.tokens += item.total_tokens;
    entry.requests += item.requests || 0;
    map.set(key, entry);
  }

  function totalsTable(table, entries, cells) {
    const tbody = $('tbody', table);
    const sorted = entries.sort((a, b) => b.spend - a.spend);
    if (!sorted.length) emptyRow(tbody, table.tHead.rows[0].cells.length, 'No spend in this range.');
    else tbody.replaceChildren(...sorted.map((e) => el('tr', {}, ...cells(e).map(([v, num]) => el('td', { class: num ? 'num' : null }, v)))));
  }

  /** The buckets from `from` to `to` (inclusive) in `unit`s, as ISO strings of their start. */
  function allBuckets(from, to, unit) {
    const step = unit === 'hour' ? 3600e3 : 86400e3;
    const start = Date.parse(from + 'T00:00:00Z');
    const end = Date.parse(to + 'T00:00:00Z') + 86400e3;
    const out = [];
    for (let t = start; t < end && out.length <= 2400; t += step) out.push(t);
    return out;
  }

  function drawChart(figure, title, bucketTimes, series, unit) {
    const W = 820; const H = 280; const left = 70; const right = 12; const top = 14; const bottom = 44;
    const totals = bucketTimes.map((t) => series.reduce((s, x) => s + (x.values.get(t) || 0), 0));
    const max = Math.max(0, ...totals);
    const ceiling = max > 0 ? niceCeiling(max) : 1;
    const plotW = W - left - right; const plotH = H - top - bottom;
    const y = (v) => top + plotH - (v / ceiling) * plotH;
    const grand = totals.reduce((a, b) => a + b, 0);
    const desc = grand > 0
      ? `Total ${usd(grand)}. ` + series.map((s) => `${s.name} ${usd(s.total)}`).join('; ') + '.'
      : 'No spend in this range.';
    const chart = svg('svg', {
      viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title,
      'aria-labelledby': 'usage-chart-title', 'aria-describedby': 'usage-chart-desc',
    },
    svg('title', { id: 'usage-chart-title' }, title),
    svg('desc', { id: 'usage-chart-desc' }, desc));
    for (let i = 0; i <= 4; i += 1) {
      const v = (ceiling / 4) * i;
      chart.append(
        svg('line', { x1: left, x2: W - right, y1: y(v), y2: y(v), class: 'axis' }),
        svg('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end' }, usd(v)),
      );
    }
    const n = Math.max(1, bucketTimes.length);
    const slot = plotW / n;
    const barW = Math.max(1, slot * 0.72);
    const every = Math.max(1, Math.ceil(n / 12));
    bucketTimes.forEach((t, i) => {
      const x = left + i * slot + (slot - barW) / 2;
      let base = 0;
      series.forEach((s, si) => {
        const v = s.values.get(t) || 0;
        if (v <= 0) return;
        const label = `${s.name}, ${bucketLabel(t, unit, true)}: ${usd(v)}`;
        chart.append(svg('rect', {
          x, width: barW, y: y(base + v), height: Math.max(0.5, y(base) - y(base + v)),
          fill: COLORS[si % COLORS.length],
        }, svg('title', {}, label)));
        base += v;
      });
      if (i % every === 0) {
        chart.append(svg('text', { x: left + i * slot + slot / 2, y: H - bottom + 16, 'text-anchor': 'middle' }, bucketLabel(t, unit, false)));
      }
    });
    if (grand === 0) {
      chart.append(svg('text', { x: left + plotW / 2, y: top + plotH / 2, 'text-anchor': 'middle' }, 'No spend in this range'));
    }
    const legend = el('div', { class: 'legend', 'aria-hidden': 'true' },
      ...series.map((s, si) => el('span', {},
        svg('svg', { width: 12, height: 12, viewBox: '0 0 12 12', class: 'swatch' }, svg('rect', { width: 12, height: 12, rx: 3, fill: COLORS[si % COLORS.length] })),
        `${s.name} ${usd(s.total)}`)));
    figure.replaceChildren(chart, legend);
  }

  function niceCeiling(v) {
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function bucketLabel(t, unit, long) {
    const iso = new Date(t).toISOString();
    if (unit === 'hour') return long ? `${iso.slice(0, 10)} ${iso.slice(11, 13)}:00` : `${iso.slice(5, 10)} ${iso.slice(11, 13)}h`;
    return long ? iso.slice(0, 10) : iso.slice(5, 10);
  }

  async function usagePage() {
    if (!hasDb) {
      if (hasMetrics) await metricsUsage();
      return;
    }
    const teams = await teamList();
    const teamName = (id) => (id ? ((teams.find((t) => t.team_id === id) || {}).team_alias || id) : 'No team');
    const today = new Date();
    $('#usage-to').value = day(today);
    $('#usage-from').value = day(new Date(today.getTime() - 6 * 86400e3));

    async function load() {
      const from = $('#usage-from').value; const to = $('#usage-to').value; const unit = $('#usage-bucket').value;
      const q = new URLSearchParams({ start_date: from, end_date: to, group_by: 'team', bucket: unit });
      const report = await api('GET', '/global/spend/report?' + q);
      const byKey = new Map(); const byTeam = new Map(); const byModel = new Map(); const seriesMap = new Map();
      for (const bucket of report) {
        const t = parseTime(bucket.group_by_hour || bucket.group_by_day);
        for (const team of bucket.teams) {
          const teamKey = team.team_id || '';
          const s = seriesMap.get(teamKey) || { name: team.team_id ? team.team_name : 'No team', values: new Map(), total: 0 };
          s.values.set(t, (s.values.get(t) || 0) + team.total_spend);
          s.total += team.total_spend;
          seriesMap.set(teamKey, s);
          for (const item of team.metadata) {
            add(byKey, item.api_key, item, { name: item.key_alias || item.api_key.slice(0, 12) + '…', team: teamName(team.team_id) });
            add(byTeam, teamKey, item, { name: team.team_id ? team.team_name : 'No team' });
            add(byModel, item.model, item, { name: item.model });
          }
        }
      }
      const series = Array.from(seriesMap.values()).sort((a, b) => b.total - a.total);
      const grand = series.reduce((s, x) => s + x.total, 0);
      const requests = Array.from(byModel.values()).reduce((s, x) => s + x.requests, 0);
      $('#usage-total').textContent = `Total ${usd(grand)} · ${plural(requests, 'request')} · ${from} to ${to} (UTC)`;
      drawChart($('#usage-chart'), `Spend per ${unit} by team`, allBuckets(from, to, unit), series, unit);
      totalsTable($('#usage-keys'), Array.from(byKey.values()), (e) => [[e.name], [e.team], [count(e.requests), 1], [count(e.tokens), 1], [usd(e.spend), 1]]);
      totalsTable($('#usage-teams'), Array.from(byTeam.values()), (e) => [[e.name], [count(e.requests), 1], [count(e.tokens), 1], [usd(e.spend), 1]]);
      totalsTable($('#usage-models'), Array.from(byModel.values()), (e) => [[e.name], [count(e.requests), 1], [count(e.tokens), 1], [usd(e.spend), 1]]);
      say('');
    }

    $('#usage-form').addEventListener('submit', (e) => { e.preventDefault(); clearError(); run(load); });
    await load();
  }

  /** Without a database: spend since start from `litellm_spend_metric_total` on /metrics. */
  async function metricsUsage() {
    const text = await api('GET', '/metrics');
    const sums = new Map();
    for (const line of String(text).split('\n')) {
      if (!line.startsWith('litellm_spend_metric_total{')) continue;
      const close = line.lastIndexOf('}');
      const labels = {};
      for (const m of line.slice(line.indexOf('{') + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]] = m[2];
      const value = Number(line.slice(close + 1).trim().split(' ')[0]);
      const key = `${labels.model}\u0000${labels.model_id}`;
      const entry = sums.get(key) || { model: labels.model || '', deployment: labels.model_id || '', spend: 0 };
      entry.spend += Number.isFinite(value) ? value : 0;
      sums.set(key, entry);
    }
    totalsTable($('#usage-metrics'), Array.from(sums.values()), (e) => [[e.model], [e.deployment], [usd(e.spend), 1]]);
  }

  // ------------------------------------------------------------------ Logs

  async function logsPage() {
    if (!hasDb) return;
    const teams = await teamList();
    const teamName = (id) => (id ? ((teams.find((t) => t.team_id === id) || {}).team_alias || id) : '—');
    const teamSelect = $('#logs-team');
    fillOptions(teamSelect, teams.map((t) => [t.team_id, t.team_alias || t.team_id]));
    let page = 1;

    async function load() {
      const q = new URLSearchParams({ page: String(page), page_size: '25' });
      for (const [k, v] of new FormData($('#logs-form'))) if (String(v).trim()) q.set(k, String(v).trim());
      const r = await api('GET', '/spend/logs/ui?' + q);
      const tbody = $('#logs-table tbody');
      if (!r.data.length) emptyRow(tbody, 10, 'No requests match.');
      else tbody.replaceChildren(...r.data.map(logRow));
      pager($('#logs-pager'), r.page, r.total_pages, r.total, 'request', (p) => { page = p; run(load); });
      say(plural(r.total, 'request'));
    }

    function logRow(row) {
      const ms = parseTime(row.endTime) - parseTime(row.startTime);
      const ok = row.status_code >= 200 && row.status_code < 300;
      return el('tr', { data: { request: row.request_id } },
        el('td', {}, utc(row.startTime)),
        el('td', {}, el('code', {}, row.request_id)),
        el('td', {}, row.key_alias || '—'),
        el('td', {}, teamName(row.team_id)),
        el('td', {}, row.model),
        el('td', {}, el('code', {}, row.model_id)),
        el('td', { class: 'num' }, `${count(row.prompt_tokens)} / ${count(row.completion_tokens)}`),
        el('td', { class: 'num' }, usd(row.spend)),
        el('td', {}, pill(ok ? 'ok' : 'bad', String(row.status_code))),
        el('td', { class: 'num' }, Number.isFinite(ms) ? `${count(Math.max(0, Math.round(ms)))} ms` : '—'),
      );
    }

    $('#logs-form').addEventListener('submit', (e) => { e.preventDefault(); clearError(); page = 1; run(load); });
    await load();
  }

  // ------------------------------------------------------------------ start

  const pages = { keys: keysPage, teams: teamsPage, models: modelsPage, usage: usagePage, logs: logsPage };
  const main = $('main[data-page]');
  const start = main && pages[main.dataset.page];
  if (start) {
    run(async () => {
      say('Loading…');
      await start();
      document.body.dataset.ready = 'true';
    });
  }
})();
