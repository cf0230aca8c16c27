import { checkConfigText } from '../src/index.js';
import { normalizeConfig } from '../src/normalize.js';

function settingsOf(text: string) {
  const result = checkConfigText(text, 'launch-config.yaml');
  expect(result.errors).toEqual([]);
  return normalizeConfig(result.config!);
}

describe('the launchjobs block', () => {
  test('defaults: heartbeat every 10 s, stale after 45 s, finished jobs kept', () => {
    expect(settingsOf('builder: {type: noop}\n').launchJobs).toEqual({
      heartbeatSeconds: 10,
      staleAfterSeconds: 45,
    });
  });

  test('every key is carried into the settings', () => {
    expect(
      settingsOf(
        'launchjobs:\n  heartbeat-seconds: 5\n  stale-after-seconds: 15\n  ttl-seconds-after-finished: 0\n',
      ).launchJobs,
    ).toEqual({ heartbeatSeconds: 5, staleAfterSeconds: 15, ttlSecondsAfterFinished: 0 });
  });

  test('a stale timeout of exactly three heartbeats is accepted', () => {
    expect(
      settingsOf('launchjobs: {heartbeat-seconds: 20, stale-after-seconds: 60}\n').launchJobs
        .staleAfterSeconds,
    ).toBe(60);
  });
});
