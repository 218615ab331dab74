// Markdown: markdown-it with raw HTML off, then DOMPurify; links only to http(s), mailto and
// this site, opened without an opener; images are dropped (they would reach other sites).
let renderer = null;
let loading = null;

// The two libraries are loaded when a page first needs Markdown (chats and shares), so the
// other pages do not carry their ~130 KB.
function script(name) {
  return new Promise((resolve, reject) => {
    const el = document.createElement('script');
    el.src = new URL(`./vendor/${name}`, import.meta.url).href;
    el.onload = resolve;
    el.onerror = () => reject(new Error(`Could not load ${name}`));
    document.head.append(el);
  });
}

export function loadMarkdown() {
  if (!loading) loading = Promise.all([script('markdown-it.min.js'), script('purify.min.js')]);
  return loading;
}

function setup() {
  renderer = window.markdownit({ html: false, linkify: true, breaks: true });
  window.DOMPurify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A') {
      node.setAttribute('rel', 'noopener noreferrer nofollow');
      node.setAttribute('target', '_blank');
    }
  });
}

const OPTIONS = {
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#|\/(?!\/))/i,
  FORBID_TAGS: ['img', 'style', 'form', 'input', 'button', 'textarea', 'select', 'svg', 'math'],
  FORBID_ATTR: ['style', 'id', 'name'],
};

export function renderMarkdown(el, text) {
  if (!renderer) setup();
  el.innerHTML = window.DOMPurify.sanitize(renderer.render(String(text || '')), OPTIONS);
  for (const pre of el.querySelectorAll('pre')) {
    const copy = document.createElement('button');
    copy.type = 'button';
    copy.className = 'copy';
    copy.textContent = 'Copy';
    copy.addEventListener('click', () => {
      navigator.clipboard.writeText(pre.querySelector('code')?.textContent || pre.textContent)
        .then(() => { copy.textContent = 'Copied'; }, () => { copy.textContent = 'Copy failed'; });
    });
    pre.prepend(copy);
  }
}
