// A teacher's classes, and a class page: the roster (sortable, filterable, with a sparkline
// of the last four weeks) and the students × topics heatmap.

import { each, get } from "../api.js";
import { LEVELS, esc, html, isoDaysAgo, pct, raw } from "../format.js";

const SPARK_DAYS = 28;

export async function showClasses(view) {
  const { classes } = await get("/classes");
  const cards = classes
    .map((c) => html`<li class="card class-card">
      <h2><a href="#/class/${encodeURIComponent(c.class_id)}">Class ${c.class_id}</a></h2>
      <p>${c.students} students · average ${pct(c.mean_mastery)} · ${c.at_risk} at risk</p></li>`)
    .join("");
  view.innerHTML = html`<h1>My classes</h1>
    ${raw(classes.length ? `<ul class="cards">${cards}</ul>` : `<p>You have no classes yet.</p>`)}`;
}

export async function showClass(view, classId) {
  const roster = await get(`/classes/${encodeURIComponent(classId)}/mastery`);
  const students = roster.students;
  view.innerHTML = html`<h1>Class ${classId}</h1>
    <p class="muted">${students.length} students, as of ${roster.as_of}.</p>
    <section aria-labelledby="roster-title" class="card">
      <h2 id="roster-title">Roster</h2>
      <div class="filters" role="search">
        <label>Student <input type="search" id="filter-name"></label>
        <label>Level <select id="filter-level"><option value="">any</option>
          ${raw(LEVELS.map(([l]) => `<option>${l}</option>`).join(""))}</select></label>
        <label><input type="checkbox" id="filter-risk"> at risk only</label>
      </div>
      <div class="scroll" tabindex="0"><table class="roster">
        <caption class="visually-hidden">Students of class ${classId}; column buttons sort</caption>
        <thead><tr>
          ${raw(headers())}
        </tr></thead><tbody></tbody></table></div>
    </section>
    <section aria-labelledby="heatmap-title" class="card">
      <h2 id="heatmap-title">Topics by student</h2>
      <p class="muted">Each cell is the student's mastery of the topic: coloured by its level as
        in the roster (beginner red … expert blue); an empty cell means no evidence yet.</p>
      <div class="scroll" tabindex="0" id="heatmap"><p class="muted">Loading topics…</p></div>
    </section>`;
  const table = new Roster(view, students);
  table.render();
  view.dataset.rosterRendered = "true";
  performance.mark("roster-rendered");
  await loadDetails(view, table, students);
}

const COLUMNS = [
  ["student_id", "Student"],
  ["mastery_score", "Mastery"],
  ["level", "Level"],
  [null, "Last 4 weeks"],
  ["predicted", "Predicted in 7 days"],
  ["at_risk", "At risk"],
];

function headers() {
  return COLUMNS.map(([key, label]) =>
    key
      ? `<th scope="col" aria-sort="none"><button type="button" data-sort="${key}">${label}</button></th>`
      : `<th scope="col">${label}</th>`,
  ).join("");
}

class Roster {
  constructor(view, students) {
    this.view = view;
    this.rows = students.map((s) => ({ ...s, predicted: s.prediction.predicted_score }));
    this.sort = { key: "student_id", up: true };
    this.sparks = new Map();
    view.querySelectorAll("[data-sort]").forEach((b) =>
      b.addEventListener("click", () => this.sortBy(b.dataset.sort)),
    );
    ["#filter-name", "#filter-level", "#filter-risk"].forEach((sel) =>
      view.querySelector(sel).addEventListener("input", () => this.render()),
    );
  }

  sortBy(key) {
    this.sort = { key, up: this.sort.key === key ? !this.sort.up : true };
    this.render();
  }

