// The dashboard's only way to the server: the public /v1 API, with the token in
// Authorization. Failures become an ApiError whose message is written for a teacher.

import { token } from "./session.js";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const WORDS = {
  401: "Your sign-in has expired or is not valid. Please sign in again.",
  403: "You are not allowed to see this student.",
  404: "There is nothing here: no such student or class.",
  410: "This student's data has been erased at their request.",
  503: "The service is not answering right now. Please try again in a minute.",
};

function plain(status, path) {
  if (status === 403 && path.startsWith("/classes/")) return "You are not allowed to see this class.";
  if (status === 403 && !path.startsWith("/students/")) return "You are not allowed to see this page.";
  return WORDS[status] || (status >= 500 ? WORDS[503] : `The request failed (${status}).`);
}

export async function get(path, params = {}) {
  const query = new URLSearchParams(
    Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""),
  ).toString();
  const url = `${apiBase()}${path}${query ? `?${query}` : ""}`;
  let response;
  try {
    response = await fetch(url, { headers: { Authorization: `Bearer ${token()}` } });
  } catch {
    throw new ApiError(0, WORDS[503]);
  }
  if (!response.ok) throw new ApiError(response.status, plain(response.status, path));
  return response.json();
}

// The API beside the dashboard: /dashboard/ is served by the same server as /v1.
function apiBase() {
  return new URL("../v1", location.href.split("#")[0]).pathname;
}

// Runs `work` over `items` with at most `width` requests in flight.
export async function each(items, width, work) {
  let next = 0;
  const lanes = Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await work(item);
    }
  });
  await Promise.all(lanes);
}
