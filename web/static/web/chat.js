// Chats: the list (sidebar) and one chat's view, with streaming, branches and sharing.
import { api, ApiError, sseEvents } from './api.js';
import { fill, clear, contentText, field, fmtDate, h, toast } from './dom.js';
import { loadMarkdown, renderMarkdown } from './md.js';
import { live, navigate, setTitle, showError } from './app.js';

const PAGE = 50;
const list = { q: '', archived: false, tag: '' }; // the filters, kept while moving between chats
let models = null;

// ---- the list ---------------------------------------------------------------------------

function chatItem(chat, activeId) {
  const current = chat.id === activeId;
  return h('li', { class: `chat-item${current ? ' active' : ''}` },
    h('a', { href: `/c/${chat.id}`, 'data-link': true, 'aria-current': current ? 'page' : null },
      chat.pinned ? h('span', { class: 'pin', 'aria-label': 'Pinned' }, '📌 ') : null,
      h('span', { class: 'title' }, chat.title || 'Untitled'),
      chat.tags && chat.tags.length ? h('span', { class: 'tags' }, chat.tags.map((t) => h('span', { class: 'tag' }, t))) : null));
}

function buildSidebar(sidebar, activeId) {
  const paging = { cursor: null, done: false, loading: false, generation: 0 }; // this sidebar's
  const search = h('input', { type: 'search', placeholder: 'Search chats', value: list.q });
  const archived = h('input', { type: 'checkbox' });
  archived.checked = list.archived;
  const tag = h('select', {}, h('option', { value: '' }, 'All tags'));
  const items = h('ul', { class: 'chat-list', id: 'chat-list' });
  const sentinel = h('li', { class: 'sentinel muted', 'aria-hidden': 'true' }, '');
  const more = h('button', { type: 'button', class: 'link-button', hidden: true }, 'Load more');
  fill(sidebar, 
    h('button', { type: 'button', class: 'primary wide-button', onclick: () => navigate('/') }, '+ New chat'),
    h('div', { class: 'filters' },
      field('Search', search),
      h('div', { class: 'row' },
        h('label', { class: 'check' }, archived, ' Archived'),
        h('label', { class: 'visually-hidden', for: 'tag-filter' }, 'Tag'), tag)),
    h('nav', { 'aria-label': 'Chat list' }, items), more);
  tag.id = 'tag-filter';
  sidebar.hidden = false;

  async function loadPage() {
    if (paging.loading || paging.done) return;
    paging.loading = true;
    const generation = paging.generation;
    let again = false;
    const params = new URLSearchParams({ limit: String(PAGE), archived: String(list.archived) });
    if (list.q) params.set('q', list.q);
    if (list.tag) params.set('tag', list.tag);
    if (paging.cursor) params.set('cursor', paging.cursor);
    try {
      const response = await api(`/api/chats/?${params}`, { raw: true });
      const rows = await response.json();
      if (generation !== paging.generation) { again = true; return; } // the filters changed meanwhile
      sentinel.remove();
      for (const chat of rows) items.append(chatItem(chat, activeId));
      paging.cursor = response.headers.get('X-Next-Cursor');
      paging.done = !paging.cursor;
      if (!items.children.length) items.append(h('li', { class: 'muted empty' }, list.q ? 'No chat matches.' : 'No chats yet.'));
      if (!paging.done) items.append(sentinel);
      more.hidden = paging.done;
    } catch (error) {
      showError(error);
    } finally {
      paging.loading = false;
      if (again) loadPage();
    }
  }

  function reset() {
    paging.generation += 1;
    loadTags();
    paging.cursor = null;
    paging.done = false;
    clear(items);
    loadPage();
  }

  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { list.q = search.value.trim(); reset(); }, 250);
  });
  archived.addEventListener('change', () => { list.archived = archived.checked; reset(); });
  tag.addEventListener('change', () => { list.tag = tag.value; reset(); });
  more.addEventListener('click', () => loadPage());
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadPage();
  }, { root: sidebar });
  observer.observe(sentinel);
  function loadTags() {
    api('/api/chats/tags').then((tags) => {
      fill(tag, h('option', { value: '' }, 'All tags'),
        tags.map((t) => h('option', { value: t.name ?? t }, t.name ?? t)));
      tag.value = list.tag;
    }, () => {});
  }
  reset();
  return { reset, disconnect: () => observer.disconnect() };
}

