// Knowledge: collections, drag-and-drop uploads with live processing state, and asking.
import { api } from './api.js';
import { fill, clear, field, fmtDate, h, toast } from './dom.js';
import { live, navigate, setTitle, showError } from './app.js';

const DONE = new Set(['indexed', 'failed', 'cancelled']);

function stateLabel(state) {
  return { '': 'not processed', queued: 'queued', extracting: 'extracting text', embedding: 'embedding',
    indexed: 'indexed', failed: 'failed', cancelled: 'cancelled', uploading: 'uploading' }[state] ?? state;
}

export async function knowledgeView(main, knowledgeId) {
  main.classList.add('wide');
  return knowledgeId ? collectionView(main, knowledgeId) : listView(main);
}

async function listView(main) {
  setTitle('Knowledge');
  const items = h('ul', { class: 'cards' });
  const name = h('input', { required: true, maxlength: 255 });
  const description = h('input', { maxlength: 2000 });
  const alert = h('p', { class: 'alert', role: 'alert', hidden: true });
  const form = h('form', { class: 'card' }, h('h2', {}, 'New collection'),
    field('Name', name), field('Description', description), alert,
    h('button', { type: 'submit', class: 'primary' }, 'Create'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const created = await api('/api/knowledge/create', { method: 'POST', body: { name: name.value, description: description.value } });
      navigate(`/knowledge/${created.id}`);
    } catch (error) { showError(error, alert); }
  });
  fill(main, h('h1', {}, 'Knowledge'),
    h('p', { class: 'muted' }, 'Collections of files the models can answer from. Open one to add files.'),
    items, form);
  try {
    const collections = await api('/api/knowledge/');
    if (!collections.length) items.append(h('li', { class: 'muted' }, 'No collection yet.'));
    for (const k of collections) {
      items.append(h('li', { class: 'card' },
        h('h2', {}, h('a', { href: `/knowledge/${k.id}`, 'data-link': true }, k.name)),
        k.description ? h('p', {}, k.description) : null,
        h('p', { class: 'muted' }, `${k.data.file_ids.length} file(s) · updated ${fmtDate(k.updated_at)}`)));
    }
  } catch (error) { showError(error); }
  return null;
}

