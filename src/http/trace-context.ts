// W3C Trace Context (https://www.w3.org/TR/trace-context/): the caller's `traceparent` names the
// trace this request belongs to, so an operator can follow one pull from the registry's log to
// the decision line and the ledger record. OpenTelemetry's propagator parses and prints the
// header; this service records no spans, it only joins the trace with a span id of its own.
import type { IncomingHttpHeaders } from 'node:http';
import { ROOT_CONTEXT, TraceFlags, defaultTextMapGetter, defaultTextMapSetter, isValidSpanId, isValidTraceId, trace, type SpanContext } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { randomHex } from '../domain/random-ids.ts';

const propagator = new W3CTraceContextPropagator();

export interface TraceContext {
  /** 32 lowercase hex digits: the caller's, or a new one when it sent none (or a malformed one). */
  readonly traceId: string;
  /** Whether the trace came from the caller. */
  readonly continued: boolean;
  /** `traceparent` (and `tracestate` when the caller sent one) for the response. */
  readonly headers: Readonly<Record<string, string>>;
}

/** Random ids; all zeros is the one invalid value, drawn again. */
function randomId(bytes: number, valid: (id: string) => boolean): string {
  let id: string;
  do id = randomHex(bytes);
  while (!valid(id));
  return id;
}

/**
 * A malformed, repeated (Node joins them with ", ") or all-zero `traceparent` is ignored, as
 * the specification says, and a new trace starts: correlation is never a reason to refuse.
 */
export function traceContextOf(headers: IncomingHttpHeaders): TraceContext {
  const parent = trace.getSpanContext(propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter));
  const continued = parent !== undefined && trace.isSpanContextValid(parent);
  const span: SpanContext = {
    traceId: continued ? parent.traceId : randomId(16, isValidTraceId),
    spanId: randomId(8, isValidSpanId),
    // Only the sampled bit is defined for version 00; a caller's other bits are not passed on.
    traceFlags: continued ? parent.traceFlags & TraceFlags.SAMPLED : TraceFlags.NONE,
    ...(continued && parent.traceState !== undefined ? { traceState: parent.traceState } : {}),
  };
  const out: Record<string, string> = {};
  propagator.inject(trace.setSpanContext(ROOT_CONTEXT, span), out, defaultTextMapSetter);
  return { traceId: span.traceId, continued, headers: out };
}

/** The trace context of each request, set by the app's first hook. */
const contexts = new WeakMap<object, TraceContext>();

export function rememberTraceContext(request: object, context: TraceContext): void {
  contexts.set(request, context);
}

export function traceIdOf(request: object): string | undefined {
  return contexts.get(request)?.traceId;
}
