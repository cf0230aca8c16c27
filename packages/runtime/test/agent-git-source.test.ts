import { checkGitSource } from '@launch-agent/runtime';

describe('checkGitSource', () => {
  it.each([
    'https://github.com/org/repo.git',
    'ssh://git@example.com/org/repo.git',
    'git@github.com:org/repo.git',
    'file:///srv/git/repo.git',
    'https://deploy@example.com/org/repo.git',
  ])('accepts %s', (url) => {
    expect(() => checkGitSource({ url, ref: 'main' })).not.toThrow();
  });

  it('refuses a token inside the URL without repeating it', () => {
    let error: unknown;
    try {
      checkGitSource({ url: 'https://x-access-token:ghp_secret@github.com/org/repo.git' });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ reason: 'GitCredentialsInUrl' });
    expect((error as Error).message).not.toContain('ghp_secret');
  });

  it.each([
    [{ url: '--upload-pack=touch /tmp/x' }, 'InvalidGitSource'],
    [{ url: 'https://example.com/r.git', ref: '--output=/etc/x' }, 'InvalidGitSource'],
    [{ url: 'ftp://example.com/r.git' }, 'InvalidGitSource'],
    [{ url: 'not a url' }, 'InvalidGitSource'],
  ])('refuses %j', (git, reason) => {
    expect(() => checkGitSource(git)).toThrow(expect.objectContaining({ reason }));
  });
});