async function collectionView(main, knowledgeId) {
  let knowledge;
  try {
    knowledge = await api(`/api/knowledge/${encodeURIComponent(knowledgeId)}`);
  } catch (error) {
    fill(main, h('h1', {}, 'Knowledge'), h('p', { class: 'alert' }, error.message));
    return null;
  }
  setTitle(knowledge.name);
  const rows = new Map(); // file id -> {row, state, progress}
  const table = h('tbody');
  const picker = h('input', { type: 'file', multiple: true, id: 'file-picker', class: 'visually-hidden', tabindex: '-1', 'aria-hidden': 'true' });
  const drop = h('div', { class: 'dropzone', id: 'dropzone' },
    h('p', {}, 'Drop files here, or ',
      h('button', { type: 'button', onclick: () => picker.click() }, 'choose files'), picker),
    h('p', { class: 'muted' }, 'PDF, Word, text, Markdown, HTML, CSV… several at once.'));

  function fileRow(file) {
    let entry = rows.get(file.id);
    if (!entry) {
      const state = h('span', { class: 'state' });
      const progress = h('progress', { max: 1, value: 0, 'aria-label': `Processing of ${file.filename}` });
      const error = h('span', { class: 'alert small' });
      const remove = h('button', { type: 'button', class: 'link-button', onclick: () => removeFile(file.id) }, 'Remove');
      const row = h('tr', { 'data-file-id': file.id },
        h('td', { class: 'filename' }, file.filename), h('td', {}, formatSize(file.size)),
        h('td', {}, state, ' ', progress, ' ', error), h('td', {}, remove));
      entry = { row, state, progress, error };
      rows.set(file.id, entry);
      table.append(row);
    }
    return entry;
  }

  function show(fileId, state, done = 0, total = 0, error = '') {
    const entry = rows.get(fileId);
    if (!entry) return;
    entry.state.textContent = stateLabel(state);
    entry.row.dataset.state = state;
    entry.progress.hidden = DONE.has(state) || state === '';
    entry.progress.max = Math.max(total, 1);
    entry.progress.value = state === 'indexed' ? entry.progress.max : Math.min(done, Math.max(total, 1));
    entry.error.textContent = error || '';
  }

  async function upload(files) {
    for (const file of files) {
      const temp = `upload-${Math.random().toString(36).slice(2)}`;
      fileRow({ id: temp, filename: file.name, size: file.size });
      show(temp, 'uploading');
      const form = new FormData();
      form.append('file', file);
      try {
        const stored = await api('/api/files/', { method: 'POST', body: form });
        rows.get(temp).row.remove();
        rows.delete(temp);
        fileRow(stored);
        show(stored.id, stored.status || 'queued');
        const added = await api(`/api/knowledge/${knowledge.id}/file/add`, { method: 'POST', body: { file_id: stored.id } });
        const listed = (added.files || []).find((f) => f.id === stored.id);
        if (listed && rows.get(stored.id).row.dataset.state !== 'indexed') show(stored.id, listed.status || 'queued', 0, 0, listed.error);
      } catch (error) {
        show(temp, 'failed', 0, 0, error.message);
      }
    }
  }

  async function removeFile(fileId) {
    try {
      await api(`/api/knowledge/${knowledge.id}/file/remove`, { method: 'POST', body: { file_id: fileId } });
      rows.get(fileId).row.remove();
      rows.delete(fileId);
    } catch (error) { showError(error); }
  }

  picker.addEventListener('change', () => { upload([...picker.files]); picker.value = ''; });
  for (const type of ['dragenter', 'dragover']) {
    drop.addEventListener(type, (event) => { event.preventDefault(); drop.classList.add('over'); });
  }
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    upload([...event.dataTransfer.files]);
  });

  let lastEvent = Date.now();
  const off = live.on((type, data) => {
    if (type !== 'file:status' || !rows.has(data.file_id)) return;
    lastEvent = Date.now();
    show(data.file_id, data.state, data.chunks_done || 0, data.chunks_total || 0, data.error);
  });
  // Events drive the states; should the socket miss some (a reconnect), the collection is read
  // again after a quiet spell while a file is still being processed.
  const poll = setInterval(async () => {
    const busy = [...rows.values()].some((e) => e.row.dataset.state && !DONE.has(e.row.dataset.state) && e.row.dataset.state !== 'uploading');
    if (!busy || Date.now() - lastEvent < 5000) return;
    try {
      const fresh = await api(`/api/knowledge/${knowledge.id}`);
      for (const file of fresh.files || []) {
        const entry = rows.get(file.id);
        if (entry && entry.row.dataset.state !== file.status && DONE.has(file.status)) show(file.id, file.status, 0, 0, file.error);
      }
    } catch { /* the next tick tries again */ }
  }, 3000);

  fill(main, 
    h('p', {}, h('a', { href: '/knowledge', 'data-link': true }, '← All collections')),
    h('h1', {}, knowledge.name),
    knowledge.description ? h('p', {}, knowledge.description) : null,
    h('div', { class: 'row wrap' },
      h('button', { type: 'button', class: 'primary', onclick: () => navigate(`/?knowledge=${knowledge.id}`) }, 'Ask this collection'),
      h('button', { type: 'button', onclick: reindex }, 'Process every file again'),
      h('button', { type: 'button', class: 'danger', onclick: deleteCollection }, 'Delete collection')),
    drop,
    h('table', { class: 'table', id: 'files' },
      h('caption', { class: 'visually-hidden' }, 'Files'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'File'), h('th', { scope: 'col' }, 'Size'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      table));
  for (const file of knowledge.files || []) {
    fileRow(file);
    show(file.id, file.status, 0, 0, file.error);
  }

  async function reindex() {
    try {
      await api(`/api/knowledge/${knowledge.id}/reindex`, { method: 'POST' });
      toast('Every file is being processed again.');
    } catch (error) { showError(error); }
  }

  async function deleteCollection() {
    if (!confirm(`Delete the collection “${knowledge.name}”? Its files stay in your files.`)) return;
    try {
      await api(`/api/knowledge/${knowledge.id}`, { method: 'DELETE' });
      navigate('/knowledge');
    } catch (error) { showError(error); }
  }

  return () => { off(); clearInterval(poll); };
}

function formatSize(bytes) {
  if (bytes === undefined || bytes === null) return '';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
