// The REST API as the console uses it: same origin, the session cookie
// (sent by the browser, never seen by this code), JSON bodies on every
// change (the master refuses anything else from a browser).

export class ApiError extends Error {
  constructor(status, body) {
    const message = body && body.error ? body.error.message : `HTTP ${status}`;
    super(message);
    this.status = status;
    this.body = body;
  }
}

async function call(method, path, { body, etag } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (etag) headers["If-None-Match"] = etag;
  const response = await fetch(path, {
    method, headers, credentials: "same-origin", cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 304) return { notModified: true, etag };
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = { error: { message: text } }; }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return { data: parsed, etag: response.headers.get("ETag") };
}

export const api = {
  get: async (path) => (await call("GET", path)).data,
  // A conditional GET: {notModified: true} when the resource still has etag.
  getIfChanged: (path, etag) => call("GET", path, { etag }),
  post: async (path, body = {}) => (await call("POST", path, { body })).data,
  del: async (path) => (await call("DELETE", path)).data,
};

export function projectPath(project, rest = "") {
  return `/v1/projects/${encodeURIComponent(project)}/jobs${rest}`;
}

// Every page of a list (jobs, nodes) up to limit items.
export async function listAll(path, key, limit = 5000) {
  const items = [];
  let token = "";
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api.get(`${path}${sep}pageSize=1000${token ? "&pageToken=" + encodeURIComponent(token) : ""}`);
    items.push(...(page[key] || []));
    token = page.nextPageToken || "";
  } while (token && items.length < limit);
  return items;
}
