import { hostMatches, hostPatternProblem } from '../src/index.js';
import { hostPatternCovered } from '../src/uri/git-hosts.js';

describe('git host patterns (launchjobs.git-sources.hosts)', () => {
  it.each([
    ['github.com', 'github.com', true],
    ['github.com', 'GitHub.COM.', true],
    ['github.com', 'api.github.com', false],
    ['*.example.com', 'a.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'evilexample.com', false],
    ['*.example.com', 'a.example.com.evil.io', false],
    ['*.0.0.1', '127.0.0.1', false],
    ['127.0.0.1', '127.0.0.1', true],
    ['::1', '[::1]', true],
    ['*', 'anything.io', true],
  ])('%s allows %s: %s', (pattern, host, allowed) => {
    expect(hostMatches(pattern, host)).toBe(allowed);
  });

  it.each([
    ['github.com', undefined],
    ['*.git.example.com', undefined],
    ['*', undefined],
    ['*.com', /at least two labels/],
    ['a.*.com', /only stand first/],
    ['-a.com', /label/],
    [`${'a'.repeat(64)}.com`, /1 to 63/],
  ])('%s is %s', (pattern, problem) => {
    const found = hostPatternProblem(pattern);
    if (problem) expect(found).toMatch(problem);
    else expect(found).toBeUndefined();
  });

  it('says whether a credential host is inside the allowed hosts', () => {
    expect(hostPatternCovered(['*.corp.example'], '*.a.corp.example')).toBe(true);
    expect(hostPatternCovered(['*.corp.example'], 'git.corp.example')).toBe(true);
    expect(hostPatternCovered(['git.corp.example'], '*.corp.example')).toBe(false);
    expect(hostPatternCovered(['*'], '*.anything.io')).toBe(true);
  });
});
