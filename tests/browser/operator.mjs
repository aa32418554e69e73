// operator.mjs - the operator page of `mnemo serve` in a real browser
// (scripts/test-browser, `make test-browser`).
//
// Drives Debian's headless chromium over the DevTools protocol on a pipe
// (--remote-debugging-pipe: JSON messages ending in a NUL byte, chromium
// reading fd 3 and writing fd 4), with Node.js built-ins only: no npm.
// Against a running serve with the demo's kinds (build/bin/agents.so):
// seeds actors over the API, loads the page, signs in with the token,
// searches for an actor, opens it, sees its state, sends a message over
// the API and sees the state change, sends one through the page's form and
// sees it too, checks that text from the server is never markup and that
// the Content-Security-Policy is enforced, then saves a screenshot.
//
// Environment: MNEMO_URL (http://127.0.0.1:PORT), MNEMO_TOKEN, SCREENSHOT
// (the PNG to write), CHROMIUM (default /usr/bin/chromium), PROFILE_DIR (a
// fresh --user-data-dir), CHROMIUM_PID_FILE (where chromium's pid goes, so
// the calling script can kill its process group on any exit),
// BROWSER_TIMEOUT_MS (default 45000). Exit 0 on success, 1 with the reason
// on stderr otherwise.

import {spawn} from 'node:child_process';
import {writeFileSync} from 'node:fs';

const env = process.env;
const base = env.MNEMO_URL;
const token = env.MNEMO_TOKEN;
const shot = env.SCREENSHOT;
const chromiumPath = env.CHROMIUM || '/usr/bin/chromium';
const deadline = Date.now() + Number(env.BROWSER_TIMEOUT_MS || 45000);
const t0 = Date.now();

if (!base || !token || !shot || !env.PROFILE_DIR) {
	console.error('operator.mjs: MNEMO_URL, MNEMO_TOKEN, SCREENSHOT and PROFILE_DIR are required');
	process.exit(2);
}