  visible() {
    const name = this.view.querySelector("#filter-name").value.toLowerCase();
    const level = this.view.querySelector("#filter-level").value;
    const risk = this.view.querySelector("#filter-risk").checked;
    const { key, up } = this.sort;
    const order = (a, b) => (a[key] ?? -1) < (b[key] ?? -1) ? -1 : (a[key] ?? -1) > (b[key] ?? -1) ? 1 : 0;
    return this.rows
      .filter((r) => r.student_id.toLowerCase().includes(name))
      .filter((r) => !level || r.level === level)
      .filter((r) => !risk || r.at_risk)
      .sort((a, b) => (up ? order(a, b) : order(b, a)));
  }

  render() {
    const body = this.view.querySelector(".roster tbody");
    body.innerHTML = this.visible().map((r) => html`<tr data-student="${r.student_id}">
      <th scope="row"><a href="#/student/${encodeURIComponent(r.student_id)}">${r.student_id}</a></th>
      <td data-value="${r.mastery_score}">${pct(r.mastery_score)}</td>
      <td><span class="level level-${r.level}">${r.level}</span></td>
      <td><mastery-sparkline></mastery-sparkline></td>
      <td>${pct(r.predicted)}</td>
      <td>${raw(r.at_risk ? '<span class="risk">at risk</span>' : "no")}</td></tr>`).join("");
    body.querySelectorAll("tr").forEach((tr) => this.spark(tr));
    this.view.querySelectorAll("th[aria-sort]").forEach((th) => {
      const key = th.querySelector("button").dataset.sort;
      const dir = this.sort.up ? "ascending" : "descending";
      th.setAttribute("aria-sort", key === this.sort.key ? dir : "none");
    });
  }

  spark(tr) {
    const points = this.sparks.get(tr.dataset.student);
    if (points) tr.querySelector("mastery-sparkline").points = points;
  }
}

// Sparklines and heatmap arrive after the roster; a reader who has moved on to another page
// meanwhile stops them (the roster's table is no longer in the document).
async function loadDetails(view, table, students) {
  const topics = new Map();
  const shown = view.querySelector(".roster");
  await each(students, 6, async (s) => {
    if (!shown.isConnected) return;
    const id = encodeURIComponent(s.student_id);
    const [history, own] = await Promise.all([
      get(`/students/${id}/mastery/history`, { from: isoDaysAgo(SPARK_DAYS - 1), fill: "true" }),
      get(`/students/${id}/topics`),
    ]);
    table.sparks.set(s.student_id, history.snapshots.map((p) => p.mastery_score));
    const row = view.querySelector(`tr[data-student="${CSS.escape(s.student_id)}"]`);
    if (row) table.spark(row);
    topics.set(s.student_id, own.topics);
  });
  if (!shown.isConnected) return;
  view.querySelector("#heatmap").innerHTML = heatmap(students, topics);
  view.dataset.detailsLoaded = "true";
  performance.mark("class-details-loaded");
}

function heatmap(students, topics) {
  const names = [...new Set([...topics.values()].flatMap((t) => Object.keys(t)))].sort();
  if (!names.length) return "<p>No topic evidence yet.</p>";
  // A topic's name may break after each dot, not inside a word, on a narrow screen.
  const head = names.map((n) => `<th scope="col"><span>${esc(n).replace(/\./g, ".<wbr>")}</span></th>`).join("");
  const rows = students.map((s) => {
    const own = topics.get(s.student_id) || {};
    const cells = names.map((n) => {
      const t = own[n];
      if (!t) return `<td class="heat-none"><span class="visually-hidden">no evidence</span></td>`;
      // Coloured by the topic's level, as the level badges and the chart's bands are.
      return `<td class="heat level-${esc(t.level)}" title="${esc(s.student_id)} · ${esc(n)}: ${pct(t.mastery_score)}">${pct(t.mastery_score)}</td>`;
    });
    return `<tr><th scope="row">${esc(s.student_id)}</th>${cells.join("")}</tr>`;
  });
  return `<table class="heatmap"><caption class="visually-hidden">Topic mastery of each student</caption>
    <thead><tr><th scope="col">Student</th>${head}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}
