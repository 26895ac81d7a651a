"""The page as the model reads it: a compact accessibility-style tree with stable element ids.

A script run in the page walks the visible DOM and writes one line per thing worth reading or
acting on::

    [3] heading "Sign in"
    [4] textbox "Username" value=""
    [6] button "Sign in"
    [7] text "Forgot your password?"
    [9] row "Widget | 4.50 | 12"

Each element shown gets an id (a ``data-envlearn-id`` attribute, like BrowserGym's ``bid``),
given once in document order and kept for the element's life, so ids stay the same across
turns and two runs of a deterministic page give identical text.  Actions name these ids.
Nothing random or time-dependent goes in: no coordinates, no generated attribute values.
"""

from __future__ import annotations

__all__ = ["ID_ATTR", "SETTLE_INIT", "SNAPSHOT_JS"]

ID_ATTR = "data-envlearn-id"

# Counts what the page is still doing (fetches, reading their bodies, short timers), so an
# action's observation is taken once the page has settled, not at an arbitrary moment.
SETTLE_INIT = r"""
(() => {
  if (window.__envlearnPending) return;
  let n = 0;
  const done = () => setTimeout(() => { n--; }, 0);
  window.__envlearnPending = () => n;
  const f = window.fetch;
  if (f) {
    window.fetch = function (...a) { n++; const p = f.apply(this, a); p.then(done, done); return p; };
    for (const m of ['json', 'text', 'blob', 'arrayBuffer']) {
      const o = Response.prototype[m];
      Response.prototype[m] = function () { n++; const p = o.call(this); p.then(done, done); return p; };
    }
  }
  const st = window.setTimeout, ct = window.clearTimeout, short = new Set();
  window.setTimeout = function (fn, ms, ...rest) {
    const wait = Number(ms) || 0;
    if (wait > 1000 || typeof fn !== 'function') return st(fn, ms, ...rest);
    let id;
    n++;
    id = st(function () { short.delete(id); n--; return fn.apply(this, rest); }, wait);
    short.add(id);
    return id;
  };
  window.clearTimeout = function (id) { if (short.delete(id)) n--; return ct(id); };
  // popups and new tabs never open: they are recorded and reported instead
  const popups = [];
  window.__envlearnPopups = () => popups.splice(0);
  window.open = function (url) { popups.push(String(url || '')); return null; };
  document.addEventListener('click', (e) => {
    const a = e.target && e.target.closest && e.target.closest('a[target], area[target]');
    if (a && !['', '_self', '_parent', '_top'].includes(a.target)) {
      e.preventDefault();
      popups.push(a.href);
    }
  }, true);
})();
"""

