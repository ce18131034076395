/* Intent Bus admin dashboard.
 *
 * Polls the admin JSON API (docs/ADMIN.md) every 2 seconds and renders it.
 * Served under a strict Content-Security-Policy, so: no inline code, no
 * style attributes, no innerHTML. Everything that comes from the API is put
 * into the page with textContent / setAttribute only, never parsed as HTML.
 *
 * Authentication: the page itself was loaded with HTTP Basic credentials
 * (user "admin", DASHBOARD_PASSWORD); same-origin fetch() calls re-send them
 * from the browser's auth cache. URLs are built from location.origin, which
 * never carries the user:password@ part of the address bar, because fetch()
 * refuses a URL with embedded credentials.
 */
(function () {
  'use strict';

  var REFRESH_MS = 2000;
  var FETCH_TIMEOUT_MS = 8000;
  var NOTICE_MS = 4000;
  var ACTION_ERROR_MS = 15000;
  /* "expired": claimed, lease ended, not yet taken back (a stuck job). */
  var STATUSES = ['open', 'claimed', 'expired', 'fulfilled', 'dead'];
  var SOURCES = [
    {name: 'stats', path: '/admin/stats', render: renderStats},
    {name: 'dead', path: '/admin/dead', render: renderDead},
    {name: 'intents', path: '/admin/intents?limit=50', render: renderIntents},
    {name: 'keys', path: '/admin/keys', render: renderKeys}
  ];

  var state = {
    timer: null,
    inFlight: null,
    again: false,
    rendered: {},        /* source name -> JSON text last rendered */
    fetchErrors: [],
    actionError: null,
    actionErrorTimer: null,
    noticeTimer: null
  };

  function byId(id) { return document.getElementById(id); }

  /* ---- small DOM helpers (text only, never HTML) ----------------------- */

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === undefined || value === null) return;
        if (name === 'text') node.textContent = String(value);
        else if (name === 'className') node.className = value;
        else if (name === 'title') node.title = String(value);
        else node.setAttribute(name, String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }

  function replaceRows(tbody, rows) {
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    rows.forEach(function (row) { tbody.appendChild(row); });
  }

  function emptyRow(columns, message) {
    return el('tr', {className: 'empty'}, [el('td', {colspan: columns, text: message})]);
  }

  function setText(id, value) {
    var node = byId(id);
    if (node) node.textContent = String(value);
  }

  /* ---- formatting ------------------------------------------------------- */

  function count(value) {
    return typeof value === 'number' && isFinite(value) ? value : 0;
  }

  function pad(n) { return n < 10 ? '0' + n : String(n); }

  function toDate(t) {
    if (t === null || t === undefined || t === '') return null;
    var d = typeof t === 'number' ? new Date(t * 1000) : new Date(String(t));
    return isNaN(d.getTime()) ? null : d;
  }

  function formatDate(d, now) {
    var time = pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
    if (now && d.toDateString() === now.toDateString()) return time;
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + time;
  }

  function timeCell(label, t) {
    var d = toDate(t);
    if (!d) return el('td', {'data-label': label, className: 'time muted', text: '—'});
    var iso = d.toISOString();
    return el('td', {'data-label': label, className: 'time'},
              [el('time', {datetime: iso, title: iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'),
                           text: formatDate(d, new Date())})]);
  }

  function textCell(label, value, extraClass) {
    var missing = value === null || value === undefined || value === '';
    var cls = (extraClass || '') + (missing ? ' muted' : '');
    var text = missing ? '—' : String(value);
    var td = el('td', {'data-label': label, className: cls.trim()});
    /* The span carries the clamping; the title shows the full text. */
    td.appendChild(el('span', {className: 'cell-text', title: missing ? null : text, text: text}));
    return td;
  }

  function idCell(label, id, full) {
    return el('td', {'data-label': label, className: 'id'},
              [el('code', {className: full ? 'id-text id-full' : 'id-text', title: id,
                           text: id || '—'})]);
  }

  function numCell(label, value, extraClass) {
    return el('td', {'data-label': label, className: 'num' + (extraClass ? ' ' + extraClass : ''),
                     text: value === null || value === undefined ? '—' : String(value)});
  }

  function attemptsText(done, max) {
    return (done === null || done === undefined ? '?' : done) + '/' +
           (max === null || max === undefined ? '?' : max);
  }

  function statusBadge(status) {
    var known = STATUSES.indexOf(status) >= 0;
    return el('span', {className: 'status ' + (known ? 'status-' + status : 'status-other'),
                       text: status === null || status === undefined ? '?' : String(status)});
  }

  /* Who holds a claimed intent and until when, for the status cell. */
  function leaseTitle(i) {
    if (i.status !== 'claimed') return '';
    var until = typeof i.claim_expires_at === 'number'
      ? new Date(i.claim_expires_at * 1000).toISOString() : '?';
    return (i.lease_expired ? 'lease expired at ' : 'lease until ') + until +
      ' by ' + String(i.claimed_by || '?');
  }

  function actionButton(action, id, label, kind) {
    return el('button', {type: 'button', className: 'btn btn-small ' + kind,
                         'data-action': action, 'data-intent-id': id, text: label,
                         title: (action === 'retry' ? 'Re-queue ' : 'Cancel ') + 'intent ' + id});
  }

  /* ---- renderers --------------------------------------------------------- */

  function renderStats(stats) {
    var namespaces = (stats && typeof stats.namespaces === 'object' && stats.namespaces) || {};
    var names = Object.keys(namespaces).sort();
    var totals = {open: 0, claimed: 0, expired: 0, fulfilled: 0, dead: 0};
    var rows = names.map(function (ns) {
      var counts = namespaces[ns] || {};
      var rowTotal = 0;
      var tr = el('tr', {'data-namespace': ns}, [el('th', {scope: 'row', text: ns})]);
      STATUSES.forEach(function (status) {
        var n = count(counts[status]);
        totals[status] += n;
        rowTotal += n;
        tr.appendChild(el('td', {
          id: 'stat-' + ns + '-' + status,
          className: 'num ' + (n === 0 ? 'zero' : 'has-' + status),
          'data-namespace': ns, 'data-status': status, text: String(n)
        }));
      });
      tr.appendChild(el('td', {id: 'stat-' + ns + '-total', className: 'num row-total',
                               'data-namespace': ns, 'data-status': 'total',
                               text: String(rowTotal)}));
      return tr;
    });
    if (rows.length === 0) rows.push(emptyRow(STATUSES.length + 2, 'No intents yet.'));
    replaceRows(byId('stats-body'), rows);

    var all = 0;
    STATUSES.forEach(function (status) {
      all += totals[status];
      setText('total-' + status, totals[status]);
    });
    setText('total-all', all);
    setText('total-open-card', totals.open);
    setText('total-claimed-card', totals.claimed);
    setText('total-fulfilled-card', totals.fulfilled);
    setText('dead-count', count(stats && stats.dead_letters));
    setText('key-count', count(stats && stats.tester_keys));
  }

  function renderDead(data) {
    var letters = Array.isArray(data) ? data : [];
    var rows = letters.map(function (d) {
      var id = String(d.intent_id);
      return el('tr', {'data-intent-id': id, className: 'row-dead'}, [
        idCell('Intent', id),
        textCell('Namespace', d.namespace, 'ns'),
        textCell('Goal', d.goal, 'goal clamp'),
        numCell('Attempts', attemptsText(d.claim_attempts, d.max_attempts)),
        textCell('Error', d.error, 'error clamp'),
        el('td', {'data-label': 'Reason'},
           [el('span', {className: 'reason' + (d.reason_code === 'cancelled' ? ' reason-cancelled' : ''),
                        text: d.reason === null || d.reason === undefined ? '—' : String(d.reason)})]),
        timeCell('Died', d.died_at),
        el('td', {'data-label': 'Actions', className: 'actions'}, [
          actionButton('retry', id, 'Retry', 'btn-primary'),
          actionButton('cancel', id, 'Cancel', 'btn-danger')
        ])
      ]);
    });
    if (rows.length === 0) rows.push(emptyRow(8, 'No dead letters.'));
    replaceRows(byId('dead-body'), rows);
  }

  function renderIntents(data) {
    var intents = (data && Array.isArray(data.intents)) ? data.intents : [];
    var rows = intents.map(function (i) {
      var id = String(i.id);
      var cancellable = i.status === 'open' || i.status === 'claimed';
      var shown = i.status === 'claimed' && i.lease_expired === true ? 'expired' : i.status;
      return el('tr', {'data-intent-id': id, 'data-status': i.status,
                       className: 'row-' + (STATUSES.indexOf(i.status) >= 0 ? i.status : 'other')}, [
        idCell('Intent', id),
        textCell('Namespace', i.namespace, 'ns'),
        textCell('Goal', i.goal, 'goal clamp'),
        el('td', {'data-label': 'Status', title: leaseTitle(i)}, [statusBadge(shown)]),
        numCell('Priority', i.priority),
        numCell('Attempts', attemptsText(i.claim_attempts, i.max_attempts)),
        timeCell('Created', i.created_at),
        textCell('Error', i.error, 'error clamp'),
        el('td', {'data-label': 'Actions', className: 'actions'},
           cancellable ? [actionButton('cancel', id, 'Cancel', 'btn-danger')] : [])
      ]);
    });
    if (rows.length === 0) rows.push(emptyRow(9, 'No intents yet.'));
    replaceRows(byId('intents-body'), rows);
  }

  function renderKeys(data) {
    var keys = (data && Array.isArray(data.keys)) ? data.keys : [];
    var rows = keys.map(function (k) {
      var revoked = k.revoked_at !== null && k.revoked_at !== undefined;
      var revokedCell = revoked ? timeCell('Revoked', k.revoked_at)
                                : el('td', {'data-label': 'Revoked'},
                                     [el('span', {className: 'status status-active', text: 'active'})]);
      if (revoked) revokedCell.insertBefore(el('span', {className: 'status status-revoked', text: 'revoked'}),
                                            revokedCell.firstChild);
      return el('tr', {'data-key-id': k.key_id, className: revoked ? 'row-revoked' : 'row-active'}, [
        idCell('Key id', k.key_id, true),
        textCell('Owner', k.owner, 'owner'),
        timeCell('Created', k.created_at),
        revokedCell,
        numCell('Open intents', k.open_intents)
      ]);
    });
    if (rows.length === 0) rows.push(emptyRow(5, 'No tester keys.'));
    replaceRows(byId('keys-body'), rows);
  }

  /* ---- HTTP -------------------------------------------------------------- */

  function apiUrl(path) {
    return new URL(path, window.location.origin).href;
  }

  async function request(method, path) {
    var controller = new AbortController();
    var timeout = setTimeout(function () { controller.abort(); }, FETCH_TIMEOUT_MS);
    var options = {
      method: method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: {'Accept': 'application/json'},
      signal: controller.signal
    };
    if (method === 'POST') {
      /* A JSON body, as an API client would send: something a cross-site
       * HTML form cannot produce, should the server ever insist on it. */
      options.headers['Content-Type'] = 'application/json';
      options.body = '{}';
    }
    var response;
    try {
      response = await fetch(apiUrl(path), options);
    } catch (err) {
      var why = err && err.name === 'AbortError'
        ? 'no answer within ' + FETCH_TIMEOUT_MS / 1000 + ' s'
        : 'network error (is the server running?)';
      throw new Error(method + ' ' + path + ': ' + why);
    } finally {
      clearTimeout(timeout);
    }
    var body = null;
    var text = await response.text();
    if (text) {
      try { body = JSON.parse(text); } catch (e) { body = undefined; }
    }
    if (!response.ok) {
      var detail = body && body.error && typeof body.error === 'object'
        ? String(body.error.code || '') + (body.error.message ? ' (' + body.error.message + ')' : '')
        : response.statusText;
      var msg = method + ' ' + path + ': HTTP ' + response.status + ' ' + detail;
      if (response.status === 401) msg += ' — reload the page and sign in as admin';
      throw new Error(msg);
    }
    if (body === undefined) throw new Error(method + ' ' + path + ': the answer is not JSON');
    return body;
  }

  /* ---- banners ------------------------------------------------------------ */

  function showErrors() {
    var banner = byId('error-banner');
    var messages = state.fetchErrors.slice();
    if (state.actionError) messages.unshift(state.actionError);
    while (banner.firstChild) banner.removeChild(banner.firstChild);
    if (messages.length === 0) {
      banner.hidden = true;
      return;
    }
    if (state.fetchErrors.length > 0) {
      banner.appendChild(el('strong', {text: 'Could not refresh the dashboard. '}));
      banner.appendChild(document.createTextNode('The figures below may be out of date.'));
    }
    var list = el('ul');
    messages.forEach(function (m) { list.appendChild(el('li', {text: m})); });
    banner.appendChild(list);
    banner.hidden = false;
  }

  function showNotice(message) {
    var notice = byId('notice-banner');
    notice.textContent = message;
    notice.hidden = false;
    clearTimeout(state.noticeTimer);
    state.noticeTimer = setTimeout(function () { notice.hidden = true; }, NOTICE_MS);
  }

  function setActionError(message) {
    state.actionError = message;
    clearTimeout(state.actionErrorTimer);
    if (message) {
      state.actionErrorTimer = setTimeout(function () {
        state.actionError = null;
        showErrors();
      }, ACTION_ERROR_MS);
    }
    showErrors();
  }

  function setConnection(kind, text) {
    var pill = byId('conn-state');
    pill.className = 'conn conn-' + kind;
    pill.textContent = text;
  }

  /* ---- refresh loop ------------------------------------------------------- */

  function scheduleNext() {
    clearTimeout(state.timer);
    state.timer = null;
    if (byId('auto-refresh').checked) state.timer = setTimeout(refresh, REFRESH_MS);
  }

  /* The part of an answer that, when unchanged, needs no re-render (so rows,
   * buttons and text selections stay put between polls). */
  function fingerprint(name, value) {
    if (name === 'stats' && value && typeof value === 'object') {
      return JSON.stringify([value.namespaces, value.dead_letters, value.tester_keys]);
    }
    return JSON.stringify(value);
  }

  async function refreshOnce() {
    var results = await Promise.all(SOURCES.map(function (source) {
      return request('GET', source.path).then(
        function (value) { return {source: source, value: value}; },
        function (error) { return {source: source, error: error}; });
    }));
    var errors = [];
    results.forEach(function (r) {
      if (r.error) {
        errors.push(r.error.message || String(r.error));
        return;
      }
      var print = fingerprint(r.source.name, r.value);
      if (state.rendered[r.source.name] === print) return;
      try {
        r.source.render(r.value);
        state.rendered[r.source.name] = print;
      } catch (err) {
        errors.push('Could not show ' + r.source.path + ': ' + (err && err.message ? err.message : err));
      }
    });
    state.fetchErrors = errors;
    showErrors();
    document.body.classList.toggle('stale', errors.length > 0);
    if (errors.length === 0) {
      var now = new Date();
      var stamp = byId('last-updated');
      stamp.textContent = formatDate(now, now);
      stamp.setAttribute('datetime', now.toISOString());
      setConnection('ok', 'live');
    } else {
      setConnection('error', errors.length === SOURCES.length ? 'offline' : 'partial');
    }
  }

  function refresh() {
    if (state.inFlight) {
      state.again = true;   /* run once more when this one ends */
      return state.inFlight;
    }
    clearTimeout(state.timer);
    state.timer = null;
    state.inFlight = refreshOnce().catch(function (err) {
      state.fetchErrors = [String(err && err.message ? err.message : err)];
      showErrors();
    }).then(function () {
      state.inFlight = null;
      if (state.again) {
        state.again = false;
        return refresh();
      }
      scheduleNext();
    });
    return state.inFlight;
  }

  /* ---- actions ------------------------------------------------------------ */

  async function runAction(button) {
    var action = button.getAttribute('data-action');
    var id = button.getAttribute('data-intent-id');
    if ((action !== 'retry' && action !== 'cancel') || !id) return;
    var row = button.closest('tr');
    var buttons = row ? row.querySelectorAll('button[data-action]') : [button];
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    var label = button.textContent;
    button.textContent = action === 'retry' ? 'Retrying…' : 'Cancelling…';
    try {
      var answer = await request('POST', '/admin/intents/' + encodeURIComponent(id) + '/' + action);
      setActionError(null);
      showNotice((action === 'retry' ? 'Re-queued' : 'Cancelled') + ' intent ' + id +
                 (answer && answer.status ? ' (now ' + answer.status + ').' : '.'));
    } catch (err) {
      setActionError((action === 'retry' ? 'Retry' : 'Cancel') + ' failed: ' +
                     (err && err.message ? err.message : err));
    } finally {
      /* Whatever happened, show the server's view of things next. */
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
      button.textContent = label;
      state.rendered = {};
      refresh();
    }
  }

  function start() {
    document.addEventListener('click', function (event) {
      var target = event.target;
      var button = target && target.closest ? target.closest('button[data-action]') : null;
      if (button && !button.disabled) runAction(button);
    });
    byId('refresh-now').addEventListener('click', function () { refresh(); });
    byId('auto-refresh').addEventListener('change', function () {
      if (this.checked) refresh();
      else {
        clearTimeout(state.timer);
        state.timer = null;
      }
    });
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'visible' && byId('auto-refresh').checked) refresh();
    });
    refresh();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
}());
