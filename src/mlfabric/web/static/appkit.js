// The kit an app's dashboard page loads (<script src="/dashboard/appkit.js">): calls to
// the REST API with the token the dashboard signed in with (same origin, so the page
// shares its storage). mlfabric.api("/api/v1/PATH", {method, body}) returns the parsed
// JSON, and throws an Error whose message is the server's one on any HTTP error.
"use strict";

window.mlfabric = {
  token() {
    return localStorage.getItem("mlfabric.token");
  },

  async api(path, {method = "GET", body} = {}) {
    const token = this.token();
    if (!token) throw new Error("not signed in: sign in on the dashboard first");
    const headers = {Authorization: `Bearer ${token}`};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) {
      let message = `${res.status} ${res.statusText}`;
      try {
        const err = (await res.json()).error;
        if (err && err.message) message = err.message;
      } catch (_) { /* not JSON: keep the status line */ }
      throw new Error(message);
    }
    return res.json();
  },
};