SNAPSHOT_JS = r"""
([skipSelector, attr, maxText, maxLines]) => {
  const popups = window.__envlearnPopups ? window.__envlearnPopups() : [];
  const root = document.body;
  if (!root) return {title: document.title, popups, tree: '', overflow: 0};
  const skipped = new Set(skipSelector ? document.querySelectorAll(skipSelector) : []);
  let next = Number(document.documentElement.getAttribute('data-envlearn-next') || '100');
  const idOf = (el) => {
    let v = el.getAttribute(attr);
    if (!v) { v = String(next++); el.setAttribute(attr, v); }
    return v;
  };
  const clean = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const cut = (s) => s.length > maxText ? s.slice(0, maxText) + '…' : s;
  const q = (s) => JSON.stringify(cut(clean(s)));
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'HEAD', 'META', 'LINK', 'SVG:TITLE']);
  const INLINE = new Set(['B', 'I', 'EM', 'STRONG', 'SMALL', 'CODE', 'SUB', 'SUP', 'MARK',
                          'U', 'S', 'ABBR', 'TIME', 'BR', 'WBR', 'FONT', 'Q', 'CITE', 'KBD', 'VAR']);
  const visible = (el) => {
    if (el.hidden || el.getAttribute('aria-hidden') === 'true') return false;
    if (el.checkVisibility && !el.checkVisibility({visibilityProperty: true, opacityProperty: false})) {
      return false;
    }
    const cs = getComputedStyle(el);
    return cs.display !== 'none' && cs.visibility !== 'hidden';
  };
  const labelOf = (el) => {
    const aria = el.getAttribute('aria-label');
    if (aria) return aria;
    const lb = el.getAttribute('aria-labelledby');
    if (lb) {
      const t = lb.split(/\s+/).map((i) => document.getElementById(i)).filter(Boolean)
        .map((e) => e.textContent).join(' ');
      if (clean(t)) return t;
    }
    if (el.labels && el.labels.length) {
      // the label's own words: not the control's text (a select's options) when it wraps it
      const own = (l) => {
        let out = '';
        const w = document.createTreeWalker(l, NodeFilter.SHOW_TEXT);
        for (let n = w.nextNode(); n; n = w.nextNode()) {
          const p = n.parentElement;
          if (el.contains(n) || (p && p.closest('select,textarea,option,script,style'))) continue;
          out += ' ' + n.textContent;
        }
        return out;
      };
      const t = Array.from(el.labels).map(own).join(' ');
      if (clean(t)) return t;
    }
    return '';
  };
  const roleOf = (el) => {
    const r = el.getAttribute('role');
    if (r && r !== 'presentation' && r !== 'none' && r !== 'generic') return r;
    const t = el.tagName;
    if (t === 'A' && el.hasAttribute('href')) return 'link';
    if (t === 'BUTTON') return 'button';
    if (t === 'SELECT') return 'combobox';
    if (t === 'TEXTAREA') return 'textbox';
    if (t === 'INPUT') {
      const ty = (el.getAttribute('type') || 'text').toLowerCase();
      if (ty === 'hidden') return null;
      if (['button', 'submit', 'reset', 'image'].includes(ty)) return 'button';
      if (ty === 'checkbox') return 'checkbox';
      if (ty === 'radio') return 'radio';
      if (ty === 'range') return 'slider';
      if (ty === 'number') return 'spinbutton';
      return 'textbox';
    }
    if (/^H[1-6]$/.test(t)) return 'heading';
    if (t === 'IMG') return 'img';
    if (t === 'TR') return 'row';
    if (t === 'LABEL') return 'label';
    if (el.hasAttribute('onclick')) return 'clickable';
    // a pointer cursor set on this element (not inherited) marks a scripted click target
    const cur = getComputedStyle(el).cursor;
    if (cur === 'pointer' && (!el.parentElement || getComputedStyle(el.parentElement).cursor !== 'pointer')) {
      return 'clickable';
    }
    return null;
  };
  const CONTROL = new Set(['link', 'button', 'combobox', 'textbox', 'checkbox', 'radio',
                           'slider', 'spinbutton', 'tab', 'menuitem', 'option', 'switch',
                           'searchbox', 'clickable']);
  const hasStructure = (el) => {
    for (const c of el.querySelectorAll('*')) {
      if (INLINE.has(c.tagName)) continue;
      return true;
    }
    return false;
  };
  const lines = [];
  let overflow = 0;
  const emit = (depth, s) => {
    if (lines.length >= maxLines) { overflow++; return; }
    lines.push('  '.repeat(Math.min(depth, 8)) + s);
  };
  const control = (el, role, depth) => {
    const id = idOf(el);
    let name = labelOf(el);
    const t = el.tagName;
    let extra = '';
    if (t === 'INPUT' || t === 'TEXTAREA') {
      const ty = (el.getAttribute('type') || '').toLowerCase();
      if (role === 'checkbox' || role === 'radio') {
        extra = el.checked ? ' checked' : ' unchecked';
        if (!name) name = el.value && el.value !== 'on' ? el.value : '';
      } else if (role === 'button') {
        if (!name) name = el.value || el.getAttribute('alt') || '';
      } else {
        if (!name) name = el.getAttribute('placeholder') || el.getAttribute('name') || '';
        const v = ty === 'password' ? '•'.repeat(el.value.length) : el.value;
        extra = ' value=' + q(v);
      }
      if (el.readOnly) extra += ' readonly';
    } else if (t === 'SELECT') {
      const opts = Array.from(el.options).map((o) => cut(clean(o.textContent)));
      const sel = el.selectedIndex >= 0 ? clean(el.options[el.selectedIndex].textContent) : '';
      extra = ' value=' + q(sel) + ' options=' + JSON.stringify(opts.slice(0, 50));
      if (!name) name = el.getAttribute('name') || '';
    } else {
      if (!name) name = el.innerText || el.getAttribute('title') || el.getAttribute('alt') || '';
    }
    if (el.disabled) extra += ' disabled';
    const st = el.getAttribute('aria-selected');
    if (st === 'true') extra += ' selected';
    const ex = el.getAttribute('aria-expanded');
    if (ex) extra += ex === 'true' ? ' expanded' : ' collapsed';
    emit(depth, `[${id}] ${role} ${q(name)}${extra}`);
  };
  const walk = (el, depth) => {
    if (SKIP.has(el.tagName.toUpperCase()) || skipped.has(el) || !visible(el)) return;
    const role = roleOf(el);
    if (role && CONTROL.has(role)) {
      if (!hasStructure(el) || ['button', 'link', 'combobox', 'textbox'].includes(role)) {
        control(el, role, depth);
        return;
      }
    }
    if (role === 'img') {
      const alt = el.getAttribute('alt');
      if (alt) emit(depth, `[${idOf(el)}] img ${q(alt)}`);
      return;
    }
    if (!hasStructure(el)) {
      const text = clean(el.innerText);
      if (text) emit(depth, `[${idOf(el)}] ${role && role !== 'label' ? role : 'text'} ${q(text)}`);
      return;
    }
    if (role === 'row' && !el.querySelector('a,button,input,select,textarea,[onclick],[role]')) {
      const cells = Array.from(el.children).filter(visible).map((c) => cut(clean(c.innerText)));
      emit(depth, `[${idOf(el)}] row ${JSON.stringify(cells.join(' | '))}`);
      return;
    }
    let inner = depth;
    if (role && role !== 'label') { emit(depth, `[${idOf(el)}] ${role}`); inner = depth + 1; }
    else if (role === 'label') { inner = depth; }
    const labelsControl = el.tagName === 'LABEL' && el.querySelector('input,select,textarea');
    for (const c of el.childNodes) {
      if (c.nodeType === 3) {
        if (labelsControl) continue;  // the control's name already says it
        const t = clean(c.textContent);
        if (t) emit(inner, `[${idOf(el)}] text ${q(t)}`);
      } else if (c.nodeType === 1) {
        walk(c, inner);
      }
    }
  };
  walk(root, 0);
  document.documentElement.setAttribute('data-envlearn-next', String(next));
  return {title: document.title, popups, tree: lines.join('\n'), overflow};
}
"""
