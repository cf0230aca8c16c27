import { formatProblem, isSecretKey, redactText, redactValue, REDACTED } from '../src/index.js';

describe('redactText, the one redaction for errors and logs', () => {
  test.each([
    ['https://ci:hunter2@registry.example.com/x', 'hunter2'],
    ['https://acct.blob.core.windows.net/c/k.tar.gz?sv=2022&sig=abc%2Bdef%3D', 'abc%2Bdef%3D'],
    ['https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA/x&X-Amz-Signature=deadbeef', 'deadbeef'],
    ['https://storage.googleapis.com/b/k?X-Goog-Signature=cafe01', 'cafe01'],
    ['--set credentials.env.AWS_SECRET_ACCESS_KEY=wJalr', 'wJalr'],
    ['--set agentConfig.db.password=pw1,other=1', 'pw1'],
    ['GITHUB_TOKEN=ghp_abc', 'ghp_abc'],
    ['{"auths":{"r":{"auth":"dXNlcjpwdw=="}}}', 'dXNlcjpwdw=='],
    ['{\\"auths\\":{\\"r\\":{\\"auth\\":\\"dXNlcjpwdw==\\"}}}', 'dXNlcjpwdw=='],
  ])('hides the secret in %s', (text, secret) => {
    const redacted = redactText(text);
    expect(redacted).not.toContain(secret);
    expect(redacted).toContain(REDACTED);
  });

  test('leaves ordinary text alone', () => {
    const text = 'builder.destination: localhost:5000/team/images --set agentConfig.max_jobs=7';
    expect(redactText(text)).toBe(text);
  });

  test('secret-looking keys: *secret*, *password*, *token*, *key*, auth', () => {
    for (const key of ['AWS_SECRET_ACCESS_KEY', 'password', 'GITHUB_TOKEN', 'apiKey', 'auth']) {
      expect(isSecretKey(key)).toBe(true);
    }
    for (const key of ['type', 'destination', 'queues', 'author'])
      expect(isSecretKey(key)).toBe(false);
  });

  test('redactValue replaces values under secret keys and Kubernetes EnvVar values', () => {
    expect(
      redactValue({ user: 'u', password: 'p', env: [{ name: 'API_TOKEN', value: 't' }] }),
    ).toEqual({ user: 'u', password: REDACTED, env: [{ name: 'API_TOKEN', value: REDACTED }] });
  });

  test('a problem under a secret key names the key and line, not the value', () => {
    const line = formatProblem({
      path: 'credentials.env.API_TOKEN',
      message: 'wrong type (number)',
      value: 12345678,
      location: { file: 'values.yaml', line: 4, column: 3 },
    });
    expect(line).toBe(
      'values.yaml:4:3: credentials.env.API_TOKEN: wrong type (number) (value not shown)',
    );
  });
});
