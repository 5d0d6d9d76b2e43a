// The admin's overview: the tenant at a glance (students per level, classes, at-risk counts),
// a student search, and the pipeline's health from /v1/status (projections, workers, Kafka).

import { get } from "../api.js";
import { LEVELS, esc, html, pct, raw } from "../format.js";

const PAGE = 200;

export async function showAdmin(view) {
  const [classes, students, status] = await Promise.all([
    get("/classes"),
    allStudents(),
    get("/status"),
  ]);
  const atRisk = students.filter((s) => s.at_risk).length;
  view.innerHTML = html`<h1>Overview</h1>
    <div class="grid">
      <section class="card" aria-labelledby="levels-title">
        <h2 id="levels-title">Students per level</h2>
        <p>${students.length} students, ${atRisk} at risk.</p>${raw(levels(students))}
      </section>
      <section class="card" aria-labelledby="health-title">
        <h2 id="health-title">Pipeline health</h2>${raw(health(status))}
      </section>
      <section class="card wide" aria-labelledby="search-title">
        <h2 id="search-title">Find a student</h2>
        <form id="search" role="search"><label for="q">Student id contains</label>
          <input id="q" type="search" autocomplete="off"> <button type="submit">Search</button></form>
        <ul id="results" class="results" aria-live="polite"></ul>
      </section>
      <section class="card wide" aria-labelledby="classes-title">
        <h2 id="classes-title">Classes</h2>${raw(classTable(classes.classes))}
      </section>
    </div>`;
  view.querySelector("#search").addEventListener("submit", (e) => {
    e.preventDefault();
    search(view, view.querySelector("#q").value);
  });
}

async function allStudents() {
  const found = [];
  let cursor = null;
  do {
    const page = await get("/students", { limit: PAGE, cursor });
    found.push(...page.students);
    cursor = page.next_cursor;
  } while (cursor);
  return found;
}

function levels(students) {
  const most = Math.max(1, ...LEVELS.map(([l]) => students.filter((s) => s.level === l).length));
  const rows = LEVELS.map(([level]) => {
    const n = students.filter((s) => s.level === level).length;
    return `<tr><th scope="row">${level}</th><td>${n}</td>
      <td aria-hidden="true"><span class="bar level-${level}" style="width:${(100 * n) / most}%"></span></td></tr>`;
  });
  return `<table class="levels"><thead><tr><th scope="col">Level</th><th scope="col">Students</th>
    <th scope="col"><span class="visually-hidden">Bar</span></th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function health(status) {
  const rows = status.projections.map((p) => `<tr><th scope="row">${esc(p.name)}</th>
    <td>${p.position} of ${status.event_store_head}</td><td>${p.lag_events} events, ${p.lag_seconds.toFixed(1)} s</td></tr>`);
  const workers = status.workers.map((w) => `<li>${esc(w.name)}: ${esc(w.state)}${w.check === "ok" ? "" : ` (${esc(w.check)})`}</li>`);
  return `<table><thead><tr><th scope="col">Projection</th><th scope="col">Position</th><th scope="col">Behind</th></tr></thead>
    <tbody>${rows.join("")}</tbody></table><h3>Workers</h3><ul>${workers.join("") || "<li>none in this process</li>"}</ul>
    <h3>Kafka</h3>${broker(status.kafka)}`;
}

// The broker's side: requests not yet ingested and the dead-letter topic, or why it cannot say.
function broker(kafka) {
  if (!kafka) return "<p class=\"broker\">Kafka is not configured for this service.</p>";
  if (kafka.error) return html`<p class="broker">Kafka is not answering right now (${kafka.error}).</p>`;
  const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  return `<table class="broker"><tbody>
    <tr><th scope="row">Waiting to be ingested</th><td>${count(kafka.requests_waiting, "message", "messages")}</td></tr>
    <tr><th scope="row">Dead letters (rejected messages kept for inspection)</th><td>${count(kafka.dead_letters, "message", "messages")}</td></tr>
    </tbody></table>`;
}

function classTable(classes) {
  if (!classes.length) return "<p>No classes yet.</p>";
  const rows = classes.map((c) => html`<tr><th scope="row"><a href="#/class/${encodeURIComponent(c.class_id)}">${c.class_id}</a></th>
    <td>${c.students}</td><td>${pct(c.mean_mastery)}</td><td>${c.at_risk}</td></tr>`);
  return `<div class="scroll" tabindex="0"><table><thead><tr><th scope="col">Class</th><th scope="col">Students</th>
    <th scope="col">Average</th><th scope="col">At risk</th></tr></thead><tbody>${rows.join("")}</tbody></table></div>`;
}

async function search(view, q) {
  const list = view.querySelector("#results");
  const page = await get("/students", { q, limit: 50 });
  list.innerHTML = page.students.length
    ? page.students.map((s) => html`<li><a href="#/student/${encodeURIComponent(s.student_id)}">${s.student_id}</a>
        ${pct(s.mastery_score)} · ${s.level}${s.at_risk ? " · at risk" : ""}</li>`).join("")
    : `<li>No student matches “${esc(q)}”.</li>`;
}