// ---- the message tree -------------------------------------------------------------------

function branchOf(history, leafId) {
  const out = [];
  let id = leafId;
  const seen = new Set();
  while (id && history.messages[id] && !seen.has(id)) {
    seen.add(id);
    out.unshift(history.messages[id]);
    id = history.messages[id].parent_id;
  }
  return out;
}

function siblingsOf(history, message) {
  if (message.parent_id && history.messages[message.parent_id]) {
    return history.messages[message.parent_id].children_ids || [message.id];
  }
  return Object.values(history.messages).filter((m) => !m.parent_id)
    .sort((a, b) => a.timestamp - b.timestamp).map((m) => m.id);
}

function deepestLeaf(history, id) {
  let node = history.messages[id];
  while (node && node.children_ids && node.children_ids.length) {
    node = history.messages[node.children_ids[node.children_ids.length - 1]];
  }
  return node ? node.id : id;
}

function forUpstream(messages) {
  return messages.filter((m) => ['system', 'user', 'assistant'].includes(m.role))
    .map((m) => ({ role: m.role, content: m.content }));
}

// ---- one chat ---------------------------------------------------------------------------

export async function chatView(main, sidebar, chatId) {
  const markdownReady = loadMarkdown(); // while the chat loads
  const side = buildSidebar(sidebar, chatId);
  document.body.classList.remove('menu-open');
  const params = new URLSearchParams(location.search);
  let chat = null; // the API's chat object
  // Requests that answer with the whole chat, numbered as they are sent: an answer is shown
  // only if no answer to a later one is shown already. A reload that a socket event started
  // must not put back the branch the user has just switched away from.
  // A reload asked while a change is in flight could be answered with the chat as it was
  // before the change committed, after the change's own answer: it waits for the change.
  let chatAsked = 0;
  let chatShown = 0;
  let changing = 0; // requests in flight that change the chat
  let reloadAfter = false;
  async function fetchChat(path, options) {
    const asked = ++chatAsked;
    const changes = Boolean(options && options.method && options.method !== 'GET');
    if (changes) changing += 1;
    try {
      const fresh = await api(path, options);
      if (asked < chatShown) return null;
      chatShown = asked;
      return fresh;
    } finally {
      if (changes && --changing === 0 && reloadAfter) {
        reloadAfter = false;
        reload().catch(() => {});
      }
    }
  }
  let streaming = null; // AbortController of the running stream
  let stopped = false;

  const title = h('h1', { class: 'chat-title', id: 'chat-title' }, 'New chat');
  const actions = h('div', { class: 'chat-actions', role: 'toolbar', 'aria-label': 'Chat actions' });
  const thread = h('ol', { class: 'thread', 'aria-label': 'Messages', 'aria-live': 'polite' });
  const modelSelect = h('select', { name: 'model' });
  const knowledgeSelect = h('select', { name: 'knowledge' }, h('option', { value: '' }, 'None'));
  const input = h('textarea', { name: 'message', rows: 3, required: true, placeholder: 'Send a message (Enter sends, Shift+Enter for a new line)' });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const stop = h('button', { type: 'button', class: 'danger', hidden: true }, 'Stop');
  const composer = h('form', { class: 'composer', 'aria-label': 'New message' },
    h('div', { class: 'row wrap' }, field('Model', modelSelect), field('Knowledge', knowledgeSelect)),
    field('Message', input), h('div', { class: 'row' }, send, stop));

  fill(main, h('div', { class: 'chat-head' }, title, actions), thread, composer);

  // Models and collections, for the pickers.
  const modelsReady = (models ? Promise.resolve(models) : api('/api/models/')).then((data) => {
    models = data;
    for (const m of data.models) modelSelect.append(h('option', { value: m.id }, m.name || m.id));
    if (!data.models.length) modelSelect.append(h('option', { value: '' }, 'No model available'));
    const saved = localStorage.getItem('webui.model');
    if (saved && data.models.some((m) => m.id === saved)) modelSelect.value = saved;
  }).catch((error) => showError(error));
  modelSelect.addEventListener('change', () => localStorage.setItem('webui.model', modelSelect.value));
  api('/api/knowledge/').then((data) => {
    for (const k of data) knowledgeSelect.append(h('option', { value: k.id }, k.name));
    if (params.get('knowledge')) knowledgeSelect.value = params.get('knowledge');
  }).catch(() => {});

  function renderActions() {
    clear(actions);
    if (!chat) return;
    const button = (label, onclick, extra = {}) => h('button', { type: 'button', onclick, ...extra }, label);
    actions.append(
      button('Rename', renameChat),
      button(chat.pinned ? 'Unpin' : 'Pin', () => flag('pin', { pinned: !chat.pinned })),
      button(chat.archived ? 'Unarchive' : 'Archive', () => flag('archive', { archived: !chat.archived })),
      button('Tags', editTags),
      button('Share', shareDialog),
      button('Delete', deleteChat, { class: 'danger' }));
  }

  function messageNode(message, history) {
    const body = h('div', { class: 'content' });
    const text = contentText(message.content);
    if (message.role === 'assistant') renderMarkdown(body, text);
    else body.append(h('p', { class: 'plain' }, text));
    const tools = h('div', { class: 'message-tools' });
    const siblings = siblingsOf(history, message);
    if (siblings.length > 1) {
      const index = siblings.indexOf(message.id);
      tools.append(h('span', { class: 'branches', role: 'group', 'aria-label': 'Versions' },
        h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Previous version', disabled: index <= 0, onclick: () => switchTo(siblings[index - 1]) }, '<'),
        h('span', { class: 'branch-count' }, `${index + 1}/${siblings.length}`),
        h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Next version', disabled: index >= siblings.length - 1, onclick: () => switchTo(siblings[index + 1]) }, '>')));
    }
    if (message.role === 'user') {
      tools.append(h('button', { type: 'button', class: 'link-button', onclick: () => editMessage(message, item) }, 'Edit'));
    } else if (message.role === 'assistant') {
      tools.append(h('button', { type: 'button', class: 'link-button', onclick: () => regenerate(message) }, 'Regenerate'),
        h('button', { type: 'button', class: 'link-button', onclick: () => navigator.clipboard.writeText(text).then(() => toast('Copied')) }, 'Copy'));
    }
    const item = h('li', { class: `message ${message.role}`, 'data-id': message.id },
      h('div', { class: 'meta' }, h('strong', {}, message.role === 'assistant' ? (message.model || 'Assistant') : 'You'),
        message.usage && (message.usage.incomplete || message.usage.stopped) ? h('span', { class: 'muted' }, ' (stopped)') : null),
      body, sourcesNode(message.sources), tools);
    return item;
  }

  function render() {
    clear(thread);
    if (!chat) {
      thread.append(h('li', { class: 'muted empty' }, 'Ask anything. Pick a model and, to answer from your files, a knowledge collection.'));
      return;
    }
    const history = chat.chat.history;
    for (const message of branchOf(history, history.current_id)) thread.append(messageNode(message, history));
    title.textContent = chat.title || 'Untitled';
    setTitle(chat.title || 'Chat');
    renderActions();
  }

  async function load() {
    if (!chatId) { chat = null; setTitle('New chat'); render(); return; }
    try {
      [chat] = await Promise.all([api(`/api/chats/${encodeURIComponent(chatId)}`), markdownReady]);
      render();
      live.join(chat.id);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        fill(thread, h('li', { class: 'alert' }, 'This chat does not exist (or is not yours).'));
        composer.hidden = true;
      } else showError(error);
    }
  }

  async function reload() {
    if (!chat) return;
    if (changing) { reloadAfter = true; return; }
    const fresh = await fetchChat(`/api/chats/${chat.id}`);
    if (!fresh) return;
    chat = fresh;
    render();
  }

  // ---- streaming a reply --------------------------------------------------------------

  function busy(on) {
    send.disabled = on;
    stop.hidden = !on;
    for (const b of thread.querySelectorAll('.message-tools button')) b.disabled = on;
  }

  // Stream an answer to `branch` (the messages up to and including the user's) and save it
  // under `parentId`. Stop cancels the upstream request; what arrived is saved, marked stopped.
  async function answer(branch, parentId) {
    const model = modelSelect.value;
    if (!model) { toast('No model is available: ask an admin to add a connection.', 'error'); return; }
    const placeholder = h('li', { class: 'message assistant streaming', 'aria-busy': 'true' },
      h('div', { class: 'meta' }, h('strong', {}, model)), h('div', { class: 'content' }));
    thread.append(placeholder);
    const body = placeholder.querySelector('.content');
    const request = { model, stream: true, messages: forUpstream(branch) };
    if (knowledgeSelect.value) request.knowledge_ids = [knowledgeSelect.value];
    streaming = new AbortController();
    stopped = false;
    busy(true);
    let text = '';
    let sources = null;
    let usage = null;
    let failure = null;
    let frame = 0;
    try {
      const response = await api('/api/chat/completions', { method: 'POST', body: request, raw: true, signal: streaming.signal });
      for await (const { data } of sseEvents(response)) {
        if (data === '[DONE]') break;
        let chunk;
        try { chunk = JSON.parse(data); } catch { continue; }
        if (chunk.error) { failure = chunk.error.message || 'The model stopped with an error.'; break; }
        if (chunk.sources) sources = chunk.sources;
        if (chunk.usage) usage = chunk.usage;
        const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (delta && delta.content) {
          text += delta.content;
          if (!frame) {
            frame = requestAnimationFrame(() => {
              frame = 0;
              renderMarkdown(body, text);
              placeholder.scrollIntoView({ block: 'end' });
            });
          }
        }
      }
    } catch (error) {
      if (error.name !== 'AbortError') failure = error.message;
    } finally {
      streaming = null;
      if (frame) cancelAnimationFrame(frame);
      renderMarkdown(body, text);
      placeholder.removeAttribute('aria-busy');
    }
    if (failure && !text) {
      placeholder.classList.add('failed');
      body.append(h('p', { class: 'alert' }, failure));
      busy(false);
      return;
    }
    const saved = { role: 'assistant', content: text, parent_id: parentId, model };
    if (sources && sources.length) saved.sources = sources;
    if (usage || stopped || failure) {
      saved.usage = { ...(usage || {}), ...(stopped ? { stopped: true } : {}), ...(failure ? { incomplete: true, error: failure } : {}) };
    }
    try {
      await api(`/api/chats/${chat.id}/messages`, { method: 'POST', body: saved });
      await reload();
    } catch (error) {
      showError(error);
    } finally {
      busy(false);
    }
  }

  stop.addEventListener('click', () => {
    if (streaming) { stopped = true; streaming.abort(); }
  });

  async function ensureChat(text) {
    if (chat) return;
    const firstLine = text.split('\n')[0].trim().slice(0, 80) || 'New chat';
    chat = await api('/api/chats/new', {
      method: 'POST', body: { chat: { title: firstLine, models: [modelSelect.value].filter(Boolean) } },
    });
    chatId = chat.id;
    history.replaceState(null, '', `/c/${chat.id}`);
    live.join(chat.id);
    side.reset();
  }

  composer.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim() || streaming) return;
    await modelsReady;
    try {
      await ensureChat(text);
      const parent = chat.chat.history.current_id || null;
      const user = await api(`/api/chats/${chat.id}/messages`, {
        method: 'POST', body: { role: 'user', content: text, parent_id: parent },
      });
      input.value = '';
      chat.chat.history.messages[user.id] = { ...user, children_ids: [] };
      if (parent && chat.chat.history.messages[parent]) chat.chat.history.messages[parent].children_ids.push(user.id);
      chat.chat.history.current_id = user.id;
      render();
      await answer(branchOf(chat.chat.history, user.id), user.id);
    } catch (error) {
      showError(error);
    }
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });

  async function regenerate(message) {
    if (streaming || !message.parent_id) return;
    const history = chat.chat.history;
    const branch = branchOf(history, message.parent_id);
    // Show the branch up to the question while the new answer streams.
    history.current_id = message.parent_id;
    render();
    await answer(branch, message.parent_id);
  }

  function editMessage(message, item) {
    const editor = h('textarea', { rows: 3, 'aria-label': 'Edit message' });
    editor.value = contentText(message.content);
    const form = h('form', { class: 'edit' }, editor, h('div', { class: 'row' },
      h('button', { type: 'submit', class: 'primary' }, 'Save and send'),
      h('button', { type: 'button', onclick: () => render() }, 'Cancel')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!editor.value.trim()) return;
      try {
        const edited = await api(`/api/chats/${chat.id}/messages/${encodeURIComponent(message.id)}/edit`, {
          method: 'POST', body: { content: editor.value },
        });
        chat = await fetchChat(`/api/chats/${chat.id}`) || chat;
        const newId = edited.id || chat.chat.history.current_id;
        chat.chat.history.current_id = newId;
        render();
        await answer(branchOf(chat.chat.history, newId), newId);
      } catch (error) {
        showError(error);
      }
    });
    item.querySelector('.content').replaceWith(form);
    editor.focus();
  }

  async function switchTo(messageId) {
    try {
      const leaf = deepestLeaf(chat.chat.history, messageId);
      const fresh = await fetchChat(`/api/chats/${chat.id}/current`, { method: 'POST', body: { message_id: leaf } });
      if (!fresh) return;
      chat = fresh;
      render();
    } catch (error) {
      showError(error);
    }
  }

  // ---- chat actions -------------------------------------------------------------------

  async function renameChat() {
    const name = prompt('New title', chat.title);
    if (name === null || !name.trim()) return;
    try {
      const renamed = await api(`/api/chats/${chat.id}`, { method: 'POST', body: { chat: { title: name.trim() } } });
      chat = { ...chat, title: renamed.title, updated_at: renamed.updated_at };
      render();
      side.reset();
    } catch (error) { showError(error); }
  }

  async function flag(which, body) {
    try {
      const flags = await api(`/api/chats/${chat.id}/${which}`, { method: 'POST', body });
      chat = { ...chat, pinned: flags.pinned, archived: flags.archived };
      render();
      side.reset();
    } catch (error) { showError(error); }
  }

  async function editTags() {
    const value = prompt('Tags, separated by commas', (chat.tags || []).join(', '));
    if (value === null) return;
    const wanted = value.split(',').map((t) => t.trim()).filter(Boolean);
    const have = chat.tags || [];
    const lower = (list) => list.map((t) => t.toLowerCase());
    try {
      for (const t of have) if (!lower(wanted).includes(t.toLowerCase())) await api(`/api/chats/${chat.id}/tags`, { method: 'DELETE', body: { name: t } });
      for (const t of wanted) if (!lower(have).includes(t.toLowerCase())) await api(`/api/chats/${chat.id}/tags`, { method: 'POST', body: { name: t } });
      await reload();
      side.reset();
    } catch (error) { showError(error); }
  }

  async function deleteChat() {
    if (!confirm(`Delete “${chat.title}”? This cannot be undone.`)) return;
    try {
      await api(`/api/chats/${chat.id}`, { method: 'DELETE' });
      navigate('/');
    } catch (error) { showError(error); }
  }

  function shareDialog() {
    const requireAuth = h('input', { type: 'checkbox', id: 'share-auth' });
    requireAuth.checked = true;
    const expiry = h('select', { id: 'share-expiry' },
      h('option', { value: '' }, 'Never'), h('option', { value: '3600' }, 'In an hour'),
      h('option', { value: '86400' }, 'In a day'), h('option', { value: '604800' }, 'In a week'));
    const url = h('input', { type: 'text', readonly: true, id: 'share-url', value: '' });
    const urlRow = h('div', { class: 'field', hidden: true }, h('label', { for: 'share-url' }, 'Link'), url,
      h('div', { class: 'row' },
        h('button', { type: 'button', onclick: () => navigator.clipboard.writeText(url.value).then(() => toast('Link copied'), () => { url.select(); }) }, 'Copy link'),
        h('button', { type: 'button', class: 'danger', onclick: revoke }, 'Revoke')));
    const alert = h('p', { class: 'alert', role: 'alert', hidden: true });
    const dialog = h('dialog', { class: 'card', 'aria-labelledby': 'share-title' },
      h('h2', { id: 'share-title' }, 'Share this chat'),
      h('p', { class: 'muted' }, 'The link shows a read-only copy of the chat as it is now. Sharing again updates the copy.'),
      h('label', { class: 'check' }, requireAuth, ' Only signed-in users can open it'),
      field('Expires', expiry), alert, urlRow,
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'primary', onclick: create }, chat.share_id ? 'Update link' : 'Create link'),
        h('button', { type: 'button', onclick: () => dialog.close() }, 'Close')));
    dialog.addEventListener('close', () => dialog.remove());
    async function create() {
      alert.hidden = true;
      const body = { require_auth: requireAuth.checked };
      if (expiry.value) body.expires_in = Number(expiry.value);
      try {
        const share = await api(`/api/chats/${chat.id}/share`, { method: 'POST', body });
        url.value = share.url;
        urlRow.hidden = false;
        chat.share_id = share.share_id;
        url.select();
      } catch (error) { showError(error, alert); }
    }
    async function revoke() {
      try {
        await api(`/api/chats/${chat.id}/share`, { method: 'DELETE' });
        chat.share_id = null;
        url.value = '';
        urlRow.hidden = true;
        toast('The link no longer works.');
      } catch (error) { showError(error, alert); }
    }
    document.body.append(dialog);
    dialog.showModal();
  }

  // ---- live: another tab or device -----------------------------------------------------

  // A completion another client runs with this chat's id (an API client, another device)
  // streams here as completion.delta events, then the saved reply replaces it.
  let pending = null;
  const liveText = new Map();
  const off = live.on((type, data) => {
    if (!chat || data.chat_id !== chat.id || streaming) return;
    if (type === 'completion.delta') {
      const id = String(data.message_id);
      let node = [...thread.children].find((li) => li.dataset.live === id);
      if (!node) {
        node = h('li', { class: 'message assistant streaming', 'aria-busy': 'true' },
          h('div', { class: 'meta' }, h('strong', {}, 'Assistant')), h('div', { class: 'content' }));
        node.dataset.live = id;
        thread.append(node);
      }
      const delta = typeof data.delta === 'string' ? data.delta : (data.delta && data.delta.content) || '';
      liveText.set(id, (liveText.get(id) || '') + delta);
      renderMarkdown(node.querySelector('.content'), liveText.get(id));
      return;
    }
    if (type === 'message' || type === 'completion.done') {
      clearTimeout(pending);
      pending = setTimeout(() => {
        if (!streaming) reload().then(() => liveText.clear(), () => {});
      }, 150);
    }
  });

  await load();
  if (!chatId) input.focus();

  return () => {
    off();
    side.disconnect();
    if (streaming) streaming.abort();
    if (chat) live.leave(chat.id);
  };
}

export function sourcesNode(sources) {
  if (!sources || !sources.length) return null;
  return h('details', { class: 'sources' },
    h('summary', {}, `Sources (${sources.length})`),
    h('ol', {}, sources.map((s) => {
      const meta = s.metadata || {};
      return h('li', {},
        h('strong', { class: 'source-name' }, meta.filename || meta.name || 'Source'),
        meta.page !== undefined && meta.page !== null ? h('span', { class: 'muted' }, ` · page ${meta.page}`) : null,
        h('blockquote', {}, String(s.content || '').slice(0, 400)));
    })));
}

export { fmtDate };
