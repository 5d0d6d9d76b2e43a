// A student's page: mastery over time (the daily history, level bands behind it), the four
// components and the breakdown, topics with their evidence, recommendations and the learning
// path in plain words, the prediction, and the raw events, paged.

import { get } from "../api.js";
import { esc, html, pct, raw, recommendationText, step, trendText } from "../format.js";

const COMPONENTS = ["completion", "quiz", "quality", "consistency"];
const EVENTS_PAGE = 20;

export async function showStudent(view, studentId) {
  const id = encodeURIComponent(studentId);
  const [mastery, history, prediction] = await Promise.all([
    get(`/students/${id}/mastery`),
    get(`/students/${id}/mastery/history`, { fill: "true" }),
    get(`/students/${id}/prediction`),
  ]);
  view.innerHTML = html`<h1>Student ${studentId}</h1>
    <p class="lead">Mastery <strong>${pct(mastery.mastery_score)}</strong>,
      level <span class="level level-${mastery.level}">${mastery.level}</span>
      ${raw(mastery.no_data ? " · no activity yet" : "")}</p>
    <div class="grid">
      <section class="card wide" aria-labelledby="chart-title">
        <h2 id="chart-title">Mastery over time</h2>
        <p class="muted">Each day up to ${history.to}, from the first activity or ${history.from}; the coloured bands are the levels.</p>
        <mastery-chart></mastery-chart>
      </section>
      <section class="card" aria-labelledby="components-title">
        <h2 id="components-title">Components</h2>${raw(components(mastery))}
      </section>
      <section class="card" aria-labelledby="prediction-title">
        <h2 id="prediction-title">Prediction</h2>${raw(predictionText(prediction))}
      </section>
      <section class="card" aria-labelledby="advice-title">
        <h2 id="advice-title">What to do next</h2>${raw(advice(mastery))}
      </section>
      <section class="card wide" aria-labelledby="topics-title">
        <h2 id="topics-title">Topics</h2>${raw(topics(mastery.topics))}
      </section>
      <section class="card wide" aria-labelledby="events-title">
        <h2 id="events-title">Events</h2>
        <div class="scroll" tabindex="0"><table class="events"><caption class="visually-hidden">Recorded events, oldest first</caption>
          <thead><tr><th scope="col">When</th><th scope="col">Component</th><th scope="col">Topic</th><th scope="col">Event</th></tr></thead>
          <tbody></tbody></table></div>
        <button type="button" id="more-events" hidden>Show more events</button>
      </section>
    </div>`;
  view.querySelector("mastery-chart").snapshots = history.snapshots;
  await events(view, id, null);
}

function components(m) {
  const rows = COMPONENTS.map((c) => `<tr><th scope="row">${c}</th><td>${pct(m.components[c])}</td>
    <td>${pct(m.breakdown[c])}</td><td>${m.evidence[c]}</td></tr>`).join("");
  return `<table class="components"><thead><tr><th scope="col">Component</th><th scope="col">Score</th>
    <th scope="col">Share of mastery</th><th scope="col">Events</th></tr></thead><tbody>${rows}</tbody></table>
    <p class="muted">Formula version: ${esc(m.formula)}</p>`;
}

function predictionText(p) {
  if (p.predicted_score === null) return `<p>Not enough activity to predict yet.</p>`;
  const risk = p.intervention_needed ? `<p class="risk">Needs help: predicted below 50%.</p>` : "";
  return `<p>In ${p.days} days: <strong>${pct(p.predicted_score)}</strong>
    (now ${pct(p.current_score)}, ${trendText(p.trend)}, confidence ${pct(p.confidence)}).</p>${risk}`;
}

function advice(m) {
  const recs = m.recommendations.map((r) => `<li>${esc(recommendationText(r))}</li>`).join("");
  const path = m.learning_path.map((s) => `<li>${esc(step(s))}</li>`).join("");
  return `${recs ? `<ul>${recs}</ul>` : "<p>Nothing urgent: keep going.</p>"}
    <h3>Learning path</h3>${path ? `<ol>${path}</ol>` : "<p>No steps yet.</p>"}`;
}

function topics(all) {
  const names = Object.keys(all).sort();
  if (!names.length) return "<p>No topic evidence yet.</p>";
  const rows = names.map((n) => {
    const t = all[n];
    const ev = Object.entries(t.evidence).filter(([, v]) => v).map(([k, v]) => `${v} ${k}`).join(", ");
    return `<tr><th scope="row">${esc(n)}</th><td>${pct(t.mastery_score)}</td><td>${esc(t.level)}</td><td>${esc(ev || "none")}</td></tr>`;
  });
  return `<div class="scroll" tabindex="0"><table><thead><tr><th scope="col">Topic</th><th scope="col">Mastery</th>
    <th scope="col">Level</th><th scope="col">Evidence (events)</th></tr></thead><tbody>${rows.join("")}</tbody></table></div>`;
}

async function events(view, id, after) {
  const page = await get(`/students/${id}/events`, { limit: EVENTS_PAGE, after });
  const body = view.querySelector(".events tbody");
  body.insertAdjacentHTML("beforeend", page.events.map((e) => html`<tr>
    <td class="when">${e.timestamp.replace("T", " ").replace(/:\d\dZ$/, "")}</td><td>${e.component}</td>
    <td>${e.topic || ""}</td><td><code>${e.event_id}</code></td></tr>`).join(""));
  const more = view.querySelector("#more-events");
  more.hidden = !page.next;
  more.onclick = () => events(view, id, page.next);
}
