import type { GitSourceSettings } from '@launch-agent/config';
import { checkGitSource } from '@launch-agent/runtime';
import { credentialsBound, redactGitUrl } from '../src/agent/git-url.js';
import { gitRunEnvironment } from '../src/agent/git-process.js';

const policy = (over: Partial<GitSourceSettings> = {}): GitSourceSettings => ({
  hosts: ['github.com', '*.git.example.com', '10.0.0.5'],
  schemes: ['https', 'ssh'],
  credentialHosts: ['github.com'],
  ...over,
});

function refusal(git: { url: string; ref?: string }, settings = policy()) {
  try {
    checkGitSource(git, settings);
  } catch (error) {
    return error as Error & { reason: string };
  }
  throw new Error(`${git.url} was accepted`);
}

describe('checkGitSource against launchjobs.git-sources', () => {
  it.each([
    ['https://github.com/org/repo.git', 'https', 'github.com'],
    ['https://GitHub.com./org/repo', 'https', 'github.com'],
    ['ssh://git@github.com/org/repo.git', 'ssh', 'github.com'],
    ['ssh://git@github.com:2222/org/repo.git', 'ssh', 'github.com'],
    ['git@github.com:org/repo.git', 'ssh', 'github.com'],
    ['github.com:org/repo.git', 'ssh', 'github.com'],
    ['https://a.git.example.com/r.git', 'https', 'a.git.example.com'],
    ['https://a.b.git.example.com:8443/r.git', 'https', 'a.b.git.example.com'],
    ['https://10.0.0.5/r.git', 'https', '10.0.0.5'],
  ])('accepts %s', (url, scheme, host) => {
    expect(checkGitSource({ url, ref: 'main' }, policy())).toMatchObject({ scheme, host });
  });

  it.each([
    ['file:///srv/git/repo.git', /file:\/\/ reads the agent's own disk/],
    ['FILE:///etc', /file:\/\/ reads the agent's own disk/],
    ['/srv/git/repo.git', /a local path is never allowed/],
    ['./repo', /a local path is never allowed/],
    ['../../var/run/secrets', /a local path is never allowed/],
    ['repo', /a local path is never allowed/],
    ['ext::sh -c touch% /tmp/x', /whitespace/],
    ['ext::sh%20-c%20id', /ext:: transport/],
    ['fd::3', /fd:: transport/],
    ['http://github.com/org/repo.git', /the scheme http is not in launchjobs.git-sources.schemes/],
    ['git://github.com/org/repo.git', /the scheme git is not in launchjobs.git-sources.schemes/],
    ['ftp://github.com/r.git', /the scheme ftp:\/\/ is not a git transport/],
    ['git+ssh://github.com/r.git', /write ssh:\/\/ instead/],
    [
      'https://gitlab.com/org/repo.git',
      /the host gitlab.com is not in launchjobs.git-sources.hosts/,
    ],
    ['https://git.example.com/r.git', /the host git.example.com is not in/],
    ['https://evilgit.example.com/r.git', /the host evilgit.example.com is not in/],
    ['https://git.example.com.evil.io/r.git', /the host git.example.com.evil.io is not in/],
    ['https://169.254.169.254/latest', /the host 169.254.169.254 is not in/],
    ['https://[::1]/r.git', /the host ::1 is not in/],
    ['evil.io:org/repo.git', /the host evil.io is not in/],
  ])('refuses %s as GitSourceNotAllowed, saying what is allowed', (url, why) => {
    const error = refusal({ url });
    expect(error.reason).toBe(url.includes(' ') ? 'InvalidGitSource' : 'GitSourceNotAllowed');
    expect(error.message).toMatch(why);
    if (error.reason === 'GitSourceNotAllowed') {
      expect(error.message).toMatch(/^spec\.source\.git\.url "/);
      expect(error.message).toContain(
        'allowed: https://, ssh (ssh:// or user@host:path) from github.com, *.git.example.com, 10.0.0.5 (launchjobs.git-sources)',
      );
    }
  });

  it('refuses every git source when no host is listed (the default)', () => {
    const error = refusal({ url: 'https://github.com/org/repo.git' }, policy({ hosts: [] }));
    expect(error.reason).toBe('GitSourceNotAllowed');
    expect(error.message).toContain('launchjobs.git-sources.hosts is empty');
    expect(error.message).toContain('from no host');
  });

  it('refuses file:// even when every host and scheme is allowed', () => {
    const all = policy({ hosts: ['*'], schemes: ['https', 'ssh', 'http', 'git'] });
    expect(refusal({ url: 'file:///srv/repo' }, all).reason).toBe('GitSourceNotAllowed');
    expect(refusal({ url: '/srv/repo' }, all).reason).toBe('GitSourceNotAllowed');
    expect(checkGitSource({ url: 'http://anything.io/r' }, all).scheme).toBe('http');
  });

  it.each([
    'https://x-access-token:ghp_secretvalue@github.com/org/repo.git',
    'https://ghp_secretvalue@github.com/org/repo.git',
    'ssh://git:ghp_secretvalue@github.com/org/repo.git',
    'https://user%3Aghp_secretvalue@github.com/r',
  ])('refuses credentials inside %s without repeating them', (url) => {
    const error = refusal({ url });
    expect(error.reason).toBe('GitCredentialsInUrl');
    expect(error.message).not.toContain('ghp_secretvalue');
    expect(error.message).toContain('https://***@github.com/'.replace('https', url.split(':')[0]!));
  });

  it.each([
    [{ url: '--upload-pack=touch /tmp/x' }],
    [{ url: '-oProxyCommand=id:x' }],
    [{ url: 'https://github.com/r.git', ref: '--output=/etc/x' }],
    [{ url: 'https://github.com/r.git', ref: 'refs/*:refs/*' }],
    [{ url: 'https://github.com/r.git', ref: 'main:refs/heads/x' }],
    [{ url: 'https://github.com/r.git', ref: 'a..b' }],
    [{ url: 'https://github.com/r.git\n' }],
    [{ url: 'https://evil.io\\@github.com/r.git' }],
    [{ url: 'git@-oProxyCommand=id:r' }],
    [{ url: '' }],
  ])('refuses %j as InvalidGitSource', (git) => {
    expect(refusal(git).reason).toBe('InvalidGitSource');
  });

  it('hands git the URL it checked, re-serialised', () => {
    expect(checkGitSource({ url: 'https://GITHUB.com/a/../org/r.git' }, policy()).url).toBe(
      'https://github.com/org/r.git',
    );
  });

  it('redacts user names, passwords and secret-looking query values in what it shows', () => {
    expect(redactGitUrl('https://user:pw@host/r?token=abc')).not.toMatch(/pw|abc|user/);
    expect(redactGitUrl('ssh://git@host/r')).toBe('ssh://***@host/r');
    expect(redactGitUrl(`https://host/${'a'.repeat(300)}`).length).toBeLessThan(220);
  });

  it('without a policy checks only the form (the CLI): any host, never file://', () => {
    expect(checkGitSource({ url: 'git://any.io/r' }).host).toBe('any.io');
    expect(() => checkGitSource({ url: 'file:///x' })).toThrow(
      expect.objectContaining({ reason: 'GitSourceNotAllowed' }),
    );
  });
});

describe('credentials bound to hosts', () => {
  const checked = (url: string, settings = policy()) => checkGitSource({ url }, settings);

  it('are offered only to a credential host, over https or ssh', () => {
    const settings = policy({
      schemes: ['https', 'ssh', 'http'],
      credentialHosts: ['github.com', '*.git.example.com'],
    });
    expect(credentialsBound(checked('https://github.com/r', settings), settings)).toBe(true);
    expect(credentialsBound(checked('git@github.com:r', settings), settings)).toBe(true);
    expect(credentialsBound(checked('https://a.git.example.com/r', settings), settings)).toBe(true);
    expect(credentialsBound(checked('https://10.0.0.5/r', settings), settings)).toBe(false);
    expect(credentialsBound(checked('http://github.com/r', settings), settings)).toBe(false);
  });

  it('an unbound fetch runs with no credential helper, no key, no agent, no user config', () => {
    const { env, configArgs } = gitRunEnvironment({
      schemes: ['https', 'ssh'],
      home: '/tmp/empty-home',
      processEnv: {
        PATH: '/usr/bin',
        HOME: '/home/agent',
        GIT_SSH_COMMAND: 'ssh -i /keys/id_repo0',
        SSH_AUTH_SOCK: '/run/agent.sock',
        WANDB_API_KEY: 'secret',
        GIT_SSL_NO_VERIFY: '1',
        HTTPS_PROXY: 'http://proxy:3128',
      },
    });
    expect(env).toMatchObject({
      PATH: '/usr/bin',
      HOME: '/tmp/empty-home',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_PROTOCOL_FROM_USER: '0',
      GIT_ALLOW_PROTOCOL: 'https:ssh',
      HTTPS_PROXY: 'http://proxy:3128',
    });
    expect(env.GIT_SSH_COMMAND).toContain('PubkeyAuthentication=no');
    expect(env.GIT_SSH_COMMAND).not.toContain('/keys/');
    expect(env).not.toHaveProperty('SSH_AUTH_SOCK');
    expect(env).not.toHaveProperty('WANDB_API_KEY');
    expect(env).not.toHaveProperty('GIT_SSL_NO_VERIFY');
    const options = configArgs.filter((_, i) => i % 2 === 1);
    expect(options).toEqual(
      expect.arrayContaining([
        'protocol.allow=never',
        'protocol.https.allow=always',
        'protocol.ssh.allow=always',
        'http.followRedirects=false',
        'credential.helper=',
        'submodule.recurse=false',
      ]),
    );
    expect(options.filter((o) => o.startsWith('credential.helper='))).toEqual([
      'credential.helper=',
    ]);
    expect(options).not.toContain('protocol.file.allow=always');
  });

  it('a bound fetch gets the credential store over https, the agent ssh keys over ssh', () => {
    const https = gitRunEnvironment({
      schemes: ['https'],
      home: '/tmp/h',
      processEnv: {},
      credentials: { scheme: 'https', credentialsFile: "/etc/it's/creds" },
    });
    expect(https.configArgs.filter((o) => o.startsWith('credential.helper'))).toEqual([
      'credential.helper=',
      "credential.helper=store --file='/etc/it'\\''s/creds'",
    ]);
    const ssh = gitRunEnvironment({
      schemes: ['ssh'],
      home: '/tmp/h',
      processEnv: { GIT_SSH_COMMAND: 'ssh -i /keys/id_repo0', SSH_AUTH_SOCK: '/run/a.sock' },
      credentials: { scheme: 'ssh', credentialsFile: '/x' },
    });
    expect(ssh.env.GIT_SSH_COMMAND).toBe('ssh -i /keys/id_repo0 -o BatchMode=yes');
    expect(ssh.env.SSH_AUTH_SOCK).toBe('/run/a.sock');
  });
});
