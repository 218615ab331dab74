// The admin dashboard: counts, usage charts, users, audit log, connections and models,
// site settings, the embedding model. Admins only (the API refuses everyone else too).
import { api, session } from './api.js';
import { fill, clear, field, fmtDate, h, toast } from './dom.js';
import { barChart, columnChart } from './charts.js';
import { setTitle, showError } from './app.js';

const SECTIONS = [
  ['overview', 'Overview'], ['users', 'Users'], ['audit', 'Audit log'],
  ['connections', 'Connections and models'], ['settings', 'Settings'], ['embedding', 'Embedding'],
];

export async function dashboardView(main) {
  setTitle('Dashboard');
  main.classList.add('wide');
  if (!session.user || session.user.role !== 'admin') {
    fill(main, h('section', { class: 'card narrow' }, h('h1', {}, 'Admins only'),
      h('p', {}, 'The dashboard is for administrators. Ask one if you need something changed.')));
    return null;
  }
  const panel = h('section', { class: 'panel', id: 'panel', tabindex: '-1' });
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Dashboard sections' });
  let current = new URLSearchParams(location.search).get('section') || 'overview';
  const show = async (name) => {
    current = name;
    for (const tab of tabs.children) tab.setAttribute('aria-selected', String(tab.dataset.section === name));
    history.replaceState(null, '', name === 'overview' ? '/dashboard' : `/dashboard?section=${name}`);
    fill(panel, h('p', { class: 'muted' }, 'Loading…'));
    try {
      await RENDER[name](panel);
    } catch (error) {
      clear(panel);
      showError(error);
    }
  };
  for (const [name, label] of SECTIONS) {
    tabs.append(h('button', { type: 'button', role: 'tab', 'data-section': name, onclick: () => show(name) }, label));
  }
  tabs.addEventListener('keydown', (event) => {
    const index = SECTIONS.findIndex(([n]) => n === current);
    const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
    if (!step) return;
    const next = SECTIONS[(index + step + SECTIONS.length) % SECTIONS.length][0];
    show(next).then(() => tabs.querySelector(`[data-section="${next}"]`).focus());
  });
  fill(main, h('h1', {}, 'Dashboard'), tabs, panel);
  await show(current);
  return null;
}

const RENDER = { overview, users, audit, connections, settings, embedding };

