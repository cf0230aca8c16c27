// Where submit, status and logs address a LaunchJob: -n, else the kubeconfig context's namespace,
// never the agent's own. Every refusal here comes before any request; a local HTTP server plays
// the API server (answering 404) to show which namespace a request that was made addressed.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './run-cli.js';

let server: Server;
let port = 9;
const requested: string[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    requested.push(`${request.method} ${request.url}`);
    response.writeHead(404, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound', message: 'nope' }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function files(contextNamespace: string | undefined): { config: string; kubeconfig: string } {
  const dir = mkdtempSync(join(tmpdir(), 'launch-agent-tenant-'));
  const config = join(dir, 'launch-config.yaml');
  writeFileSync(
    config,
    'queues: [default]\nkubernetes:\n  namespace: launch\n  target-namespaces: [team-a, team-b]\n',
  );
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: c, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]`,
      'users: [{name: u, user: {token: not-a-token}}]',
      `contexts: [{name: x, context: {cluster: c, user: u${contextNamespace ? `, namespace: ${contextNamespace}` : ''}}}]`,
      'current-context: x',
      '',
    ].join('\n'),
  );
  return { config, kubeconfig };
}

describe('the namespace of submit, status and logs', () => {
  test.each([
    ['submit', ['--image', 'busybox:1']],
    ['status', ['job-1']],
    ['logs', ['job-1']],
  ])(
    '%s refuses the agent namespace when the kubeconfig context defaults to it, naming the served ones',
    async (command, args) => {
      const { config, kubeconfig } = files('launch');
      const result = await runCli([command, ...args, '--config', config], {
        KUBECONFIG: kubeconfig,
      });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(
        "launch is the agent's own namespace (kubernetes.namespace): it holds the agent's credentials and runs no LaunchJob",
      );
      expect(result.stderr).toContain('it serves team-a, team-b');
      expect(result.stderr).toContain('or set one in your kubeconfig context');
    },
  );

  test('submit refuses the agent namespace even when -n names it', async () => {
    const { config, kubeconfig } = files('team-a');
    const result = await runCli(
      ['submit', '--image', 'busybox:1', '--config', config, '-n', 'launch'],
      { KUBECONFIG: kubeconfig },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("launch is the agent's own namespace");
    expect(result.stderr).not.toContain('kubeconfig context');
  });

  test('the context namespace is the default, and -n wins over it', async () => {
    const { config, kubeconfig } = files('team-b');
    requested.length = 0;
    const byContext = await runCli(['status', 'job-1', '--config', config], {
      KUBECONFIG: kubeconfig,
    });
    expect(byContext.code).not.toBe(0);
    expect(byContext.stderr).not.toContain("agent's own namespace");
    const byFlag = await runCli(['logs', 'job-2', '--config', config, '-n', 'team-a'], {
      KUBECONFIG: kubeconfig,
    });
    expect(byFlag.code).not.toBe(0);
    expect(requested).toEqual([
      'GET /apis/launch-agent.dev/v1alpha1/namespaces/team-b/launchjobs/job-1',
      'GET /apis/launch-agent.dev/v1alpha1/namespaces/team-a/launchjobs/job-2',
    ]);
  });

  test('submit warns when the namespace is not one the config serves', async () => {
    const { config, kubeconfig } = files(undefined);
    const result = await runCli(['submit', '--image', 'busybox:1', '--config', config], {
      KUBECONFIG: kubeconfig,
    });
    expect(result.stderr).toContain(
      'warning: namespace default is not in kubernetes.target-namespaces (team-a, team-b)',
    );
  });

  test('--run-namespace is gone, with a message that says where a job runs', async () => {
    const { config, kubeconfig } = files('team-a');
    const result = await runCli(
      ['submit', '--image', 'busybox:1', '--config', config, '--run-namespace', 'team-b'],
      { KUBECONFIG: kubeconfig },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      '--run-namespace is gone: a LaunchJob runs in the namespace it is created in; pass -n team-b',
    );
  });

  test('--help says -n is the tenant namespace and no longer offers --run-namespace', async () => {
    for (const command of ['submit', 'status', 'logs']) {
      const help = (await runCli([command, '--help'])).stdout;
      expect(help).toMatch(/-n, --namespace <ns> +the tenant namespace the LaunchJob lives and/);
      expect(help).not.toContain('--run-namespace');
    }
  });
});
