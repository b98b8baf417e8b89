// Every call the console makes goes through `api` here: ferry's own API,
// with the signed-in token as a bearer token. It turns any dialect's error
// envelope into the API's own message, and a lost connection into a banner
// and retries, so that no page ever shows a blank screen for either.

const TOKEN_KEY = 'ferry.token';

// The token lives in sessionStorage: it survives a reload of the tab
// but not the tab itself, and no other site can read it.
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// An error the API answered (status >= 400, or a TiEM or TubeMQ envelope
// that reports a failure), with the API's own message.
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Each dialect spells its message differently: native problems have
// `detail`, TiEM and Confluent `message`, TubeMQ `errMsg`, EasyQueue a
// header.
function messageOf(body, text, status) {
  if (body && typeof body === 'object') {
    const m = body.detail || body.message || body.errMsg ||
      (body.header && body.header.resultMessage);
    if (m) return String(m);
  }
  return text ? text.slice(0, 300) : `HTTP ${status}`;
}

// Called when the token is refused (401), so that the app signs out.
let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

const banner = () => document.getElementById('banner');

function connectionLost() {
  const b = banner();
  b.textContent = 'The connection to ferry is lost; retrying…';
  b.hidden = false;
}

function connectionBack() {
  const b = banner();
  if (!b.hidden) b.hidden = true;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Calls ferry and answers the parsed JSON body (null for an empty one).
// The body is sent as JSON, or as it is with its `contentType` (a pasted
// YAML document). A read that cannot reach ferry is retried, every few
// seconds, until it can; a change is not (it might have happened), and
// throws instead.
export async function api(path, { method = 'GET', body, contentType } = {}) {
  const headers = { Authorization: `Bearer ${token()}`, Accept: 'application/json' };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['content-type'] = contentType || 'application/json';
    init.body = contentType ? body : JSON.stringify(body);
  }
  let resp;
  for (let delay = 1000; ; delay = Math.min(delay * 2, 8000)) {
    try {
      resp = await fetch(path, init);
      break;
    } catch (err) {
      connectionLost();
      if (method !== 'GET') {
        throw new ApiError(0, 'ferry cannot be reached; the change may or may not have been made');
      }
      await sleep(delay);
    }
  }
  connectionBack();
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (resp.status === 401) {
    onUnauthorized(messageOf(data, text, resp.status));
  }
  // TiEM answers some refusals with HTTP 200 and a non-zero code.
  const tiemFailed = data && typeof data.code === 'number' && data.code !== 0 && 'message' in data;
  if (!resp.ok || tiemFailed) {
    throw new ApiError(resp.status, messageOf(data, text, resp.status));
  }
  return data;
}

// A query string from an object, leaving out empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

// A path segment, escaped (topic names may hold dots; ids are opaque).
export const seg = (s) => encodeURIComponent(s);
