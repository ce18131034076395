/* Intent Bus admin dashboard.
 *
 * Pages (chosen by the address's #fragment): overview, jobs (search and
 * pages), one job, dead letters (filters, bulk actions), schedules (every
 * key's, pause and resume), keys, audit log.
 * The page on screen polls the admin JSON API (docs/ADMIN.md) every 2
 * seconds and renders it; every action is a call of that same API, so the
 * CLI can do it too. Served under a strict Content-Security-Policy, so: no
 * inline code, no style attributes, no innerHTML. Everything that comes
 * from the API is put into the page with textContent / setAttribute only,
 * never parsed as HTML.
 *
 * Authentication: the page itself was loaded with HTTP Basic credentials
 * (user "admin", DASHBOARD_PASSWORD, or "viewer", who may only look);
 * same-origin fetch() calls re-send them from the browser's auth cache.
 * URLs are built from location.origin, which never carries the
 * user:password@ part of the address bar, because fetch() refuses a URL
 * with embedded credentials.
 */
(function () {
  'use strict';

  var REFRESH_MS = 2000;
  var FETCH_TIMEOUT_MS = 8000;
  var NOTICE_MS = 4000;
  var ACTION_ERROR_MS = 15000;
  var PAYLOAD_SHOWN_MAX = 65536; /* characters of a payload or result shown */
  /* "expired": claimed, lease ended, not yet taken back (a stuck job). */
  var STATUSES = ['open', 'claimed', 'expired', 'fulfilled', 'dead'];
  var SVG = 'http://www.w3.org/2000/svg';

  var state = {
    page: 'overview',
    jobId: null,
    polls: 0,
    timer: null,
    inFlight: null,
    again: false,
    rendered: {},        /* source name -> JSON text last rendered */
    fetchErrors: [],
    actionError: null,
    actionErrorTimer: null,
    noticeTimer: null,
    jobsQuery: {},       /* the Jobs page's filters */
    jobsBefore: [],      /* the cursors of the pages before this one */
    jobsNext: null,
    deadQuery: {},
    goals: null,
    history: null
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

  /* Ids in full (their first 8 hex digits are a time, alike in every row),
   * an intent's linking to its page. */
  function idCell(label, id, isIntent) {
    var code = el('code', {className: 'id-text id-full', title: id, text: id || '—'});
    var inner = isIntent && id ? el('a', {href: '#job/' + encodeURIComponent(id)}, [code]) : code;
    return el('td', {'data-label': label, className: 'id'}, [inner]);
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

  var ACTION_TITLES = {retry: 'Re-queue intent ', cancel: 'Cancel intent ', revoke: 'Revoke key '};

  function actionButton(action, id, label, kind) {
    var attrs = {type: 'button', className: 'btn btn-small admin-only ' + kind,
                 'data-action': action, text: label, title: ACTION_TITLES[action] + id};
    attrs[action === 'revoke' ? 'data-key-id' : 'data-intent-id'] = id;
    return el('button', attrs);
  }

  function ageText(seconds) {
    if (typeof seconds !== 'number' || !isFinite(seconds)) return '—';
    if (seconds < 90) return Math.round(seconds) + ' s';
    if (seconds < 5400) return Math.round(seconds / 60) + ' min';
    if (seconds < 172800) return (seconds / 3600).toFixed(1) + ' h';
    return (seconds / 86400).toFixed(1) + ' d';
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
    setText('total-expired-card', totals.expired);
    setText('total-fulfilled-card', totals.fulfilled);
    setText('dead-count', count(stats && stats.dead_letters));
    setText('key-count', count(stats && stats.tester_keys));
  }

  function renderDead(data) {
    var letters = Array.isArray(data) ? data : [];
    var rows = letters.map(function (d) {
      var id = String(d.intent_id);
      return el('tr', {'data-intent-id': id, className: 'row-dead'}, [
        idCell('Intent', id, true),
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
        idCell('Intent', id, true),
        textCell('Namespace', i.namespace, 'ns'),
        textCell('Goal', i.goal, 'goal clamp'),
        el('td', {'data-label': 'Status', title: leaseTitle(i)}, [statusBadge(shown)]),
        numCell('Priority', i.priority),
        numCell('Attempts', attemptsText(i.claim_attempts, i.max_attempts)),
        textCell('Worker', i.worker_id, 'worker'),
        timeCell('Created', i.created_at),
        textCell('Error', i.error, 'error clamp'),
        el('td', {'data-label': 'Actions', className: 'actions'},
           cancellable ? [actionButton('cancel', id, 'Cancel', 'btn-danger')] : [])
      ]);
    });
    if (rows.length === 0) rows.push(emptyRow(10, 'No intents match.'));
    replaceRows(byId('intents-body'), rows);
    state.jobsNext = data && typeof data.next === 'string' ? data.next : null;
    byId('jobs-next').disabled = state.jobsNext === null;
    byId('jobs-first').disabled = state.jobsBefore.length === 0;
    setText('jobs-hint', 'newest first' + (state.jobsBefore.length ? ', page ' +
            (state.jobsBefore.length + 1) : ''));
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
        idCell('Key id', k.key_id),
        textCell('Owner', k.owner, 'owner'),
        timeCell('Created', k.created_at),
        revokedCell,
        numCell('Open intents', k.open_intents),
        el('td', {'data-label': 'Actions', className: 'actions'},
           revoked ? [] : [actionButton('revoke', k.key_id, 'Revoke', 'btn-danger')])
      ]);
    });
    if (rows.length === 0) rows.push(emptyRow(6, 'No tester keys.'));
    replaceRows(byId('keys-body'), rows);
  }

  /* A goal's control buttons carry the goal itself, not an intent id. */
  function goalButton(action, g, label, kind) {
    return el('button', {type: 'button', className: 'btn btn-small admin-only ' + kind,
                         'data-action': action, 'data-namespace': g.namespace,
                         'data-goal': g.goal, text: label,
                         title: label + ' ' + g.namespace + '/' + g.goal});
  }

  function goalControlCell(g, typed) {
    var limit = el('input', {type: 'number', min: 1, step: 1, className: 'limit-input',
                             'aria-label': 'Limit of ' + g.goal, placeholder: 'max',
                             'data-goal-key': g.namespace + '\n' + g.goal});
    if (typed !== undefined) limit.value = typed;
    var parts = [
      g.paused ? goalButton('goal-resume', g, 'Resume', 'btn-primary')
               : goalButton('goal-pause', g, 'Pause', 'btn-danger'),
      limit,
      goalButton('goal-limit', g, 'Set limit', '')
    ];
    if (typeof g.max_claimed === 'number') parts.push(goalButton('goal-unlimit', g, 'No limit', ''));
    return el('td', {'data-label': 'Control', className: 'actions admin-only'}, parts);
  }

  /* What is typed in the limit fields survives the table's refresh. */
  function typedLimits() {
    var typed = {};
    Array.prototype.forEach.call(document.querySelectorAll('#goals-body input[data-goal-key]'),
      function (input) { if (input.value !== '') typed[input.getAttribute('data-goal-key')] = input.value; });
    return typed;
  }

  function renderGoals(data) {
    var goals = (data && Array.isArray(data.goals)) ? data.goals : [];
    var typed = typedLimits();
    var oldest = null;
    var rows = goals.map(function (g) {
      if (typeof g.oldest_open_age === 'number' && (oldest === null || g.oldest_open_age > oldest))
        oldest = g.oldest_open_age;
      return el('tr', {'data-namespace': g.namespace, 'data-goal': g.goal}, [
        textCell('Namespace', g.namespace, 'ns'),
        textCell('Goal', g.goal, 'goal clamp'),
        numCell('Open', count(g.open)),
        numCell('Scheduled', count(g.scheduled)),
        numCell('Claimed', count(g.claimed)),
        numCell('Expired', count(g.expired), count(g.expired) ? 'has-expired' : ''),
        numCell('Fulfilled', count(g.fulfilled)),
        numCell('Dead', count(g.dead)),
        numCell('Oldest open', ageText(g.oldest_open_age)),
        el('td', {'data-label': 'Paused', className: 'paused-cell'},
           [g.paused ? el('span', {className: 'status status-paused', text: 'paused'}) : '—']),
        numCell('Limit', typeof g.max_claimed === 'number' ? g.max_claimed : null),
        goalControlCell(g, typed[g.namespace + '\n' + g.goal])
      ]);
    });
    if (rows.length === 0) rows.push(emptyRow(12, 'No intents yet.'));
    if (data && data.truncated) rows.push(emptyRow(12, 'Only the first goals are shown.'));
    replaceRows(byId('goals-body'), rows);
    setText('oldest-open', ageText(oldest));
  }

  /* "every 90 s", "every 5 min", "every 2 h", or the cron line; and the zone. */
  function cadenceText(s) {
    var zone = s.timezone && s.timezone !== 'UTC' ? ' (' + s.timezone + ')' : ' (UTC)';
    if (typeof s.every === 'number') {
      var e = s.every;
      var text = e % 86400 === 0 ? e / 86400 + ' d' : e % 3600 === 0 ? e / 3600 + ' h'
               : e % 60 === 0 ? e / 60 + ' min' : e + ' s';
      return 'every ' + text;
    }
    return 'cron ' + String(s.cron) + zone;
  }

  /* The next fire times, one per line (none while paused). */
  function runsCell(s) {
    var runs = Array.isArray(s.next_runs) ? s.next_runs : [];
    if (runs.length === 0)
      return el('td', {'data-label': 'Next runs', className: 'time muted', text: '—'});
    var now = new Date();
    /* One wrapper: a stacked (phone) cell lays its label and value side by side. */
    var list = el('div', {className: 'runs-list'}, runs.map(function (t) {
      var d = toDate(t);
      var iso = d ? d.toISOString() : '';
      return el('time', {datetime: iso, title: iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'),
                         text: d ? formatDate(d, now) : '?'});
    }));
    return el('td', {'data-label': 'Next runs', className: 'time runs'}, [list]);
  }

  /* When the last occurrence was and what became of it (fired, skipped_...). */
  function lastFireCell(s) {
    var last = s.last_fire;
    if (!last) return timeCell('Last fire', s.last_fire_at);
    var td = timeCell('Last fire', last.fire_at);
    var fired = last.outcome === 'fired';
    td.appendChild(el('span', {className: 'status ' + (fired ? 'status-fulfilled' : 'status-other'),
                               text: String(last.outcome)}));
    return td;
  }

  function scheduleButton(action, s, label, kind) {
    return el('button', {type: 'button', className: 'btn btn-small admin-only ' + kind,
                         'data-action': action, 'data-schedule': s.name, text: label,
                         title: label + ' schedule ' + s.name});
  }

  function renderSchedules(data) {
    var schedules = (data && Array.isArray(data.schedules)) ? data.schedules : [];
    var rows = schedules.map(function (s) {
      var owner = (s.key_owner === null || s.key_owner === undefined ? '(key gone)' : s.key_owner) +
                  ' · key ' + s.key_id + (s.key_revoked ? ' (revoked)' : '');
      return el('tr', {'data-schedule': s.name, 'data-paused': s.paused ? 'true' : 'false'}, [
        textCell('Name', s.name, 'ns'),
        textCell('Key owner', owner),
        textCell('Publishes', String(s.namespace) + ' / ' + String(s.goal), 'goal clamp'),
        textCell('When', cadenceText(s)),
        runsCell(s),
        lastFireCell(s),
        numCell('Fires / skips', count(s.fires) + ' / ' + count(s.skips)),
        el('td', {'data-label': 'Paused', className: 'paused-cell'},
           [s.paused ? el('span', {className: 'status status-paused', text: 'paused'}) : '—']),
        el('td', {'data-label': 'Control', className: 'actions admin-only'},
           [s.paused ? scheduleButton('schedule-resume', s, 'Resume', 'btn-primary')
                     : scheduleButton('schedule-pause', s, 'Pause', 'btn-danger')])
      ]);
    });
    if (rows.length === 0) rows.push(emptyRow(9, 'No schedules.'));
    if (data && data.truncated) rows.push(emptyRow(9, 'Only the first schedules are shown.'));
    replaceRows(byId('schedules-body'), rows);
  }

  /* One polyline per series, scaled to the largest value of all. */
  function drawChart(svg, seriesList, max) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var width = 600, height = 160, top = 8, bottom = 4;
    seriesList.forEach(function (series) {
      var values = series.values;
      if (!values.length) return;
      var step = values.length > 1 ? width / (values.length - 1) : width;
      var points = values.map(function (v, i) {
        var y = height - bottom - (max > 0 ? (v / max) * (height - top - bottom) : 0);
        return (i * step).toFixed(1) + ',' + y.toFixed(1);
      }).join(' ');
      var line = document.createElementNS(SVG, 'polyline');
      line.setAttribute('points', points);
      line.setAttribute('class', 'line line-' + series.name);
      line.setAttribute('data-total', String(values.reduce(function (a, b) { return a + b; }, 0)));
      svg.appendChild(line);
    });
  }

  function seriesOf(history) {
    return ['published', 'fulfilled', 'failed'].map(function (name) {
      var values = history && Array.isArray(history[name]) ? history[name].map(count) : [];
      return {name: name, values: values};
    });
  }

  function largest(seriesList) {
    var max = 0;
    seriesList.forEach(function (s) { s.values.forEach(function (v) { if (v > max) max = v; }); });
    return max;
  }

  function renderHour(history) {
    var series = seriesOf(history);
    var max = largest(series);
    drawChart(byId('chart-hour'), series, max);
    setText('chart-max', 'peak ' + max + ' a minute in the last hour');
    var claimed = history && Array.isArray(history.claimed) ? history.claimed.slice(-5) : [];
    var sum = claimed.reduce(function (a, b) { return a + count(b); }, 0);
    setText('claim-rate', claimed.length ? (sum / claimed.length).toFixed(1) : '–');
  }

  function renderDay(history) {
    var series = seriesOf(history);
    drawChart(byId('chart-day'), series, largest(series));
  }

  function field(list, name, value) {
    list.appendChild(el('dt', {text: name}));
    list.appendChild(el('dd', {text: value === null || value === undefined || value === '' ? '—'
                                                                                          : String(value)}));
  }

  function timeText(t) {
    var d = toDate(t);
    return d ? formatDate(d, new Date()) + ' (' + d.toISOString() + ')' : '—';
  }

  /* Pretty-printed, cut at PAYLOAD_SHOWN_MAX characters. */
  function jsonText(value, type) {
    if (value === null || value === undefined) return '—';
    var text = type === 'text' && typeof value === 'string' ? value : JSON.stringify(value, null, 2);
    return text.length > PAYLOAD_SHOWN_MAX
      ? text.slice(0, PAYLOAD_SHOWN_MAX) + '\n… (' + text.length + ' characters, cut)' : text;
  }

  /* The job's attempts, oldest first: who held it, until when, and how it ended. */
  function renderAttempts(attempts) {
    var list = Array.isArray(attempts) ? attempts : [];
    var rows = list.map(function (a) {
      var owner = a.owner || (a.claimed_by ? 'key ' + String(a.claimed_by).slice(0, 12) : null);
      return el('tr', {'data-attempt': String(a.attempt), 'data-outcome': a.outcome || ''}, [
        numCell('#', a.attempt),
        textCell('Worker', a.worker_id, 'ns'),
        textCell('Key owner', owner),
        timeCell('Claimed', a.claimed_at),
        timeCell('Lease until', a.lease_expires_at),
        timeCell('Ended', a.ended_at),
        textCell('Outcome', a.outcome),
        textCell('Error', a.error, 'error clamp')
      ]);
    });
    replaceRows(byId('attempts-body'), rows.length ? rows : [emptyRow(8, 'Never claimed.')]);
  }

  /* The completion webhook (notify_url) and how its delivery goes. */
  function webhookFields(list, hook) {
    var state = hook.state + (hook.attempts ? ' after ' + hook.attempts +
                              (hook.attempts === 1 ? ' attempt' : ' attempts') : '');
    field(list, 'Webhook', hook.url);
    field(list, 'Webhook delivery', state);
    if (hook.last_status !== null || hook.last_error !== null)
      field(list, 'Webhook last answer', hook.last_error || ('HTTP ' + hook.last_status));
    if (hook.state === 'pending') field(list, 'Webhook next attempt', timeText(hook.next_attempt_at));
    if (hook.state === 'delivered') field(list, 'Webhook delivered', timeText(hook.delivered_at));
  }

  function renderJob(job) {
    var list = byId('job-fields');
    while (list.firstChild) list.removeChild(list.firstChild);
    var shown = job.status === 'claimed' && job.lease_expired ? 'claimed (lease expired)' : job.status;
    setText('job-id', job.id);
    field(list, 'Status', shown);
    field(list, 'Namespace', job.namespace);
    field(list, 'Goal', job.goal);
    field(list, 'Priority', job.priority);
    field(list, 'Visibility', job.visibility);
    field(list, 'Attempts', attemptsText(job.claim_attempts, job.max_attempts));
    field(list, 'Backoff base (s)', job.backoff_base);
    field(list, 'Publisher key', job.publisher);
    field(list, 'Target worker', job.target_worker);
    field(list, 'Required capability', job.required_capability);
    field(list, 'Created', timeText(job.created_at));
    field(list, 'Runnable from', timeText(job.run_at));
    field(list, 'Expires', timeText(job.expires_at));
    field(list, 'Last worker id', job.worker_id);
    field(list, 'Claimed by key', job.claimed_by);
    field(list, 'Claimed at', timeText(job.claimed_at));
    field(list, 'Lease until', timeText(job.claim_expires_at));
    field(list, 'Completed', timeText(job.completed_at));
    field(list, 'Error', job.error);
    renderAttempts(job.attempts);
    if (job.webhook) webhookFields(list, job.webhook);
    byId('job-payload').textContent = jsonText(job.payload);
    byId('job-result').textContent = jsonText(job.result, job.result_type);
    var actions = [];
    if (job.status !== 'open') actions.push(actionButton('retry', job.id, 'Retry', 'btn-primary'));
    if (job.status !== 'dead') actions.push(actionButton('cancel', job.id, 'Cancel', 'btn-danger'));
    replaceRows(byId('job-actions'), actions);
  }

  function renderWorkers(data) {
    var workers = (data && Array.isArray(data.workers)) ? data.workers : [];
    var rows = workers.map(function (w) {
      var name = w.worker_id === null || w.worker_id === undefined ? '(no worker id)' : w.worker_id;
      var owner = (w.owner || '?') + ' · key ' + w.key_id;
      var held = el('td', {'data-label': 'Holding now', className: 'num'});
      held.appendChild(count(w.held) > 0 && w.worker_id
        ? el('a', {href: '#jobs', 'data-worker': w.worker_id, className: 'held-link',
                   text: String(count(w.held))})
        : document.createTextNode(String(count(w.held))));
      return el('tr', {'data-worker-id': name, 'data-owner': w.owner || ''}, [
        textCell('Worker id', name, 'ns'),
        textCell('Key owner', owner),
        textCell('Capabilities', Array.isArray(w.capabilities) ? w.capabilities.join(', ') : null),
        textCell('Namespace', w.namespace, 'ns'),
        timeCell('Last seen', w.last_seen),
        timeCell('Last job', w.last_claim),
        numCell('Jobs / empty', w.claims === undefined ? '—' : count(w.claims) + ' / ' + count(w.empty_claims)),
        held,
        numCell('Lapsed leases', count(w.held_expired), count(w.held_expired) ? 'has-expired' : '')
      ]);
    });
    if (rows.length === 0) rows.push(emptyRow(9, 'No worker has claimed in the last hour.'));
    replaceRows(byId('workers-body'), rows);
  }

  function renderAudit(data) {
    var entries = (data && Array.isArray(data.entries)) ? data.entries : [];
    var rows = entries.map(function (e) {
      return el('tr', {'data-audit-id': e.id, 'data-action-name': e.action}, [
        timeCell('When', e.at),
        textCell('Who', e.who),
        textCell('From', e.address),
        textCell('Action', e.action),
        textCell('Target', e.target, 'clamp'),
        textCell('Detail', e.detail === null || e.detail === undefined ? null
                                                                        : JSON.stringify(e.detail),
                 'clamp detail')
      ]);
    });
    if (rows.length === 0) rows.push(emptyRow(6, 'No admin actions yet.'));
    replaceRows(byId('audit-body'), rows);
  }

  /* ---- pages and what each polls ----------------------------------------- */

  function query(params) {
    var parts = Object.keys(params).filter(function (k) {
      return params[k] !== undefined && params[k] !== null && params[k] !== '';
    }).sort().map(function (k) {
      return encodeURIComponent(k) + '=' + encodeURIComponent(params[k]);
    });
    return parts.length ? '?' + parts.join('&') : '';
  }

  function jobsPath() {
    var params = Object.assign({limit: 50}, state.jobsQuery);
    if (state.jobsBefore.length) params.before = state.jobsBefore[state.jobsBefore.length - 1];
    return '/admin/intents' + query(params);
  }

  /* every: poll on one refresh in that many (the heavier reads). */
  var PAGES = {
    overview: [
      {name: 'stats', path: function () { return '/admin/stats'; }, render: renderStats},
      {name: 'goals', every: 5, path: function () { return '/admin/goals'; }, render: renderGoals},
      {name: 'hour', every: 5, path: function () { return '/admin/history?minutes=60'; },
       render: renderHour},
      {name: 'day', every: 15, path: function () { return '/admin/history?minutes=1440'; },
       render: renderDay}
    ],
    jobs: [{name: 'intents', path: jobsPath, render: renderIntents}],
    job: [{name: 'job', path: function () { return '/admin/intents/' + encodeURIComponent(state.jobId); },
           render: renderJob}],
    workers: [{name: 'workers', path: function () { return '/admin/workers'; },
               render: renderWorkers}],
    dead: [{name: 'dead', path: function () { return '/admin/dead' + query(state.deadQuery); },
            render: renderDead}],
    schedules: [{name: 'schedules', path: function () { return '/admin/schedules'; },
                 render: renderSchedules}],
    keys: [{name: 'keys', path: function () { return '/admin/keys'; }, render: renderKeys}],
    audit: [{name: 'audit', path: function () { return '/admin/audit?limit=100'; },
             render: renderAudit}]
  };

  function readRoute() {
    var hash = window.location.hash.replace(/^#/, '');
    if (hash.indexOf('job/') === 0) {
      state.page = 'job';
      state.jobId = decodeURIComponent(hash.slice(4));
    } else {
      state.page = PAGES[hash] ? hash : 'overview';
    }
    Array.prototype.forEach.call(document.querySelectorAll('section.page'), function (section) {
      section.hidden = section.getAttribute('data-page') !== state.page;
    });
    Array.prototype.forEach.call(document.querySelectorAll('nav.tabs a'), function (a) {
      var current = a.getAttribute('data-page') === (state.page === 'job' ? 'jobs' : state.page);
      if (current) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
    state.rendered = {};
    state.polls = 0;
    document.body.removeAttribute('data-shown');
  }

  /* ---- HTTP -------------------------------------------------------------- */

  function apiUrl(path) {
    return new URL(path, window.location.origin).href;
  }

  async function request(method, path, body) {
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
      options.body = JSON.stringify(body || {});
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
    var answer = null;
    var text = await response.text();
    if (text) {
      try { answer = JSON.parse(text); } catch (e) { answer = undefined; }
    }
    if (!response.ok) {
      var detail = answer && answer.error && typeof answer.error === 'object'
        ? String(answer.error.code || '') + (answer.error.message ? ' (' + answer.error.message + ')' : '')
        : response.statusText;
      var msg = method + ' ' + path + ': HTTP ' + response.status + ' ' + detail;
      if (response.status === 401) msg += ' — reload the page and sign in as admin';
      throw new Error(msg);
    }
    if (answer === undefined) throw new Error(method + ' ' + path + ': the answer is not JSON');
    return answer;
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
    var polls = state.polls++;
    var page = state.page;
    var sources = PAGES[state.page].filter(function (source) {
      return !source.every || polls % source.every === 0 || !(source.name in state.rendered);
    });
    var results = await Promise.all(sources.map(function (source) {
      var path = source.path();
      return request('GET', path).then(
        function (value) { return {source: source, path: path, value: value}; },
        function (error) { return {source: source, path: path, error: error}; });
    }));
    var errors = [];
    results.forEach(function (r) {
      if (r.error) {
        errors.push(r.error.message || String(r.error));
        return;
      }
      var print = r.path + ' ' + fingerprint(r.source.name, r.value);
      if (state.rendered[r.source.name] === print) return;
      try {
        r.source.render(r.value);
        state.rendered[r.source.name] = print;
      } catch (err) {
        errors.push('Could not show ' + r.path + ': ' + (err && err.message ? err.message : err));
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
      /* What is on screen is this page's, fresh (tests wait for it). */
      if (page === state.page) document.body.setAttribute('data-shown', page);
    } else {
      setConnection('error', errors.length === sources.length ? 'offline' : 'partial');
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

  /* Runs one admin API call for a button, then shows the server's view. */
  async function act(button, busyLabel, call, done, failed) {
    var scope = button.closest('tr') || button.parentNode;
    var buttons = scope ? scope.querySelectorAll('button') : [button];
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    var label = button.textContent;
    button.textContent = busyLabel;
    try {
      var answer = await call();
      setActionError(null);
      done(answer);
    } catch (err) {
      setActionError(failed + ' failed: ' + (err && err.message ? err.message : err));
    } finally {
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
      button.textContent = label;
      state.rendered = {};
      refresh();
    }
  }

  /* Pause, resume, limit or unlimit the goal a button names. */
  function runGoalAction(button, action) {
    var ns = button.getAttribute('data-namespace');
    var goal = button.getAttribute('data-goal');
    var verb = action.slice('goal-'.length);
    var body = null;
    if (verb === 'limit' || verb === 'unlimit') {
      var input = button.parentNode.querySelector('input[data-goal-key]');
      var typed = input ? input.value.trim() : '';
      if (verb === 'limit' && !/^[1-9][0-9]*$/.test(typed)) {
        setActionError('The limit must be a whole number of at least 1.');
        return;
      }
      body = {max_claimed: verb === 'limit' ? Number(typed) : null};
      verb = 'limit';
    }
    var path = '/admin/goals/' + encodeURIComponent(ns) + '/' + encodeURIComponent(goal) + '/' + verb;
    act(button, 'Saving…', function () { return request('POST', path, body); },
        function (answer) {
          var input = button.parentNode && button.parentNode.querySelector('input[data-goal-key]');
          if (input) input.value = '';
          showNotice(ns + '/' + goal + ': ' + (answer.paused ? 'paused' : 'running') + ', ' +
                     (typeof answer.max_claimed === 'number' ? 'at most ' + answer.max_claimed +
                      ' claimed at once.' : 'no limit.'));
        }, 'Changing the goal');
  }

  /* Pause or resume the schedule a button names (reversible, like a
   * goal's pause: no confirmation). */
  function runScheduleAction(button, action) {
    var name = button.getAttribute('data-schedule');
    var verb = action === 'schedule-pause' ? 'pause' : 'resume';
    act(button, verb === 'pause' ? 'Pausing…' : 'Resuming…',
        function () {
          return request('POST', '/admin/schedules/' + encodeURIComponent(name) + '/' + verb);
        },
        function (answer) {
          showNotice('Schedule ' + name + ': ' + (answer && answer.paused ? 'paused.' : 'running.'));
        }, verb === 'pause' ? 'Pausing the schedule' : 'Resuming the schedule');
  }

  function runAction(button) {
    var action = button.getAttribute('data-action');
    if (action && action.indexOf('goal-') === 0) {
      runGoalAction(button, action);
      return;
    }
    if (action === 'schedule-pause' || action === 'schedule-resume') {
      runScheduleAction(button, action);
      return;
    }
    if (action === 'revoke') {
      var keyId = button.getAttribute('data-key-id');
      if (!keyId || !window.confirm('Revoke the tester key ' + keyId + '? Its owner gets 401 from now on.'))
        return;
      act(button, 'Revoking…', function () { return request('POST', '/admin/revoke_key', {key_id: keyId}); },
          function (answer) { showNotice('Revoked the key of ' + (answer && answer.owner) + '.'); },
          'Revoke');
      return;
    }
    var id = button.getAttribute('data-intent-id');
    if ((action !== 'retry' && action !== 'cancel') || !id) return;
    act(button, action === 'retry' ? 'Retrying…' : 'Cancelling…',
        function () { return request('POST', '/admin/intents/' + encodeURIComponent(id) + '/' + action); },
        function (answer) {
          showNotice((action === 'retry' ? 'Re-queued' : 'Cancelled') + ' intent ' + id +
                     (answer && answer.status ? ' (now ' + answer.status + ').' : '.'));
        },
        action === 'retry' ? 'Retry' : 'Cancel');
  }

  function formValues(form) {
    var values = {};
    Array.prototype.forEach.call(form.elements, function (input) {
      if (input.name && input.value.trim() !== '') values[input.name] = input.value.trim();
    });
    return values;
  }

  function describe(filters) {
    var keys = Object.keys(filters);
    return keys.length ? keys.map(function (k) { return k + ' = ' + filters[k]; }).join(', ')
                       : 'every dead letter';
  }

  function bulk(button, purge) {
    var filters = formValues(byId('dead-filter'));
    var what = purge ? 'Delete' : 'Retry';
    if (!window.confirm(what + ' all dead letters matching: ' + describe(filters) + '?' +
                        (purge ? ' They cannot be brought back.' : ''))) return;
    var body = Object.assign({confirm: true}, filters);
    act(button, purge ? 'Purging…' : 'Retrying…',
        function () { return request('POST', purge ? '/admin/dead/purge' : '/admin/dead/retry', body); },
        function (answer) {
          showNotice(purge ? 'Purged ' + count(answer && answer.purged) + ' dead letters.'
                           : 'Re-queued ' + count(answer && answer.retried) + ' dead letters.');
        }, what);
  }

  function generateKey(event) {
    event.preventDefault();
    var owner = byId('k-owner').value.trim();
    if (!owner) return;
    act(byId('key-generate'), 'Generating…',
        function () { return request('POST', '/admin/generate_key', {owner: owner}); },
        function (answer) {
          byId('new-key-owner').textContent = answer.owner;
          byId('new-key-value').textContent = answer.api_key;
          byId('new-key').hidden = false;
          byId('k-owner').value = '';
        }, 'Generating a key');
  }

  function searchJobs(event) {
    event.preventDefault();
    state.jobsQuery = formValues(byId('jobs-filter'));
    state.jobsBefore = [];
    state.rendered = {};
    refresh();
  }

  async function whoami() {
    try {
      var me = await request('GET', '/admin/whoami');
      var readOnly = !me || me.may_act !== true;
      document.body.classList.toggle('read-only', readOnly);
      byId('role').hidden = !readOnly;
    } catch (err) {
      /* the refresh loop reports what fails */
    }
  }

  function start() {
    document.addEventListener('click', function (event) {
      var target = event.target;
      var held = target && target.closest ? target.closest('a[data-worker]') : null;
      if (held) { /* the jobs a worker holds: the Jobs page, filtered */
        byId('jobs-filter').reset();
        byId('f-worker').value = held.getAttribute('data-worker');
        byId('f-state').value = 'claimed';
        state.jobsQuery = formValues(byId('jobs-filter'));
        state.jobsBefore = [];
      }
      var button = target && target.closest ? target.closest('button[data-action]') : null;
      if (button && !button.disabled) runAction(button);
    });
    byId('jobs-filter').addEventListener('submit', searchJobs);
    byId('jobs-clear').addEventListener('click', function () {
      byId('jobs-filter').reset();
      searchJobs(new Event('submit'));
    });
    byId('jobs-next').addEventListener('click', function () {
      if (state.jobsNext === null) return;
      state.jobsBefore.push(state.jobsNext);
      refresh();
    });
    byId('jobs-first').addEventListener('click', function () {
      state.jobsBefore = [];
      refresh();
    });
    byId('dead-filter').addEventListener('submit', function (event) {
      event.preventDefault();
      state.deadQuery = formValues(byId('dead-filter'));
      refresh();
    });
    byId('dead-retry-all').addEventListener('click', function () { bulk(this, false); });
    byId('dead-purge-all').addEventListener('click', function () { bulk(this, true); });
    byId('key-form').addEventListener('submit', generateKey);
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
    window.addEventListener('hashchange', function () {
      readRoute();
      refresh();
    });
    readRoute();
    whoami();
    refresh();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
}());
