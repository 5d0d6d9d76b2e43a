// Start-up and hash routing (#/classes, #/class/<id>, #/student/<id>, #/admin): the static
// server needs no rewrites, and a reload keeps the page.

import "./components.js";
import { ApiError } from "./api.js";
import { claims, saveToken, signOut, takeTokenFromLink, token } from "./session.js";
import { html } from "./format.js";
import { showClasses, showClass } from "./views/classes.js";
import { showStudent } from "./views/student.js";
import { showAdmin } from "./views/admin.js";

const view = document.getElementById("view");

function home(who) {
  if (who.role === "student") return `#/student/${encodeURIComponent(who.sub)}`;
  if (who.role === "admin") return "#/admin";
  return "#/classes";
}

function navigation(who) {
  const nav = document.getElementById("nav");
  const links = [];
  if (who && who.role === "teacher") links.push(["#/classes", "My classes"]);
  if (who && who.role === "admin") links.push(["#/admin", "Overview"], ["#/classes", "Classes"]);
  if (who && who.role === "student") links.push([home(who), "My progress"]);
  nav.innerHTML = links.map(([href, text]) => html`<a href="${href}">${text}</a>`).join("");
  document.getElementById("sign-out").hidden = !who;
}

function signIn(message) {
  navigation(null);
  view.innerHTML = html`<section class="card signin">
    <h1>Sign in</h1>
    ${message ? { __html: html`<p class="error" role="alert">${message}</p>` } : ""}
    <form id="signin-form">
      <label for="token-input">Your access token</label>
      <textarea id="token-input" rows="4" required autocomplete="off" spellcheck="false"></textarea>
      <button type="submit">Sign in</button>
    </form>
    <p class="muted">Ask your administrator for a token, or run <code>mastery token --dashboard-link</code>.</p>
  </section>`;
  view.querySelector("form").addEventListener("submit", (e) => {
    e.preventDefault();
    saveToken(view.querySelector("#token-input").value);
    if (!claims()) return signIn("That token is not valid or has expired.");
    const target = home(claims());
    if (location.hash === target) route();
    else location.hash = target; // the hashchange routes
  });
}

function problem(error) {
  if (error instanceof ApiError && error.status === 401) {
    signOut();
    return signIn(error.message);
  }
  const text = error instanceof ApiError ? error.message : "Something went wrong on this page.";
  view.innerHTML = html`<section class="card"><h1>Sorry</h1><p class="error" role="alert">${text}</p></section>`;
}

let shown = 0; // the latest route: an older page's late failure must not cover it

async function route() {
  const mine = ++shown;
  delete view.dataset.rosterRendered;
  delete view.dataset.detailsLoaded;
  const who = claims();
  if (!who) return signIn(token() ? "Your sign-in has expired. Please sign in again." : "");
  navigation(who);
  const [, page, id] = location.hash.match(/^#\/([a-z]+)\/?(.*)$/) || [];
  const target = id ? decodeURIComponent(id) : "";
  view.setAttribute("aria-busy", "true");
  try {
    if (page === "class" && target) await showClass(view, target);
    else if (page === "student" && target) await showStudent(view, target);
    else if (page === "admin") await showAdmin(view);
    else if (page === "classes") await showClasses(view);
    else {
      location.replace(home(who));
      return;
    }
    const heading = view.querySelector("h1");
    if (heading) document.title = `${heading.textContent} · Mastery`;
  } catch (error) {
    if (mine === shown) problem(error);
  } finally {
    if (mine === shown) view.removeAttribute("aria-busy");
  }
}

document.getElementById("sign-out").addEventListener("click", () => {
  signOut();
  signIn("You are signed out.");
});
// A page opened from a link inside the dashboard takes the focus to its content, so a screen
// reader starts reading the new page (its heading) rather than staying on the old link.
window.addEventListener("hashchange", async () => {
  takeTokenFromLink();
  await route();
  view.focus({ preventScroll: true });
});
takeTokenFromLink();
route();
