import { checkConfigText } from '../src/index.js';
import { normalizeConfig } from '../src/normalize.js';

function settingsOf(text: string) {
  const result = checkConfigText(text, 'launch-config.yaml');
  expect(result.errors).toEqual([]);
  return normalizeConfig(result.config!);
}

describe('the launchjobs block', () => {
  test('defaults: heartbeat every 10 s, stale after 45 s, finished jobs kept, sources up to 1 GiB', () => {
    expect(settingsOf('builder: {type: noop}\n').launchJobs).toEqual({
      heartbeatSeconds: 10,
      staleAfterSeconds: 45,
      sourceLimits: { maxBytes: 1073741824, maxEntries: 100000 },
    });
  });

  test('every key is carried into the settings', () => {
    expect(
      settingsOf(
        'launchjobs:\n  heartbeat-seconds: 5\n  stale-after-seconds: 15\n  ttl-seconds-after-finished: 0\n' +
          '  max-source-bytes: 2097152\n  max-source-entries: 50\n',
      ).launchJobs,
    ).toEqual({
      heartbeatSeconds: 5,
      staleAfterSeconds: 15,
      ttlSecondsAfterFinished: 0,
      sourceLimits: { maxBytes: 2097152, maxEntries: 50 },
    });
  });

  test('max-source-bytes below 1 MiB is refused, naming the key', () => {
    const result = checkConfigText('launchjobs: {max-source-bytes: 10}\n', 'launch-config.yaml');
    expect(result.errors.map((e) => e.path)).toContain('launchjobs.max-source-bytes');
  });

  test('a stale timeout of exactly three heartbeats is accepted', () => {
    expect(
      settingsOf('launchjobs: {heartbeat-seconds: 20, stale-after-seconds: 60}\n').launchJobs
        .staleAfterSeconds,
    ).toBe(60);
  });
});
