// Numbers and names in plain words.

export const LEVELS = [
  ["beginner", 0, 0.4],
  ["developing", 0.4, 0.6],
  ["competent", 0.6, 0.75],
  ["proficient", 0.75, 0.9],
  ["expert", 0.9, 1.0],
];

export const pct = (score) => (score === null || score === undefined ? "—" : `${Math.round(score * 100)}%`);

export function esc(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function html(strings, ...values) {
  return strings.reduce((out, s, i) => {
    const v = i < values.length ? values[i] : "";
    return out + s + (v && v.__html !== undefined ? v.__html : esc(v ?? ""));
  }, "");
}

export const raw = (text) => ({ __html: text });

export function isoDaysAgo(days) {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() - days);
  return d.toISOString().slice(0, 10);
}

const ACTIONS = {
  practice: "Practise",
  review: "Review",
  refactor: "Improve",
  schedule: "Plan",
};

export function recommendationText(rec) {
  const target = rec.topic ? `the topic ${rec.topic}` : rec.area;
  return `${ACTIONS[rec.action] || rec.action} ${target} (${rec.priority} priority).`;
}

export const step = (name) => name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());

export function trendText(trend) {
  return {
    improving: "improving",
    declining: "declining",
    stable: "steady",
    insufficient_data: "not enough data yet",
  }[trend] || trend;
}
