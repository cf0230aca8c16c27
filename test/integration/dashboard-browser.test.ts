/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The dashboard in a real browser (Debian's chromium, headless, driven by puppeteer-core) against
// the real API server with RBAC on. Every dashboard here reads with a ServiceAccount token limited
// to one namespace, as `launch-agent dashboard` reads with its user's kubeconfig. Screenshots of
// each page go to docs/images/dashboard-*.png (README.md and docs/dashboard.md show them).
import { existsSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import * as runtime from '@launch-agent/runtime';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { startDashboard, type RunningDashboard } from '../../packages/cli/src/dashboard/server.js';
import type { Scope } from '../../packages/cli/src/dashboard/kube.js';
import { removeTempDirs, waitFor } from './agent-harness.js';
import {
  CHROMIUM,
  applyCrdWithCancel,
  chartDashboardKubeConfig,
  restoreCrd,
  setUpDashboardBed,
  type DashboardBed,
} from './dashboard-testbed.js';
import { repoRoot, requireServices } from './testenv.js';

let admin: KubeConfig;
let adminKubeconfigFile: string;
let bed: DashboardBed;
let browser: Browser;
const dashboards: RunningDashboard[] = [];

async function dashboard(kubeConfig: KubeConfig, scope: Scope): Promise<string> {
  const running = await startDashboard({
    runtime,
    kubeConfig,
    scope,
    host: '127.0.0.1',
    port: 0,
    allowCancel: true,
    checkHost: true,
  });
  dashboards.push(running);
  return running.url;
}

async function openPage(url: string): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 800 });
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  return page;
}

const screenshot = (page: Page, name: string) =>
  page.screenshot({
    path: join(repoRoot, 'docs', 'images', `dashboard-${name}.png`),
    fullPage: true,
  });

/** The jobs table as the page shows it: name → [phase, reason]. */
function tableRows(page: Page): Promise<Record<string, [string, string]>> {
  return page.$$eval('#jobs tbody tr', (rows) =>
    Object.fromEntries(
      rows.map((row) => [
        row.querySelector('td a')!.textContent!,
        [
          row.querySelector('[data-field="phase"]')!.textContent!.trim(),
          row.querySelector('[data-field="reason"]')!.textContent!.trim(),
        ] as [string, string],
      ]),
    ),
  );
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  const env = await requireServices('kubernetes');
  admin = new KubeConfig();
  admin.loadFromFile(env.kubeconfig);
  adminKubeconfigFile = env.kubeconfig;
  await applyCrdWithCancel(admin);
  bed = await setUpDashboardBed(admin);
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The test runs as root in a container, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-gpu'],
  });
});

afterAll(async () => {
  await browser?.close();
  for (const running of dashboards) await running.close();
  if (admin) await restoreCrd(admin);
  removeTempDirs();
});

