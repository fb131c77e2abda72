// Placeholder until the OpenTelemetry implementation lands (issue 4): the pipeline depends on
// this interface only.
import type { ReasonCode } from '../domain/errors.ts';

export interface Metrics {
  issued(labels: { service: string; plan: string }): void;
  rejected(labels: { service: string; plan: string; reason: ReasonCode }): void;
  /** Duration of one /token exchange, in seconds. */
  tokenDuration(seconds: number, labels: { outcome: 'issued' | 'rejected' }): void;
  jwksRefresh(outcome: 'success' | 'failure'): void;
  /** Latency of one durable ledger append as seen by a request, in seconds. */
  ledgerWrite(seconds: number): void;
}

export const noMetrics: Metrics = {
  issued() {},
  rejected() {},
  tokenDuration() {},
  jwksRefresh() {},
  ledgerWrite() {},
};