function log(msg) {
	console.log(`browser: ${((Date.now() - t0) / 1000).toFixed(1)}s ${msg}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- chromium -----------------------------------------------------------

const chromium = spawn(chromiumPath, [
	'--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
	'--no-first-run', '--disable-background-networking',
	'--disable-component-update', '--disable-sync',
	'--disable-dev-shm-usage', '--no-default-browser-check',
	'--window-size=1280,1000', '--remote-debugging-pipe',
	`--user-data-dir=${env.PROFILE_DIR}`, 'about:blank',
], {stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true});
if (env.CHROMIUM_PID_FILE)
	writeFileSync(env.CHROMIUM_PID_FILE, String(chromium.pid) + '\n');
let chromiumErr = '';
chromium.stderr.on('data', (d) => {
	chromiumErr = (chromiumErr + d.toString()).slice(-4000);
});
let chromiumExited = false;
chromium.on('exit', () => {
	chromiumExited = true;
});

// chromium and its helpers are one process group (detached): gone on
// every exit path of this script.
function killChromium() {
	if (chromiumExited)
		return;
	try {
		process.kill(-chromium.pid, 'SIGKILL');
	} catch (e) {
		// already gone
	}
}
process.on('exit', killChromium);

function fail(why) {
	console.error(`browser: FAILED: ${why}`);
	if (chromiumErr)
		console.error(`browser: chromium's stderr (end):\n${chromiumErr}`);
	killChromium();
	process.exit(1);
}
process.on('unhandledRejection', (e) => fail(e && e.stack ? e.stack : String(e)));
setTimeout(() => fail('out of time'), deadline - Date.now()).unref();

// ---- the DevTools protocol over the pipe ------------------------------------

class Cdp {
	constructor(w, r) {
		this.w = w;
		this.id = 0;
		this.pending = new Map();
		this.listeners = [];
		let buf = Buffer.alloc(0);
		r.on('data', (chunk) => {
			buf = Buffer.concat([buf, chunk]);
			let end;
			while ((end = buf.indexOf(0)) >= 0) {
				const msg = JSON.parse(buf.subarray(0, end).toString('utf8'));
				buf = buf.subarray(end + 1);
				this.dispatch(msg);
			}
		});
		r.on('close', () => {
			for (const p of this.pending.values())
				p.reject(new Error(`${p.method}: chromium closed the pipe`));
			this.pending.clear();
		});
	}

	dispatch(msg) {
		if (msg.id === undefined) {
			for (const f of this.listeners)
				f(msg);
			return;
		}
		const p = this.pending.get(msg.id);
		if (!p)
			return;
		this.pending.delete(msg.id);
		if (msg.error)
			p.reject(new Error(`${p.method}: ${msg.error.message}`));
		else
			p.resolve(msg.result);
	}

	send(method, params, sessionId) {
		const id = ++this.id;
		const msg = {id: id, method: method, params: params || {}};
		if (sessionId)
			msg.sessionId = sessionId;
		return new Promise((resolve, reject) => {
			this.pending.set(id, {resolve: resolve, reject: reject, method: method});
			this.w.write(JSON.stringify(msg) + '\0');
		});
	}
}

const cdp = new Cdp(chromium.stdio[3], chromium.stdio[4]);
let session = null;
const page = (method, params) => cdp.send(method, params, session);

// Problems the page reports: a script exception or a refused resource
// (a Content-Security-Policy violation) fails the test; the 404s of
// routes this server lacks are expected and only logged.
const problems = [];
cdp.listeners.push((m) => {
	if (m.method === 'Runtime.exceptionThrown') {
		const d = m.params.exceptionDetails;
		problems.push(`exception: ${d.exception ? d.exception.description : d.text}`);
	} else if (m.method === 'Runtime.consoleAPICalled' && m.params.type === 'error') {
		problems.push(`console.error: ${m.params.args.map((a) => a.value).join(' ')}`);
	} else if (m.method === 'Log.entryAdded') {
		const e = m.params.entry;
		if (e.source === 'security' || /Content Security Policy/i.test(e.text))
			problems.push(`security: ${e.text}`);
		else if (e.level === 'error')
			log(`(page log: ${e.text}${e.url ? ' ' + e.url : ''})`);
	}
});

async function evaluate(expr) {
	const r = await page('Runtime.evaluate', {
		expression: expr, returnByValue: true, awaitPromise: true,
	});
	if (r.exceptionDetails)
		throw new Error(`evaluating ${expr}: ${r.exceptionDetails.exception
			? r.exceptionDetails.exception.description : r.exceptionDetails.text}`);
	return r.result.value;
}

// Poll expr in the page until it is truthy (its value) or time runs out.
async function waitFor(what, expr, ms) {
	const until = Math.min(deadline - 1000, Date.now() + (ms || 15000));
	let last;
	while (Date.now() < until) {
		last = await evaluate(expr);
		if (last)
			return last;
		await sleep(100);
	}
	throw new Error(`waiting for ${what}: still ${JSON.stringify(last)}`);
}

const q = (sel) => JSON.stringify(sel);

// A real click: the mouse pressed and released over the element's centre.
async function click(sel) {
	const at = await evaluate(`(() => {
		const e = document.querySelector(${q(sel)});
		if (!e) return null;
		e.scrollIntoView({block: 'center'});
		const r = e.getBoundingClientRect();
		return {x: r.x + r.width / 2, y: r.y + r.height / 2};
	})()`);
	if (!at)
		throw new Error(`no element ${sel} to click`);
	for (const type of ['mouseMoved', 'mousePressed', 'mouseReleased'])
		await page('Input.dispatchMouseEvent', {
			type: type, x: at.x, y: at.y, button: 'left', clickCount: 1,
		});
}

// Typing: the field emptied and focused, then the text as keyboard input.
async function type(sel, text) {
	await evaluate(`(() => { const e = document.querySelector(${q(sel)});
		e.value = ''; e.focus(); })()`);
	await page('Input.insertText', {text: text});
}

const text = (sel) => `((document.querySelector(${q(sel)}) || {}).textContent || '')`;

// ---- the server ---------------------------------------------------------

async function api(method, path, body) {
	const r = await fetch(base + path, {
		method: method,
		headers: {'Authorization': `Bearer ${token}`, 'Content-Type': 'application/json'},
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	return {status: r.status, body: await r.text()};
}

const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');
const MSG_TURN = 1; // examples/agents: a customer's turn, kept in the state
const KEY = 'customer-0000042';
const TRICKY = '<img src=x onerror=alert(1)>';

async function seed() {
	const keys = [];
	for (let i = 1; i <= 12; i++)
		keys.push(`customer-${String(i * 10 + 1).padStart(7, '0')}`);
	keys.push(KEY, TRICKY);
	for (const k of keys) {
		const r = await api('POST',
			`/v1/actors/support-agent/${encodeURIComponent(k)}/messages?durable=1`,
			{type: MSG_TURN, payload: b64(k === KEY
				? 'turn 1: where is my parcel'
				: 'turn 1: I want a refund')});
		if (r.status !== 201)
			throw new Error(`seeding ${k}: ${r.status} ${r.body}`);
	}
	log(`seeded ${keys.length} support-agent actors (and their supervisors)`);
}

// ---- the test -------------------------------------------------------------

async function main() {
	await seed();

	const {targetId} = await cdp.send('Target.createTarget', {url: 'about:blank'});
	({sessionId: session} = await cdp.send('Target.attachToTarget',
		{targetId: targetId, flatten: true}));
	await page('Runtime.enable');
	await page('Log.enable');
	await page('Page.enable');
	await page('Emulation.setDeviceMetricsOverride',
		{width: 1280, height: 1000, deviceScaleFactor: 1, mobile: false});

	await page('Page.navigate', {url: base + '/'});
	await waitFor('the page to load', `document.readyState === 'complete'`);
	await waitFor('the sign-in form', `!document.getElementById('login').hidden &&
		document.getElementById('app').hidden`);
	log('page loaded, sign-in form shown');

	await type('#token', 'not-the-token');
	await click('#login-form button');
	await waitFor('a wrong token refused', `${text('#login-error')}.includes('not accepted')`);
	await type('#token', token);
	await click('#login-form button');
	await waitFor('the signed-in page', `!document.getElementById('app').hidden`);
	const stored = await evaluate(`sessionStorage.getItem('mnemo.serve.token')`);
	if (stored !== token)
		throw new Error('the token is not in sessionStorage');
	const where = await evaluate('location.href');
	if (where.includes(token))
		throw new Error('the token is in the URL');
	log('signed in (token in sessionStorage, not in the URL)');

	await waitFor('the totals', `Number((${text(
		'[data-metric="mnemo_messages_processed_total"] .v')}).replace(/,/g, '')) > 0`);
	await waitFor('the actor list', `document.querySelectorAll('#actor-rows tr').length >= 14`);
	// The server's text is never markup: the tricky key is a text node.
	const tricky = await evaluate(`(() => {
		const cells = [...document.querySelectorAll('#actor-rows td.addr')];
		return {imgs: document.querySelectorAll('#actor-rows img').length,
			shown: cells.some((c) => c.textContent === 'support-agent/' + ${q(TRICKY)})};
	})()`);
	if (tricky.imgs || !tricky.shown)
		throw new Error(`the key ${TRICKY} was not shown as text: ${JSON.stringify(tricky)}`);
	log('totals and actor list shown; a key holding markup is shown as text');

	await type('#kind', 'support-agent');
	await type('#search', '0000042');
	await click('#search-form button');
	await waitFor(`${KEY} found by the search`, `(() => {
		const rows = [...document.querySelectorAll('#actor-rows tr')];
		return rows.length === 1 && rows[0].dataset.key === ${q(KEY)};
	})()`);
	log(`search found ${KEY}`);

	await click('#actor-rows tr');
	await waitFor('the actor state', `${text('#actor-state')}.includes('turns 1,') &&
		${text('#actor-state')}.includes('where is my parcel')`);
	log(`opened ${KEY}: ${JSON.stringify(await evaluate(text('#actor-state')))}`);

	// A message over the API, from outside the page: the shown state
	// follows (the page polls the open actor every 2 s, or an event
	// refreshes it).
	const sent = await api('POST', `/v1/actors/support-agent/${KEY}/messages`,
		{type: MSG_TURN, payload: b64('turn 2: <b>bold</b> is not markup')});
	if (sent.status !== 202)
		throw new Error(`sending over the API: ${sent.status} ${sent.body}`);
	await waitFor('the state after the API message', `${text('#actor-state')}.includes('turns 2,')`);
	if (await evaluate(`document.querySelectorAll('#actor-state *').length`))
		throw new Error('the state was written as markup');
	log('state changed after a message sent over the API (turns 2)');

	// And through the page's own form (text payload, stored: 201).
	await evaluate(`document.getElementById('send-asjson').checked = false;
		document.getElementById('send-durable').checked = true`);
	await type('#send-type', '1');
	await type('#send-body', 'turn 3: hello from the page');
	await click('#send-form button[type=submit]');
	await waitFor('the form send acknowledged', `${text('#send-result')}.startsWith('201')`);
	await waitFor('the state after the form message', `${text('#actor-state')}.includes('turns 3,') &&
		${text('#actor-state')}.includes('hello from the page')`);
	log('state changed after a message sent from the page (turns 3, 201 stored)');

	const history = await waitFor('the history box', `(() => { const t = ${text('#history')};
		return t && t !== 'loading...' ? t.slice(0, 200) : ''; })()`);
	const events = await waitFor('the events status', `(() => { const t = ${text('#events-status')};
		return t && t !== 'connecting...' ? t : ''; })()`);
	log(`history: ${JSON.stringify(history)}`);
	log(`events: ${JSON.stringify(events)}`);
	// Where the server has the routes, the page must use them: the
	// actor's journal entries listed, its event stream connected.
	if (!history.includes('not available'))
		await waitFor('history entries', `document.querySelectorAll('#history tbody tr').length >= 3`);
	if (!events.includes('not available'))
		await waitFor('the event stream', `${text('#events-status')} === 'connected'`);
	// Some traffic while the charts fill (a point every 2 s): a burst of
	// turns to the other customers, then the charts hold 4 points.
	const burst = (async () => {
		for (let i = 0; i < 120 && Date.now() < deadline - 15000; i++) {
			const k = `customer-${String((i % 12) * 10 + 11).padStart(7, '0')}`;
			await api('POST', `/v1/actors/support-agent/${k}/messages`,
				{type: MSG_TURN, payload: b64(`turn ${i}: where is my parcel`)});
			await sleep(40);
		}
	})();
	await waitFor('4 points in the charts', `[...document.querySelectorAll('canvas')]
		.every((c) => Number(c.dataset.points) >= 4)`, 20000);
	await burst;
	const rates = await evaluate(`['processed', 'commits', 'http', 'resident']
		.map((id) => id + ' ' + document.getElementById('r-' + id).textContent).join(', ')`);
	log(`charts drawn: ${rates}`);

	if (problems.length)
		throw new Error(`the page reported:\n  ${problems.join('\n  ')}`);
	// The policy holds: a string written to an HTML sink throws (Trusted
	// Types). (That reports a violation, so it comes after the check
	// above.)
	const sink = await evaluate(`(() => { try {
		document.createElement('div').innerHTML = '<b>x</b>'; return 'allowed';
	} catch (e) { return e.name; } })()`);
	if (sink !== 'TypeError')
		throw new Error(`innerHTML with a string: ${sink}, not refused`);
	log('Content-Security-Policy enforced: innerHTML with a string throws (Trusted Types)');

	// The screenshot: the whole page, up to 2000 px high.
	const m = await page('Page.getLayoutMetrics');
	const h = Math.min(2000, Math.ceil(m.cssContentSize.height));
	await page('Emulation.setDeviceMetricsOverride',
		{width: 1280, height: h, deviceScaleFactor: 1, mobile: false});
	await sleep(300); // a repaint at the new size (the charts redraw on poll)
	const png = await page('Page.captureScreenshot', {format: 'png'});
	writeFileSync(shot, Buffer.from(png.data, 'base64'));
	log(`screenshot ${shot} (1280x${h})`);

	try {
		await Promise.race([cdp.send('Browser.close'), sleep(3000)]);
	} catch (e) {
		// closing: the pipe may end before the answer
	}
	for (let i = 0; i < 50 && !chromiumExited; i++)
		await sleep(100);
	log('passed');
	process.exit(0);
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
