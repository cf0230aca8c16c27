// The dashboard's pages, rendered on the server as whole HTML documents: styles inline, no
// fonts, images or scripts from anywhere else, so they work offline and nothing leaves the machine.
import type { LaunchJob } from '@launch-agent/runtime';
import { CLIENT_SCRIPT } from './client-script.js';
import type { EventSummary } from './kube.js';
import {
  THROUGHPUT_HOURS,
  formatDuration,
  jobRow,
  latestCondition,
  matchesFilter,
  type JobRow,
  type QueueSummary,
  type RowFilter,
} from './summary.js';

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

// Colours meet WCAG AA contrast on their backgrounds; focus is always visible for keyboard use.
const STYLE = `
:root{color-scheme:light;font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b1f24;background:#fff}
body{margin:0}header{background:#16325c;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.5rem;align-items:center}
header a{color:#fff}header strong{font-size:1.1rem}nav a{margin-right:1rem}
main{padding:1rem 1.2rem;max-width:80rem}
a{color:#0b4fa8}a:focus,button:focus,select:focus,input:focus{outline:3px solid #c75b00;outline-offset:2px}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #c9d1d9;vertical-align:top}
th{background:#eef2f6}caption{text-align:left;font-weight:600;padding:.3rem 0}
.phase{display:inline-block;padding:0 .45rem;border-radius:.6rem;font-weight:600;font-size:.9rem}
.phase-Pending{background:#fff3c4;color:#5c4400}.phase-Building{background:#dbe9ff;color:#0b3a80}
.phase-Running{background:#d3f4de;color:#0d5227}.phase-Succeeded{background:#e4e8ec;color:#24292f}
.phase-Failed{background:#ffd9d6;color:#8a1409}
.error{background:#ffd9d6;color:#5e0b04;border-left:4px solid #b42318;padding:.6rem .8rem;margin:.8rem 0}
.note{color:#4a5561}.live{font-size:.9rem;color:#0d5227}
form.filters{display:flex;gap:1rem;flex-wrap:wrap;align-items:end;margin:.5rem 0}
form.filters label{display:flex;flex-direction:column;font-size:.9rem}
button{font:inherit;padding:.3rem .9rem;border:1px solid #16325c;background:#16325c;color:#fff;border-radius:.25rem;cursor:pointer}
button.danger{background:#b42318;border-color:#b42318}
pre.log{background:#0d1117;color:#e6edf3;padding:.8rem;max-height:30rem;overflow:auto;white-space:pre-wrap}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dl.facts dt{font-weight:600}
.bar{display:inline-block;background:#0b4fa8;height:.8rem;vertical-align:middle}
`;

export interface LayoutOptions {
  title: string;
  scopeLabel: string;
  /** Sent back with every form that changes something: another site cannot know it. */
  csrfToken: string;
  body: string;
}

export function layout(options: LayoutOptions): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="${escapeHtml(options.csrfToken)}">
<title>${escapeHtml(options.title)} · launch-agent</title>
<style>${STYLE}</style></head>
<body><header><strong>launch-agent</strong>
<nav aria-label="Pages"><a href="/">Queues</a><a href="/jobs">Jobs</a></nav>
<span class="note" style="color:#dfe7f1">${escapeHtml(options.scopeLabel)}</span></header>
<main id="main">${options.body}</main>
<script>${CLIENT_SCRIPT}</script></body></html>`;
}

export function errorBlock(message: string): string {
  return `<div class="error" role="alert">${escapeHtml(message)}</div>`;
}

const phaseBadge = (phase: string) =>
  `<span class="phase phase-${escapeHtml(phase)}">${escapeHtml(phase)}</span>`;

const jobLink = (namespace: string, name: string) =>
  `<a href="/jobs/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}">${escapeHtml(name)}</a>`;

export function queuesBody(queues: QueueSummary[]): string {
  if (queues.length === 0) return '<h1>Queues</h1><p>No LaunchJobs here.</p>';
  const peak = Math.max(1, ...queues.flatMap((q) => q.completedPerHour));
  const rows = queues
    .map((q) => {
      const oldest = q.waiting[0];
      const bars = q.completedPerHour
        .map(
          (count, i) =>
            `<span class="bar" style="width:${Math.round((count / peak) * 3) + 0.2}rem" title="${count} in hour -${THROUGHPUT_HOURS - 1 - i}"></span>`,
        )
        .join(' ');
      const total = q.completedPerHour.reduce((sum, count) => sum + count, 0);
      return `<tr><th scope="row"><a href="/jobs?queue=${encodeURIComponent(q.queue)}">${escapeHtml(q.queue)}</a></th>
