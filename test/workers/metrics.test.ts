// One /metrics for every worker: families merged, samples labelled by worker.
import { describe, expect, it } from 'vitest';
import { mergeExpositions } from '../../src/workers/metrics.ts';

const worker = (issued: number) => [
  '# HELP registry_token_issued_total Registry tokens issued.',
  '# TYPE registry_token_issued_total counter',
  `registry_token_issued_total{service="registry.example",plan="team"} ${issued}`,
  '# HELP registry_token_token_duration_seconds Exchange duration.',
  '# TYPE registry_token_token_duration_seconds histogram',
  'registry_token_token_duration_seconds_bucket{outcome="issued",le="0.005"} 3',
  'registry_token_token_duration_seconds_sum{outcome="issued"} 0.01',
  'registry_token_token_duration_seconds_count 3',
  '',
].join('\n');

describe('mergeExpositions', () => {
  it('writes each family once, with every worker\'s samples labelled worker="<n>"', () => {
    const text = mergeExpositions(new Map([['1', worker(5)], ['2', worker(7)]]));
    expect(text).toBe([
      '# HELP registry_token_issued_total Registry tokens issued.',
      '# TYPE registry_token_issued_total counter',
      'registry_token_issued_total{worker="1",service="registry.example",plan="team"} 5',
      'registry_token_issued_total{worker="2",service="registry.example",plan="team"} 7',
      '# HELP registry_token_token_duration_seconds Exchange duration.',
      '# TYPE registry_token_token_duration_seconds histogram',
      'registry_token_token_duration_seconds_bucket{worker="1",outcome="issued",le="0.005"} 3',
      'registry_token_token_duration_seconds_sum{worker="1",outcome="issued"} 0.01',
      'registry_token_token_duration_seconds_count{worker="1"} 3',
      'registry_token_token_duration_seconds_bucket{worker="2",outcome="issued",le="0.005"} 3',
      'registry_token_token_duration_seconds_sum{worker="2",outcome="issued"} 0.01',
      'registry_token_token_duration_seconds_count{worker="2"} 3',
      '',
    ].join('\n'));
  });

  it('a worker without samples ("# no registered metrics") adds nothing', () => {
    expect(mergeExpositions(new Map([['1', '# no registered metrics\n'], ['2', worker(1)]]))).toContain('{worker="2",');
    expect(mergeExpositions(new Map([['1', '# no registered metrics\n']]))).toBe('\n');
  });
});