describe('the dashboard, read with a user limited to one namespace', () => {
  test('the jobs page lists every job with its phase and reason', async () => {
    const url = await dashboard(bed.viewer, { allNamespaces: false, namespaces: [bed.teamA] });
    const page = await openPage(`${url}jobs`);
    expect(await tableRows(page)).toEqual({
      'train-waiting-1': ['Pending', 'Unclaimed'],
      'train-waiting-2': ['Pending', 'Unclaimed'],
      'train-building': ['Building', 'Building'],
      'train-running': ['Running', 'RunJobCreated'],
      'train-failed': ['Failed', 'BackoffLimitExceeded'],
    });
    // Every control has a label, and the filters work from the keyboard alone.
    expect(await page.$$eval('select', (all) => all.every((s) => s.closest('label')))).toBe(true);
    await page.focus('select[name="phase"]');
    await page.keyboard.type('Failed');
    await page.focus('form.filters button');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    expect(page.url()).toContain('phase=Failed');
    expect(Object.keys(await tableRows(page))).toEqual(['train-failed']);
    await page.close();
  });

  test('a phase change written to the status appears without a reload within 5 s', async () => {
    const url = await dashboard(bed.viewer, { allNamespaces: false, namespaces: [bed.teamA] });
    const page = await openPage(`${url}jobs`);
    await page.waitForFunction(
      () => document.getElementById('live-status')!.textContent!.startsWith('Live'),
      { timeout: 5000 },
    );
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    const job = await bed.jobs.get(bed.teamA, 'train-waiting-2');
    await bed.jobs.replaceStatus(job, {
      phase: 'Building',
      agent: 'agent-1',
      claimedTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'ImageBuilding',
          message: 'building',
          lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        },
      ],
    });
    const started = Date.now();
    await page.waitForFunction(
      () => {
        const row = document.querySelector('tr[data-key$="/train-waiting-2"]');
        return row?.querySelector('[data-field="phase"]')?.textContent === 'Building';
      },
      { timeout: 5000 },
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await tableRows(page))['train-waiting-2']).toEqual(['Building', 'ImageBuilding']);
    expect(
      await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded),
    ).toBe(true);
    // A job created and then deleted comes and goes the same way.
    const added = await bed.jobs.create(
      bed.teamA,
      { name: 'train-short-lived' },
      { queue: 'cpu', source: { image: 'registry.example/ml/train:1' } },
    );
    await page.waitForSelector('tr[data-key$="/train-short-lived"]', { timeout: 5000 });
    await runtime.kubeJsonRequest(
      admin,
      'DELETE',
      `/apis/launch-agent.dev/v1alpha1/namespaces/${bed.teamA}/launchjobs/${added.metadata.name}`,
    );
    await page.waitForSelector('tr[data-key$="/train-short-lived"]', {
      hidden: true,
      timeout: 5000,
    });
    expect(
      await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded),
    ).toBe(true);
    await screenshot(page, 'jobs');
    await page.close();
  });

  test('the queues page shows depth, positions oldest first, and throughput', async () => {
    const url = await dashboard(bed.viewer, { allNamespaces: false, namespaces: [bed.teamA] });
    const page = await openPage(url);
    const text = await page.$eval('main', (main) => main.textContent!);
    expect(text).toContain('Waiting in gpu, oldest first');
    const positions = await page.$$eval('table:nth-of-type(2) tbody tr', (rows) =>
      rows.map((row) => [...row.querySelectorAll('td')].slice(0, 2).map((td) => td.textContent)),
    );
    expect(positions[0]).toEqual(['1', 'train-waiting-1']);
    const cpu = await page.$$eval('table:first-of-type tbody tr', (rows) =>
      rows.map((row) => [...row.children].map((cell) => cell.textContent!.trim())),
    );
    // cpu: nothing waiting, one running, one failed just now (one completion this hour).
    expect(cpu.find((row) => row[0] === 'cpu')).toEqual(
      expect.arrayContaining(['cpu', '0', '1', '1 completed']),
    );
    await screenshot(page, 'queues');
    await page.close();
  });

  test('the job page shows the timeline with Events and says why the log cannot be read', async () => {
    const url = await dashboard(bed.viewer, { allNamespaces: false, namespaces: [bed.teamA] });
    const page = await openPage(`${url}jobs/${bed.teamA}/train-running`);
    const timeline = await page.$eval('#timeline', (table) => table.textContent!);
    expect(timeline).toContain(bed.eventNote);
    expect(timeline).toContain('Condition Ready=False');
    const facts = await page.$eval('dl.facts', (dl) => dl.textContent!);
    expect(facts).toContain('prebuilt');
    expect(facts).toContain(`sha256:${'ab'.repeat(32)}`);
    // No scheduler or kubelet runs pods in this tier: the pod object exists (label
    // batch.kubernetes.io/job-name) on no node, and the API server has no log for it (it answers
    // 204, nothing); the page says why instead of streaming.
    await page.waitForFunction(
      () => document.getElementById('log-status')!.getAttribute('role') === 'alert',
      { timeout: 10_000 },
    );
    const logStatus = await page.$eval('#log-status', (p) => p.textContent!);
    expect(logStatus).toBe(
      `The pod ${bed.teamA}/${bed.runJobName}-abcde is not on a node yet (phase Pending): it has no log until it is scheduled and started.`,
    );
    // The viewer may not patch LaunchJobs: a SelfSubjectAccessReview says so, no Cancel.
    expect(await page.$('#cancel-button')).toBeNull();
    await page.close();
    const waiting = await openPage(`${url}jobs/${bed.teamA}/train-waiting-1`);
    expect(await waiting.$eval('#not-running', (p) => p.textContent!)).toContain(
      'number 1 in queue gpu',
    );
    expect(await waiting.$eval('#log-status', (p) => p.textContent!)).toBeDefined();
    await waiting.close();
  });

  test('Cancel is offered to a user who may patch, and sends the merge patch', async () => {
    const url = await dashboard(bed.operator, { allNamespaces: false, namespaces: [bed.teamA] });
    const page = await openPage(`${url}jobs/${bed.teamA}/train-running`);
    expect(await page.$('#cancel-button')).not.toBeNull();
    await page.waitForFunction(
      () => document.getElementById('log-status')!.getAttribute('role') === 'alert',
      { timeout: 10_000 },
    );
    await screenshot(page, 'job');
    await page.$eval('input[name="reason"]', (input) => ((input as HTMLInputElement).value = ''));
    await page.type('input[name="reason"]', 'wrong learning rate');
    await Promise.all([page.waitForNavigation(), page.click('#cancel-button')]);
    const job = await waitFor(
      'the cancel to be recorded',
      () => bed.jobs.get(bed.teamA, 'train-running'),
      (current) => Boolean((current.spec as { cancel?: unknown }).cancel),
      5000,
    );
    expect((job.spec as { cancel?: unknown }).cancel).toEqual({
      requested: true,
      reason: 'wrong learning rate',
    });
    // The page says so and offers Cancel no more.
    expect(await page.$eval('dl.facts', (dl) => dl.textContent!)).toContain(
      'requested: wrong learning rate',
    );
    expect(await page.$('#cancel-button')).toBeNull();
    await page.close();
  });

  test('a cancel from another site, or to another host name, is refused', async () => {
    const url = await dashboard(bed.operator, { allNamespaces: false, namespaces: [bed.teamA] });
    const forged = await fetch(`${url}jobs/${bed.teamA}/train-building/cancel`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'reason=forged',
    });
    expect(forged.status).toBe(403);
    // fetch() will not send another Host header; a DNS-rebinding page's request would.
    const rebound = await new Promise<number>((resolve, reject) =>
      http
        .get(url, { headers: { Host: 'attacker.example:80' } }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        })
        .on('error', reject),
    );
    expect(rebound).toBe(421);
    expect((await bed.jobs.get(bed.teamA, 'train-building')).spec).not.toHaveProperty('cancel');
  });

  test('a user limited to one namespace sees nothing of another', async () => {
    const other = await dashboard(bed.viewer, { allNamespaces: false, namespaces: [bed.teamB] });
    const page = await openPage(`${other}jobs`);
    const alert = await page.$eval('[role="alert"]', (div) => div.textContent!);
    expect(alert).toContain(`Your credentials may not list launchjobs in namespace ${bed.teamB}`);
    expect(alert).toContain('HTTP 403');
    expect(await page.content()).not.toContain('team-b-secret-job');
    await screenshot(page, 'forbidden');
    await page.close();
    const everywhere = await dashboard(bed.viewer, { allNamespaces: true });
    const all = await openPage(everywhere);
    expect(await all.$eval('[role="alert"]', (div) => div.textContent!)).toContain(
      'may not list launchjobs in all namespaces',
    );
    expect(await all.content()).not.toContain('team-b-secret-job');
    await all.close();
    // A dashboard for team-a serves nothing of team-b, even by its address.
    const own = await dashboard(bed.viewer, { allNamespaces: false, namespaces: [bed.teamA] });
    const direct = await fetch(`${own}jobs/${bed.teamB}/team-b-secret-job`);
    expect(direct.status).toBe(404);
    expect(await direct.text()).not.toContain(bed.teamBJob.metadata.uid!);
  });

  test("the chart's dashboard RBAC is enough to read everything, and offers no Cancel", async () => {
    const chartAccount = await chartDashboardKubeConfig(admin, adminKubeconfigFile, bed.teamA);
    // As `launch-agent dashboard --in-cluster` without --allow-cancel runs it.
    const running = await startDashboard({
      runtime,
      kubeConfig: chartAccount,
      scope: { allNamespaces: false, namespaces: [bed.teamA] },
      host: '127.0.0.1',
      port: 0,
      allowCancel: false,
      checkHost: false,
    });
    dashboards.push(running);
    const jobs = await openPage(`${running.url}jobs`);
    expect(Object.keys(await tableRows(jobs)).sort()).toEqual([
      'train-building',
      'train-failed',
      'train-running',
      'train-waiting-1',
      'train-waiting-2',
    ]);
    await jobs.waitForFunction(
      () => document.getElementById('live-status')!.textContent!.startsWith('Live'),
      { timeout: 5000 },
    );
    await jobs.close();
    const page = await openPage(`${running.url}jobs/${bed.teamA}/train-running`);
    expect(await page.$eval('#timeline', (table) => table.textContent!)).toContain(bed.eventNote);
    await page.waitForFunction(
      () => document.getElementById('log-status')!.getAttribute('role') === 'alert',
      { timeout: 10_000 },
    );
    expect(await page.$eval('#log-status', (p) => p.textContent!)).toContain(
      'is not on a node yet',
    );
    expect(await page.$('#cancel-button')).toBeNull();
    expect(await page.$$('[role="alert"]')).toHaveLength(1);
    await page.close();
  });
});
