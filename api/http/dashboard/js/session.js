// The sign-in: a token kept in this tab's session storage (SPEC §11), taken from a pasted value
// or from a link whose URL fragment carries it (#token=<jwt>), which is then removed from the
// address bar so it is not bookmarked, shared or kept in the history.

const KEY = "mastery.token";

export function takeTokenFromLink() {
  const match = location.hash.match(/^#token=([^&]+)/);
  if (!match) return false;
  sessionStorage.setItem(KEY, decodeURIComponent(match[1]));
  history.replaceState(null, "", `${location.pathname}${location.search}#/`);
  return true;
}

export function saveToken(token) {
  sessionStorage.setItem(KEY, token.trim());
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

export function token() {
  return sessionStorage.getItem(KEY);
}

// The token's claims, read (not verified: the API verifies) to choose the first page.
// Null when there is no token, it is not a JWT, or it has expired.
export function claims() {
  const value = token();
  if (!value) return null;
  try {
    const part = value.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const body = JSON.parse(atob(part));
    if (typeof body.exp === "number" && body.exp * 1000 < Date.now()) return null;
    return body;
  } catch {
    return null;
  }
}