<td>${q.depth}</td><td>${q.building}</td><td>${q.running}</td><td>${q.succeeded}</td><td>${q.failed}</td>
<td>${oldest ? formatDuration(oldest.waitingSeconds) : '–'}</td>
<td><span aria-hidden="true">${bars}</span> ${total} completed</td></tr>`;
    })
    .join('\n');
  const waiting = queues
    .filter((q) => q.waiting.length > 0)
    .map(
      (q) => `<table><caption>Waiting in ${escapeHtml(q.queue)}, oldest first</caption>
<thead><tr><th scope="col">Position</th><th scope="col">Job</th><th scope="col">Namespace</th><th scope="col">Waiting</th></tr></thead><tbody>
${q.waiting
  .map(
    (w, i) =>
      `<tr><td>${i + 1}</td><td>${jobLink(w.namespace, w.name)}</td><td>${escapeHtml(w.namespace)}</td><td>${formatDuration(w.waitingSeconds)}</td></tr>`,
  )
  .join('\n')}</tbody></table>`,
    )
    .join('\n');
  return `<h1>Queues</h1>
<table><caption>Per queue: depth is the jobs no agent has claimed yet</caption>
<thead><tr><th scope="col">Queue</th><th scope="col">Depth</th><th scope="col">Building</th><th scope="col">Running</th>
<th scope="col">Succeeded</th><th scope="col">Failed</th><th scope="col">Longest wait</th><th scope="col">Throughput, last ${THROUGHPUT_HOURS} h</th></tr></thead>
<tbody>${rows}</tbody></table>${waiting}`;
}

const PHASES = ['Pending', 'Building', 'Running', 'Succeeded', 'Failed'];

function select(name: string, label: string, values: string[], chosen: string | undefined): string {
  const options = ['', ...new Set(values)]
    .map(
      (value) =>
        `<option value="${escapeHtml(value)}"${value === (chosen ?? '') ? ' selected' : ''}>${escapeHtml(value || 'any')}</option>`,
    )
    .join('');
  return `<label>${escapeHtml(label)}<select name="${name}">${options}</select></label>`;
}

export function jobRowHtml(row: JobRow): string {
  return `<tr data-key="${escapeHtml(row.key)}"><td>${jobLink(row.namespace, row.name)}</td><td>${escapeHtml(row.namespace)}</td>
<td>${escapeHtml(row.queue)}</td><td data-field="phase">${phaseBadge(row.phase)}</td><td data-field="reason">${escapeHtml(row.reason)}</td>
<td>${escapeHtml(row.created)}</td></tr>`;
}

export function jobsBody(jobs: LaunchJob[], filter: RowFilter): string {
  const rows = jobs.map(jobRow);
  const shown = rows.filter((row) => matchesFilter(row, filter));
  shown.sort((a, b) => b.created.localeCompare(a.created) || a.key.localeCompare(b.key));
  const query = new URLSearchParams(
    Object.entries(filter).filter((entry): entry is [string, string] => Boolean(entry[1])),
  ).toString();
  return `<h1>Jobs</h1>
