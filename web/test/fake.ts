import { vi } from "vitest";

export interface Call {
  method: string;
  path: string; // without /api/v1
  params: URLSearchParams;
  body: unknown;
}

/** A stand-in for the daemon's HTTP API: each route answers with JSON (or an error), and
 * every request is recorded. Routes are tried in order: "METHOD /path-regex". */
export function fakeApi(routes: [string, (call: Call) => unknown][]): Call[] {
  const calls: Call[] = [];
  vi.stubGlobal("fetch", async (url: string, init: RequestInit = {}) => {
    const u = new URL(url, "http://page.test");
    const call: Call = {
      method: init.method ?? "GET",
      path: u.pathname.replace(/^\/api\/v1/, ""),
      params: u.searchParams,
      body: init.body ? JSON.parse(String(init.body)) : undefined,
    };
    calls.push(call);
    for (const [key, answer] of routes) {
      const [method, pattern] = key.split(" ");
      if (method === call.method && new RegExp(`^${pattern}$`).test(call.path)) {
        const reply = answer(call);
        if (reply instanceof Response) return reply;
        return new Response(JSON.stringify(reply), { status: 200, headers: { "Content-Type": "application/json" } });
      }
    }
    return new Response(JSON.stringify({ ok: false, error: { code: "not_found", message: `no route ${call.path}` } }), { status: 404 });
  });
  return calls;
}

export function apiError(status: number, code: string, message: string): Response {
  return new Response(JSON.stringify({ ok: false, error: { code, message } }), { status });
}

/** Give every element a size (jsdom has no layout). */
export function layout(width: number, height: number): void {
  for (const [name, value] of [["clientWidth", width], ["clientHeight", height]] as const) {
    Object.defineProperty(HTMLElement.prototype, name, { configurable: true, get: () => value });
  }
}