async function overview(panel) {
  const [stats, byDay, byModel, byUser] = await Promise.all([
    api('/api/admin/stats'),
    api('/api/admin/usage?group_by=day'),
    api('/api/admin/usage?group_by=model'),
    api('/api/admin/usage?group_by=user'),
  ]);
  const cards = h('div', { class: 'stats' });
  const counts = stats.counts || {};
  for (const [name, value] of Object.entries(counts)) {
    const figure = value && typeof value === 'object' ? (value.total ?? Object.values(value).reduce((a, b) => a + (Number(b) || 0), 0)) : value;
    const detail = value && typeof value === 'object'
      ? Object.entries(value).filter(([k]) => k !== 'total').map(([k, v]) => `${k}: ${v}`).join(' · ') : '';
    cards.append(h('div', { class: 'stat card', 'data-stat': name },
      h('span', { class: 'stat-label' }, name), h('span', { class: 'stat-value' }, figure === null ? '—' : String(figure)),
      detail ? h('small', { class: 'muted' }, detail) : null));
  }
  // Every day of the range, zeros included, so the time axis is true.
  const days = [];
  const byDate = new Map(byDay.rows.map((r) => [r.day, r.total_tokens]));
  for (let d = new Date(`${byDay.start}T00:00:00Z`); d <= new Date(`${byDay.end}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + 1)) {
    const key = d.toISOString().slice(0, 10);
    days.push({ label: key.slice(5), value: byDate.get(key) || 0 });
  }
  fill(panel, 
    cards,
    h('p', { class: 'muted' }, `Token usage from ${byDay.start} to ${byDay.end}: ${byDay.totals.total_tokens.toLocaleString()} tokens in ${byDay.totals.requests.toLocaleString()} requests.`),
    h('div', { class: 'charts' },
      columnChart('Tokens per day', days),
      barChart('Tokens per model', byModel.rows.map((r) => ({ label: r.model || '(none)', value: r.total_tokens }))),
      barChart('Tokens per user', byUser.rows.slice(0, 15).map((r) => ({ label: r.email || r.name, value: r.total_tokens })))));
}

async function users(panel) {
  const query = h('input', { type: 'search', placeholder: 'Name or email' });
  const body = h('tbody');
  const pager = h('p', { class: 'muted' });
  let page = 1;
  async function load() {
    const params = new URLSearchParams({ page: String(page), page_size: '25' });
    if (query.value.trim()) params.set('query', query.value.trim());
    const data = await api(`/api/users/?${params}`);
    clear(body);
    for (const user of data.users) body.append(userRow(user, load));
    fill(pager, `${data.total} account(s) · page ${data.page}`,
      page > 1 ? h('button', { type: 'button', class: 'link-button', onclick: () => { page -= 1; load(); } }, ' Previous') : null,
      data.page * data.page_size < data.total ? h('button', { type: 'button', class: 'link-button', onclick: () => { page += 1; load(); } }, ' Next') : null);
  }
  let timer = null;
  query.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => { page = 1; load().catch(showError); }, 250); });
  fill(panel, field('Search users', query),
    h('table', { class: 'table' }, h('thead', {}, h('tr', {},
      ['Name', 'Email', 'Role', 'Last active', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))), body), pager);
  await load();
}

function userRow(user, reload) {
  const self = user.id === session.user.id;
  const role = h('select', { 'aria-label': `Role of ${user.email}`, disabled: self },
    ['admin', 'user', 'pending'].map((r) => h('option', { value: r, selected: r === user.role }, r)));
  role.addEventListener('change', async () => {
    try {
      await api(`/api/users/${user.id}/role`, { method: 'POST', body: { role: role.value } });
      toast(`${user.email} is now ${role.value}.`);
    } catch (error) {
      role.value = user.role;
      showError(error);
    }
  });
  const disable = h('button', { type: 'button', class: 'link-button', disabled: self || user.role === 'pending' }, 'Disable');
  disable.addEventListener('click', async () => {
    try {
      await api(`/api/users/${user.id}/role`, { method: 'POST', body: { role: 'pending' } });
      toast(`${user.email} is disabled (pending) until given a role again.`);
      reload();
    } catch (error) { showError(error); }
  });
  const remove = h('button', { type: 'button', class: 'link-button danger', disabled: self }, 'Delete');
  remove.addEventListener('click', async () => {
    if (!confirm(`Delete ${user.email} and all of their data?`)) return;
    try {
      await api(`/api/users/${user.id}`, { method: 'DELETE' });
      toast(`${user.email} is being deleted.`);
      reload();
    } catch (error) { showError(error); }
  });
  return h('tr', {}, h('td', {}, user.name), h('td', {}, user.email), h('td', {}, role),
    h('td', {}, fmtDate(user.last_active_at)), h('td', {}, disable, ' ', remove));
}

async function audit(panel) {
  let page = 1;
  const body = h('tbody');
  const pager = h('p', { class: 'muted' });
  async function load() {
    const data = await api(`/api/admin/audit?page=${page}&page_size=50`);
    clear(body);
    for (const e of data.entries) {
      body.append(h('tr', {}, h('td', {}, fmtDate(e.created_at)), h('td', {}, e.actor_email || '—'),
        h('td', {}, e.action), h('td', {}, `${e.target_type} ${e.target_id}`),
        h('td', {}, h('code', {}, typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail)))));
    }
    if (!data.entries.length) body.append(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'Nothing yet.')));
    fill(pager, `${data.total} entries · page ${data.page}`,
      page > 1 ? h('button', { type: 'button', class: 'link-button', onclick: () => { page -= 1; load(); } }, ' Newer') : null,
      data.page * data.page_size < data.total ? h('button', { type: 'button', class: 'link-button', onclick: () => { page += 1; load(); } }, ' Older') : null);
  }
  fill(panel, h('table', { class: 'table' }, h('thead', {}, h('tr', {},
    ['When', 'Who', 'Action', 'Target', 'Detail'].map((t) => h('th', { scope: 'col' }, t)))), body), pager);
  await load();
}

async function connections(panel) {
  const [rows, catalogue] = await Promise.all([api('/api/connections/'), api('/api/models/')]);
  const list = h('tbody');
  for (const c of rows) {
    const enabled = h('input', { type: 'checkbox', 'aria-label': `Enable ${c.name}`, disabled: c.source === 'env' });
    enabled.checked = c.enabled;
    enabled.addEventListener('change', async () => {
      try { await api(`/api/connections/${c.id}/update`, { method: 'POST', body: { enabled: enabled.checked } }); }
      catch (error) { enabled.checked = !enabled.checked; showError(error); }
    });
    list.append(h('tr', {}, h('td', {}, c.name), h('td', {}, c.kind), h('td', {}, h('code', {}, c.base_url)),
      h('td', {}, c.api_key || '—'), h('td', {}, enabled), h('td', {}, c.source === 'env' ? 'environment'
        : h('button', { type: 'button', class: 'link-button danger', onclick: async () => {
          if (!confirm(`Delete the connection ${c.name}?`)) return;
          try { await api(`/api/connections/${c.id}`, { method: 'DELETE' }); await connections(panel); } catch (error) { showError(error); }
        } }, 'Delete'))));
  }
  const name = h('input', { required: true });
  const kind = h('select', {}, h('option', { value: 'openai' }, 'OpenAI-compatible'), h('option', { value: 'ollama' }, 'Ollama'));
  const baseUrl = h('input', { type: 'url', required: true, placeholder: 'https://api.example.com/v1' });
  const key = h('input', { type: 'password', autocomplete: 'off' });
  const alert = h('p', { class: 'alert', role: 'alert', hidden: true });
  const form = h('form', { class: 'card' }, h('h2', {}, 'Add a connection'),
    h('div', { class: 'row wrap' }, field('Name', name), field('Kind', kind), field('Base URL', baseUrl), field('API key', key)),
    alert, h('button', { type: 'submit', class: 'primary' }, 'Add'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api('/api/connections/', { method: 'POST', body: { name: name.value, kind: kind.value, base_url: baseUrl.value, api_key: key.value } });
      await connections(panel);
    } catch (error) { showError(error, alert); }
  });
  fill(panel, 
    h('h2', {}, 'Connections'),
    h('table', { class: 'table' }, h('thead', {}, h('tr', {}, ['Name', 'Kind', 'Base URL', 'Key', 'Enabled', ''].map((t) => h('th', { scope: 'col' }, t)))), list),
    form,
    h('h2', {}, 'Models'),
    h('ul', { class: 'models' }, catalogue.models.map((m) => h('li', {}, h('code', {}, m.id), ` · ${m.owned_by || ''}`))),
    catalogue.errors && catalogue.errors.length
      ? h('div', { class: 'alert' }, catalogue.errors.map((e) => h('p', {}, `${e.connection}: ${e.detail}`))) : null);
}

async function settings(panel) {
  const current = await api('/api/admin/settings');
  const signup = h('input', { type: 'checkbox' });
  signup.checked = current.ENABLE_SIGNUP;
  const role = h('select', {}, ['user', 'pending'].map((r) => h('option', { value: r, selected: r === current.DEFAULT_USER_ROLE }, r)));
  const keys = h('input', { type: 'checkbox' });
  keys.checked = current.ENABLE_API_KEYS;
  const limit = h('input', { type: 'number', min: 1, value: current.RATE_LIMIT.limit });
  const windowSeconds = h('input', { type: 'number', min: 1, value: current.RATE_LIMIT.window });
  const alert = h('p', { class: 'alert', role: 'alert', hidden: true });
  const form = h('form', { class: 'card narrow' },
    h('label', { class: 'check' }, signup, ' People may sign up'),
    field('Role of new accounts', role, 'pending: an admin approves each account.'),
    h('label', { class: 'check' }, keys, ' API keys may be used'),
    h('fieldset', {}, h('legend', {}, 'Request limit per account'),
      h('div', { class: 'row' }, field('Requests', limit), field('Window (seconds)', windowSeconds))),
    alert, h('button', { type: 'submit', class: 'primary' }, 'Save'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    alert.hidden = true;
    try {
      await api('/api/admin/settings', { method: 'POST', body: {
        ENABLE_SIGNUP: signup.checked, DEFAULT_USER_ROLE: role.value, ENABLE_API_KEYS: keys.checked,
        RATE_LIMIT: { ...current.RATE_LIMIT, limit: Number(limit.value), window: Number(windowSeconds.value) },
      } });
      toast('Settings saved.');
    } catch (error) { showError(error, alert); }
  });
  fill(panel, form);
}

async function embedding(panel) {
  const current = await api('/api/retrieval/embedding');
  const engine = h('select', {}, ['local', 'openai'].map((e) => h('option', { value: e, selected: e === current.engine }, e)));
  const model = h('input', { value: current.model });
  const baseUrl = h('input', { type: 'url', value: current.openai_base_url || '' });
  const key = h('input', { type: 'password', autocomplete: 'off', placeholder: current.openai_api_key_set ? 'set (leave empty to keep)' : '' });
  const alert = h('p', { class: 'alert', role: 'alert', hidden: true });
  const form = h('form', { class: 'card narrow' },
    h('p', { class: 'muted' }, `Vector space: ${current.model_key}. Changing the engine or model processes every file again.`),
    field('Engine', engine), field('Model', model), field('OpenAI-compatible base URL', baseUrl), field('API key', key),
    alert, h('button', { type: 'submit', class: 'primary' }, 'Save'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    alert.hidden = true;
    const body = { engine: engine.value, model: model.value, openai_base_url: baseUrl.value };
    if (key.value) body.openai_api_key = key.value;
    try {
      const saved = await api('/api/retrieval/embedding', { method: 'POST', body });
      toast(saved.reindexing ? 'Saved: every file is being processed again.' : 'Saved.');
    } catch (error) { showError(error, alert); }
  });
  fill(panel, form);
}
