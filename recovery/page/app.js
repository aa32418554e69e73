// The operator page of mnemo serve (docs/serve.md, "Operator page").
//
// Plain JavaScript, no framework, no build step: recovery/serve_page.c
// serves this file as it is. Every call to the server carries the bearer
// token the operator pasted (kept in sessionStorage, never in a URL).
// Everything that comes from the server is shown through textContent or
// drawn on a canvas, never written as markup; the page's
// Content-Security-Policy allows no inline script or style anyway.
'use strict';

(() => {
	const TOKEN_KEY = 'mnemo.serve.token';
	const POLL_MS = 2000;      // /metrics and the open actor's state
	const POINTS = 90;         // chart history: 3 minutes at POLL_MS
	const PAGE = 50;           // actors a page
	const SCAN_PAGE = 500;     // actors a request while searching
	const SCAN_PAGES = 20;     // requests a search makes at most
	const EVENTS_KEPT = 200;   // events shown for an actor

	const $ = (id) => document.getElementById(id);
	let token = sessionStorage.getItem(TOKEN_KEY) || '';
	let timers = [];

	// ---- small helpers --------------------------------------------------

	function el(tag, cls, text) {
		const e = document.createElement(tag);
		if (cls)
			e.className = cls;
		if (text !== undefined && text !== null)
			e.textContent = String(text);
		return e;
	}

	function clear(node) {
		while (node.firstChild)
			node.removeChild(node.firstChild);
	}

	function say(id, text) {
		$(id).textContent = text || '';
	}

	function fmtNum(v) {
		if (!isFinite(v))
			return '-';
		if (Math.abs(v) >= 100 || Number.isInteger(v))
			return Math.round(v).toLocaleString('en-US');
		return v.toFixed(Math.abs(v) >= 10 ? 1 : 2);
	}

	function fmtBytes(v) {
		const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
		let i = 0;
		while (v >= 1024 && i < units.length - 1) {
			v /= 1024;
			i++;
		}
		return (i ? v.toFixed(1) : String(v)) + ' ' + units[i];
	}

	// A key in a path: the tool's form as it is, except a key holding a
	// '/' (the server reads those as 0x and hex digits only).
	function keyPath(key) {
		if (!key.includes('/'))
			return encodeURIComponent(key);
		let hex = '0x';
		for (const b of new TextEncoder().encode(key))
			hex += b.toString(16).padStart(2, '0');
		return hex;
	}

	function actorPath(kind, key) {
		return '/v1/actors/' + encodeURIComponent(kind) + '/' + keyPath(key);
	}

	function base64(text) {
		let bin = '';
		for (const b of new TextEncoder().encode(text))
			bin += String.fromCharCode(b);
		return btoa(bin);
	}

	// ---- the server -------------------------------------------------------

	class HttpError extends Error {
		constructor(status, body) {
			const what = body && body.error
				? body.error + (body.code ? ' (' + body.code + ')' : '')
				: 'HTTP ' + status;
			super(status + ': ' + what);
			this.status = status;
			this.code = body && body.code;
		}
	}

	// A route that this server does not have (an older or newer server):
	// 404 "no such route" or 501, not a missing actor or kind.
	function isMissingRoute(e) {
		return e instanceof HttpError &&
			((e.status === 404 && e.code !== 'MN_ENOACTOR' &&
			  e.code !== 'MN_ENOKIND') || e.status === 501);
	}

	async function api(path, opts) {
		opts = opts || {};
		const headers = Object.assign({}, opts.headers || {});
		headers.Authorization = 'Bearer ' + token;
		if (opts.body !== undefined)
			headers['Content-Type'] = 'application/json';
		const r = await fetch(path, {
			method: opts.method || 'GET',
			headers: headers,
			body: opts.body,
			cache: 'no-store',
			credentials: 'omit',
			signal: opts.signal,
		});
		if (r.status === 401 && token) {
			signOut('the server refused the token (401)');
			throw new HttpError(401, null);
		}
		return r;
	}

	// The JSON body of r, or null when it has none.
	async function bodyJson(r) {
		try {
			return await r.json();
		} catch (e) {
			return null;
		}
	}

	async function apiJson(path, opts) {
		const r = await api(path, opts);
		const body = await bodyJson(r);
		if (!r.ok)
			throw new HttpError(r.status, body);
		return body;
	}

	// ---- sign in ----------------------------------------------------------

	function showApp(on) {
		$('login').hidden = on;
		$('app').hidden = !on;
		$('logout').hidden = !on;
		say('status', on ? 'signed in' : 'not signed in');
	}

	function stopAll() {
		for (const t of timers)
			clearInterval(t);
		timers = [];
		closeActor();
	}

	function signOut(why) {
		token = '';
		sessionStorage.removeItem(TOKEN_KEY);
		stopAll();
		showApp(false);
		say('login-error', why || '');
	}

	async function signIn(candidate) {
		token = candidate;
		try {
			await apiJson('/v1/actors?limit=1');
		} catch (e) {
			token = '';
			say('login-error', e.status === 401
				? 'this token is not accepted'
				: 'cannot reach the server: ' + e.message);
			return;
		}
		sessionStorage.setItem(TOKEN_KEY, token);
		say('login-error', '');
		showApp(true);
		start();
	}

	function start() {
		metrics.reset();
		pollMetrics();
		timers.push(setInterval(pollMetrics, POLL_MS));
		timers.push(setInterval(() => {
			if (current)
				refreshState();
		}, POLL_MS));
		list.reset();
		loadList();
	}

	// ---- metrics: totals and rates ----------------------------------------

	// The Prometheus text format: "name{labels} value" lines, '#' lines
	// are comments. Returns name -> sum of its samples over all labels.
	function parseMetrics(text) {
		const sums = new Map();
		for (const line of text.split('\n')) {
			if (!line || line[0] === '#')
				continue;
			const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
			if (!m)
				continue;
			const v = Number(m[3]);
			if (!isFinite(v))
				continue;
			sums.set(m[1], (sums.get(m[1]) || 0) + v);
		}
		return sums;
	}

	const TOTALS = [
		['mnemo_messages_processed_total', 'messages processed'],
		['mnemo_messages_sent_total', 'messages sent'],
		['mnemo_commit_groups_total', 'commit groups'],
		['mnemo_journaled_total', 'journal entries'],
		['mnemo_actors_resident', 'actors resident'],
		['mnemo_evictions_total', 'evictions'],
		['mnemo_calls_pending', 'calls pending'],
		['mnemo_handler_errors_total', 'handler errors'],
		['mnemo_http_requests_total', 'HTTP requests'],
		['mnemo_serve_waiting_requests', 'requests waiting'],
		['mnemo_store_bytes', 'store size', fmtBytes],
	];

	// Each chart: a rate of a counter, or a gauge as it is.
	const CHARTS = [
		{id: 'processed', metric: 'mnemo_messages_processed_total', rate: true},
		{id: 'commits', metric: 'mnemo_commit_groups_total', rate: true},
		{id: 'http', metric: 'mnemo_http_requests_total', rate: true},
		{id: 'resident', metric: 'mnemo_actors_resident', rate: false},
	];

	const metrics = {
		last: null,
		lastAt: 0,
		series: {},
		busy: false,
		reset() {
			this.last = null;
			this.lastAt = 0;
			for (const c of CHARTS)
				this.series[c.id] = [];
		},
	};

	function renderTotals(sums) {
		const box = $('totals');
		clear(box);
		for (const [name, label, fmt] of TOTALS) {
			if (!sums.has(name))
				continue;
			const d = el('div', 'total');
			d.dataset.metric = name;
			d.appendChild(el('span', 'v', (fmt || fmtNum)(sums.get(name))));
			d.appendChild(el('span', 'k', label));
			box.appendChild(d);
		}
	}

	async function pollMetrics() {
		if (metrics.busy)
			return;
		metrics.busy = true;
		try {
			const r = await api('/metrics');
			if (!r.ok)
				throw new HttpError(r.status, null);
			const sums = parseMetrics(await r.text());
			const now = performance.now();
			renderTotals(sums);
			for (const c of CHARTS) {
				const s = metrics.series[c.id];
				let v = null;
				if (!c.rate)
					v = sums.get(c.metric) || 0;
				else if (metrics.last)
					v = Math.max(0, ((sums.get(c.metric) || 0) -
						(metrics.last.get(c.metric) || 0)) /
						((now - metrics.lastAt) / 1000));
				if (v !== null) {
					s.push(v);
					if (s.length > POINTS)
						s.shift();
					say('r-' + c.id, fmtNum(v));
				}
				drawChart($('c-' + c.id), s);
			}
			metrics.last = sums;
			metrics.lastAt = now;
			const draining = sums.get('mnemo_serve_draining');
			say('status', (draining ? 'draining' : 'signed in') +
				', updated ' + new Date().toLocaleTimeString('en-GB'));
			say('metrics-error', '');
		} catch (e) {
			if (token)
				say('metrics-error', 'metrics: ' + e.message);
		} finally {
			metrics.busy = false;
		}
	}

	// A small line chart on a canvas, sized to its box (and the screen's
	// pixel ratio), the newest value at the right.
	function drawChart(cv, values) {
		const ratio = window.devicePixelRatio || 1;
		const w = Math.max(1, Math.round(cv.clientWidth * ratio));
		const h = Math.max(1, Math.round(cv.clientHeight * ratio));
		if (cv.width !== w || cv.height !== h) {
			cv.width = w;
			cv.height = h;
		}
		cv.dataset.points = String(values.length);
		const g = cv.getContext('2d');
		g.clearRect(0, 0, w, h);
		const pad = 4 * ratio;
		const max = Math.max(1, ...values);
		g.strokeStyle = '#dde1e7';
		g.lineWidth = 1;
		g.beginPath();
		g.moveTo(0, h - pad);
		g.lineTo(w, h - pad);
		g.stroke();
		g.fillStyle = '#687385';
		g.font = (10 * ratio) + 'px "DejaVu Sans", sans-serif';
		g.textBaseline = 'top';
		g.fillText('max ' + fmtNum(max), pad, pad);
		if (values.length < 2)
			return;
		// The first minute spreads over the width; then the window
		// grows to POINTS and scrolls.
		const span = Math.min(POINTS, Math.max(values.length, 30));
		const step = (w - 2 * pad) / (span - 1);
		const x0 = w - pad - (values.length - 1) * step;
		const y = (v) => h - pad - (v / max) * (h - 2 * pad - 12 * ratio);
		g.beginPath();
		g.moveTo(x0, h - pad);
		values.forEach((v, i) => g.lineTo(x0 + i * step, y(v)));
		g.lineTo(x0 + (values.length - 1) * step, h - pad);
		g.closePath();
		g.fillStyle = 'rgba(37, 99, 235, 0.15)';
		g.fill();
		g.beginPath();
		values.forEach((v, i) => {
			if (i)
				g.lineTo(x0 + i * step, y(v));
			else
				g.moveTo(x0, y(v));
		});
		g.strokeStyle = '#2563eb';
		g.lineWidth = 1.5 * ratio;
		g.stroke();
	}

	// ---- actors by kind, search, paging -------------------------------------

	const list = {
		after: 0,
		next: null,
		kinds: new Set(),
		reset() {
			this.after = 0;
			this.next = null;
		},
	};

	function kindOf(a) {
		const slash = a.address.indexOf('/');
		return slash < 0 ? '' : a.address.slice(0, slash);
	}

	function renderRows(actors) {
		const body = $('actor-rows');
		clear(body);
		for (const a of actors) {
			const kind = kindOf(a);
			const tr = el('tr');
			tr.dataset.kind = kind;
			tr.dataset.key = a.key;
			tr.appendChild(el('td', 'addr', a.address));
			tr.appendChild(el('td', null, a.id));
			tr.appendChild(el('td', null, a.last_seq));
			tr.appendChild(el('td', null, a.last_active));
			tr.addEventListener('click', () => openActor(kind, a.key));
			if (current && current.kind === kind && current.key === a.key)
				tr.classList.add('selected');
			body.appendChild(tr);
			if (kind && !list.kinds.has(kind)) {
				list.kinds.add(kind);
				$('kinds').appendChild(el('option', null, kind));
			}
		}
	}

	// One page, or with a search text the pages from list.after until
	// PAGE matches or SCAN_PAGES requests: the key filter runs here, the
	// server filters by kind only.
	async function loadList() {
		const kind = $('kind').value.trim();
		const needle = $('search').value.trim();
		let after = list.after;
		const found = [];
		let pages = 0;
		let next = null;
		say('list-error', '');
		try {
			for (;;) {
				const q = '/v1/actors?kind=' + encodeURIComponent(kind) +
					'&after=' + after + '&limit=' +
					(needle ? SCAN_PAGE : PAGE);
				const page = await apiJson(q);
				pages++;
				for (const a of page.actors)
					if (!needle || a.key.includes(needle) ||
					    a.address.includes(needle))
						found.push(a);
				next = page.next;
				if (!needle || next === null || found.length >= PAGE ||
				    pages >= SCAN_PAGES)
					break;
				after = next;
			}
		} catch (e) {
			say('list-error', 'actors: ' + e.message);
			return;
		}
		list.next = next;
		renderRows(found);
		$('more').disabled = next === null;
		$('first').disabled = list.after === 0;
		say('list-info', found.length + (found.length === 1 ? ' actor' : ' actors') +
			(needle ? ' matching' : '') +
			(list.after ? ' after id ' + list.after : '') +
			(next === null ? '' : ', more'));
	}

	// ---- one actor ----------------------------------------------------------

	let current = null; // {kind, key, path, events, history, state}

	function closeActor() {
		if (current && current.events)
			current.events.abort();
		current = null;
		$('actor').hidden = true;
	}

	function openActor(kind, key) {
		closeActor();
		current = {kind: kind, key: key, path: actorPath(kind, key),
			   stateText: null, historyNext: null, events: null,
			   eventsOn: true, stateBusy: false, historyMissing: false,
			   historyGen: 0};
		$('actor').hidden = false;
		say('actor-name', kind + '/' + key);
		clear($('actor-meta'));
		say('actor-state', 'loading...');
		say('state-seq', '');
		say('actor-error', '');
		say('send-result', '');
		clear($('events'));
		clear($('history'));
		$('history-more').hidden = true;
		$('events-toggle').disabled = false;
		for (const tr of $('actor-rows').children)
			tr.classList.toggle('selected',
				tr.dataset.kind === kind && tr.dataset.key === key);
		refreshState();
		loadHistory(true);
		startEvents();
	}

	const META = ['id', 'last_seq', 'last_lsn', 'created', 'last_active',
		      'fork_parent_id', 'fork_seq'];

	async function refreshState() {
		const cur = current;
		if (!cur || cur.stateBusy)
			return;
		cur.stateBusy = true;
		try {
			const a = await apiJson(cur.path);
			if (cur !== current)
				return;
			const dl = $('actor-meta');
			clear(dl);
			for (const k of META)
				if (a[k] !== undefined) {
					dl.appendChild(el('dt', null, k));
					dl.appendChild(el('dd', null, a[k]));
				}
			let text;
			if (a.state_json !== undefined)
				text = JSON.stringify(a.state_json, null, 2);
			else if (typeof a.state === 'string')
				text = a.state;
			else
				text = '(no live view' + (a.state_error ? ': ' + a.state_error : '') + ')';
			const pre = $('actor-state');
			if (text !== cur.stateText) {
				pre.textContent = text;
				if (cur.stateText !== null) {
					pre.classList.remove('flash');
					void pre.offsetWidth; // restart the animation
					pre.classList.add('flash');
					// A new state: new journal entries too.
					if (!cur.historyMissing)
						loadHistory(true);
				}
				cur.stateText = text;
			}
			say('state-seq', a.seq !== undefined ? 'seq ' + a.seq : '');
			say('actor-error', '');
		} catch (e) {
			if (cur === current) {
				say('actor-error', e.status === 404
					? 'no such actor (it exists once it has handled a message)'
					: 'state: ' + e.message);
				if (cur.stateText === null)
					say('actor-state', '');
			}
		} finally {
			cur.stateBusy = false;
		}
	}

	async function sendMessage() {
		const cur = current;
		if (!cur)
			return;
		const type = Number($('send-type').value);
		const text = $('send-body').value;
		const msg = {type: type};
		if (!Number.isInteger(type) || type < 0 || type > 4294967295) {
			say('send-result', 'type must be an integer 0..4294967295');
			return;
		}
		if (text.trim() !== '') {
			if ($('send-asjson').checked) {
				try {
					msg.json = JSON.parse(text);
				} catch (e) {
					say('send-result', 'the payload is not JSON (untick "body is JSON" to send text)');
					return;
				}
			} else {
				msg.payload = base64(text);
			}
		}
		const path = cur.path + '/messages' + ($('send-durable').checked ? '?durable=1' : '');
		say('send-result', 'sending...');
		try {
			const r = await api(path, {method: 'POST', body: JSON.stringify(msg)});
			if (!r.ok)
				throw new HttpError(r.status, await bodyJson(r));
			say('send-result', r.status + (r.status === 201 ? ' stored' : ' accepted'));
			setTimeout(refreshState, 150);
		} catch (e) {
			say('send-result', 'not sent: ' + e.message);
		}
	}

	// History: {"entries": [...], "next": FROM or null}, oldest first.
	// An entry is a message as the API writes one (type, payload_base64,
	// json when the bytes are JSON) with its seq, time, sender, flags and
	// calls; fields the page does not know are shown as JSON.
	function payloadText(e) {
		if (e.json !== undefined)
			return JSON.stringify(e.json);
		if (typeof e.payload_base64 !== 'string' || !e.payload_base64)
			return '';
		try {
			const bytes = Uint8Array.from(atob(e.payload_base64), (c) => c.charCodeAt(0));
			return JSON.stringify(new TextDecoder('utf-8', {fatal: true}).decode(bytes));
		} catch (err) {
			return 'base64 ' + e.payload_base64;
		}
	}

	const SHOWN = ['seq', 'time', 'sender', 'type', 'json', 'payload_base64',
		       'flags', 'calls', 'lsn', 'unix_ms', 'sender_id', 'state_hash'];

	function entryCells(e) {
		let what = e.type !== undefined ? 'type ' + e.type : '';
		if (e.flags)
			what += ' [' + e.flags + ']';
		const text = payloadText(e);
		if (text)
			what += ' ' + text;
		if (Array.isArray(e.calls) && e.calls.length)
			what += ', ' + e.calls.length + (e.calls.length === 1 ? ' call' : ' calls');
		const rest = {};
		for (const k of Object.keys(e))
			if (!SHOWN.includes(k))
				rest[k] = e[k];
		if (Object.keys(rest).length)
			what += ' ' + JSON.stringify(rest);
		// An ISO time as its hh:mm:ss (the date is in the metadata).
		const t = typeof e.time === 'string' && /^\d{4}-\d\d-\d\dT/.test(e.time)
			? e.time.slice(11, 19) : (e.time || '');
		return [e.seq !== undefined ? e.seq : '', t, e.sender || '',
			what.slice(0, 400)];
	}

	async function loadHistory(first) {
		const cur = current;
		const box = $('history');
		// The newest load wins (a reload after a state change may cross
		// a "More").
		const gen = ++cur.historyGen;
		if (first && !box.firstChild)
			box.appendChild(el('p', 'muted', 'loading...'));
		let q = cur.path + '/history?limit=50';
		if (!first && cur.historyNext !== null)
			q += '&from=' + encodeURIComponent(cur.historyNext);
		try {
			const h = await apiJson(q);
			if (cur !== current || gen !== cur.historyGen)
				return;
			if (first)
				clear(box);
			const entries = Array.isArray(h.entries) ? h.entries : [];
			if (first && !entries.length)
				box.appendChild(el('p', 'muted', 'no entries'));
			let table = box.querySelector('table');
			if (!table && entries.length) {
				table = el('table', 'history');
				const head = el('tr');
				for (const t of ['seq', 'time', 'from', 'message'])
					head.appendChild(el('th', null, t));
				table.appendChild(el('thead')).appendChild(head);
				table.appendChild(el('tbody'));
				box.appendChild(table);
			}
			for (const e of entries) {
				const tr = el('tr');
				const cells = entryCells(e);
				cells.forEach((c, i) => tr.appendChild(el('td', i === 3 ? 'addr' : null, c)));
				table.tBodies[0].appendChild(tr);
			}
			cur.historyNext = h.next === undefined ? null : h.next;
			$('history-more').hidden = cur.historyNext === null;
		} catch (e) {
			if (cur !== current || gen !== cur.historyGen)
				return;
			cur.historyMissing = isMissingRoute(e);
			clear(box);
			box.appendChild(el('p', 'muted', isMissingRoute(e)
				? 'not available on this server (no history route)'
				: 'history: ' + e.message));
			$('history-more').hidden = true;
		}
	}

	// Live events: server-sent events read through fetch() and a stream
	// reader, since EventSource cannot send the Authorization header.
	function addEvent(name, data) {
		const ol = $('events');
		const li = el('li');
		li.appendChild(el('span', 'ev', new Date().toLocaleTimeString('en-GB') + ' ' + name));
		li.appendChild(document.createTextNode(data));
		ol.insertBefore(li, ol.firstChild);
		while (ol.children.length > EVENTS_KEPT)
			ol.removeChild(ol.lastChild);
	}

	function parseEvent(block) {
		let name = 'message';
		const data = [];
		for (const line of block.split(/\r?\n/)) {
			if (!line || line[0] === ':')
				continue;
			const colon = line.indexOf(':');
			const field = colon < 0 ? line : line.slice(0, colon);
			let value = colon < 0 ? '' : line.slice(colon + 1);
			if (value[0] === ' ')
				value = value.slice(1);
			if (field === 'event')
				name = value;
			else if (field === 'data')
				data.push(value);
		}
		return data.length ? {name: name, data: data.join('\n')} : null;
	}

	async function startEvents() {
		const cur = current;
		if (!cur || !cur.eventsOn)
			return;
		const ctl = new AbortController();
		cur.events = ctl;
		$('events-toggle').textContent = 'Stop';
		say('events-status', 'connecting...');
		try {
			const r = await api(cur.path + '/events', {
				signal: ctl.signal,
				headers: {Accept: 'text/event-stream'},
			});
			if (!r.ok)
				throw new HttpError(r.status, await bodyJson(r));
			say('events-status', 'connected');
			const reader = r.body.getReader();
			const dec = new TextDecoder();
			let buf = '';
			for (;;) {
				const {value, done} = await reader.read();
				if (done)
					break;
				buf += dec.decode(value, {stream: true});
				let m;
				while ((m = /\r?\n\r?\n/.exec(buf))) {
					const block = buf.slice(0, m.index);
					buf = buf.slice(m.index + m[0].length);
					const ev = parseEvent(block);
					if (ev && cur === current) {
						addEvent(ev.name, ev.data);
						refreshState();
					}
				}
			}
			if (cur === current && cur.eventsOn) {
				say('events-status', 'stream ended; reconnecting in 3 s');
				setTimeout(() => {
					if (cur === current)
						startEvents();
				}, 3000);
			}
		} catch (e) {
			if (ctl.signal.aborted || cur !== current)
				return;
			say('events-status', isMissingRoute(e)
				? 'not available on this server (no event stream route)'
				: 'events: ' + e.message);
			if (isMissingRoute(e))
				$('events-toggle').disabled = true;
		}
	}

	function toggleEvents() {
		const cur = current;
		if (!cur)
			return;
		cur.eventsOn = !cur.eventsOn;
		if (cur.eventsOn) {
			startEvents();
		} else {
			if (cur.events)
				cur.events.abort();
			cur.events = null;
			$('events-toggle').textContent = 'Start';
			say('events-status', 'stopped');
		}
	}

	// ---- wiring -------------------------------------------------------------

	function init() {
		$('login-form').addEventListener('submit', (ev) => {
			ev.preventDefault();
			const t = $('token').value.trim();
			$('token').value = '';
			if (t)
				signIn(t);
		});
		$('logout').addEventListener('click', () => signOut(''));
		$('search-form').addEventListener('submit', (ev) => {
			ev.preventDefault();
			list.reset();
			loadList();
		});
		$('more').addEventListener('click', () => {
			if (list.next === null)
				return;
			list.after = list.next;
			loadList();
		});
		$('first').addEventListener('click', () => {
			list.reset();
			loadList();
		});
		$('open-form').addEventListener('submit', (ev) => {
			ev.preventDefault();
			openActor($('open-kind').value.trim(), $('open-key').value.trim());
		});
		$('send-form').addEventListener('submit', (ev) => {
			ev.preventDefault();
			sendMessage();
		});
		$('history-more').addEventListener('click', () => loadHistory(false));
		$('events-toggle').addEventListener('click', toggleEvents);
		if (token)
			signIn(token);
		else
			showApp(false);
	}

	init();
})();