<form class="filters" method="get" action="/jobs" aria-label="Filter jobs">
${select('queue', 'Queue', rows.map((r) => r.queue).sort(), filter.queue)}
${select('namespace', 'Namespace', rows.map((r) => r.namespace).sort(), filter.namespace)}
${select('phase', 'Phase', PHASES, filter.phase)}
${select(
  'reason',
  'Reason',
  rows
    .map((r) => r.reason)
    .filter(Boolean)
    .sort(),
  filter.reason,
)}
<button type="submit">Filter</button></form>
<p class="live" id="live-status" role="status" aria-live="polite">Connecting to live updates…</p>
<table id="jobs" data-stream="/api/jobs/stream${query ? `?${escapeHtml(query)}` : ''}">
<caption>${shown.length} job(s), newest first</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Namespace</th><th scope="col">Queue</th><th scope="col">Phase</th><th scope="col">Reason</th><th scope="col">Created</th></tr></thead>
<tbody>${shown.map(jobRowHtml).join('\n')}</tbody></table>`;
}

export interface JobPageData {
  job: LaunchJob;
  events: EventSummary[] | string;
  notRunning: string | undefined;
  mayCancel: boolean;
  csrfToken: string;
}

function timeline(job: LaunchJob, events: EventSummary[]): string {
  const entries: Array<{ time: string; what: string; detail: string }> = [];
  const status = job.status ?? {};
  entries.push({ time: String(job.metadata.creationTimestamp ?? ''), what: 'Created', detail: '' });
  if (status.claimedTime)
    entries.push({ time: status.claimedTime, what: 'Claimed', detail: status.agent ?? '' });
  if (status.startTime) entries.push({ time: status.startTime, what: 'Started', detail: '' });
  if (status.completionTime)
    entries.push({
      time: status.completionTime,
      what: `Completed (${status.phase ?? ''})`,
      detail: '',
    });
  for (const c of status.conditions ?? []) {
    entries.push({
      time: c.lastTransitionTime ?? '',
      what: `Condition ${c.type}=${c.status}`,
      detail: [c.reason, c.message].filter(Boolean).join(': '),
    });
  }
  for (const e of events) {
    entries.push({ time: e.time, what: `Event ${e.type} ${e.reason}`, detail: e.note });
  }
  entries.sort((a, b) => a.time.localeCompare(b.time));
  return `<table id="timeline"><caption>Timeline: phases, conditions and Events</caption>
<thead><tr><th scope="col">Time</th><th scope="col">What</th><th scope="col">Detail</th></tr></thead><tbody>
${entries.map((e) => `<tr><td>${escapeHtml(e.time)}</td><td>${escapeHtml(e.what)}</td><td>${escapeHtml(e.detail)}</td></tr>`).join('\n')}
</tbody></table>`;
}

export function jobBody(data: JobPageData): string {
  const { job } = data;
  const status = job.status ?? {};
  const namespace = job.metadata.namespace ?? '';
  const name = job.metadata.name ?? '';
  const path = `/jobs/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
  const condition = latestCondition(job);
  const cancel = (job.spec as { cancel?: { requested?: boolean; reason?: string } }).cancel;
  const facts: Array<[string, string]> = [
    ['Phase', phaseBadge(status.phase ?? 'Pending')],
    ['Reason', escapeHtml(condition?.reason ?? '')],
    ['Queue', escapeHtml(job.spec.queue)],
    ['Image', escapeHtml(status.image ?? job.spec.source?.image ?? '')],
    ['Digest', escapeHtml(status.digest ?? '')],
    ['Image was', escapeHtml(status.imageStatus ?? '')],
    [
      'Run Job',
      escapeHtml(
        status.runJobName ? `${status.runJobNamespace ?? namespace}/${status.runJobName}` : '',
      ),
    ],
    [
      'Cancel',
      escapeHtml(cancel?.requested ? `requested${cancel.reason ? `: ${cancel.reason}` : ''}` : ''),
    ],
  ];
  const cancelForm =
    data.mayCancel &&
    !cancel?.requested &&
    status.phase !== 'Succeeded' &&
    status.phase !== 'Failed'
      ? `<form method="post" action="${path}/cancel" id="cancel-form">
<input type="hidden" name="csrf" value="${escapeHtml(data.csrfToken)}">
<label>Reason <input name="reason" value="cancelled from the dashboard" maxlength="200"></label>
<button class="danger" type="submit" id="cancel-button">Cancel job</button></form>`
      : '';
  return `<h1>Job ${escapeHtml(namespace)}/${escapeHtml(name)}</h1>
${data.notRunning ? `<p id="not-running"><strong>Why it is not running:</strong> ${escapeHtml(data.notRunning)}</p>` : ''}
<dl class="facts">${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v || '–'}</dd>`).join('')}</dl>
${cancelForm}
${typeof data.events === 'string' ? errorBlock(data.events) : ''}
${timeline(job, typeof data.events === 'string' ? [] : data.events)}
<h2 id="log-heading">Run log</h2>
<p class="live" id="log-status" role="status" aria-live="polite">Connecting…</p>
<pre class="log" id="log" tabindex="0" aria-labelledby="log-heading" data-stream="${path}/log"></pre>`;
}
