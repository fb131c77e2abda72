// Names and addresses the client tools accept: a registry as docker names it (host[:port]),
// and the URLs of the Authority and the token service, with one rule for plain HTTP.
import { isIP } from 'node:net';
import { ClientError } from './errors.ts';

/** `localhost`, 127.0.0.0/8 and ::1: traffic that never leaves the machine. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export interface RegistryName {
  /** The key docker and containers use in `auths` and `credHelpers`: host[:port], lower case. */
  readonly host: string;
  /** Set when the name was given with a scheme. */
  readonly scheme: 'http' | 'https' | undefined;
}

/**
 * A registry as the user or a client names it: `host[:port]`, optionally with a scheme and a
 * path (docker passes `https://index.docker.io/v1/` for Docker Hub).
 */
export function registryName(input: string): RegistryName {
  const text = input.trim();
  if (text === '') throw new ClientError('no registry given (expected host[:port], e.g. registry.example.com:5000)', { usage: true });
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text);
  const url = URL.parse(withScheme ? text : `https://${text}`);
  if (url === null || url.hostname === '' || url.username !== '' || url.password !== '') {
    throw new ClientError(`"${text}" is not a registry name (expected host[:port], e.g. registry.example.com:5000)`, { usage: true });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ClientError(`"${text}": a registry is reached over https or http, not ${url.protocol.slice(0, -1)}`, { usage: true });
  }
  return { host: url.host.toLowerCase(), scheme: withScheme ? (url.protocol === 'http:' ? 'http' : 'https') : undefined };
}

/**
 * An http(s) URL the tools will send a secret to. Plain HTTP only to a loopback address or
 * when the user said `insecure`: a client secret or an OpTok must not cross a network in clear.
 */
export function secureUrl(value: string, what: string, insecure: boolean): URL {
  const url = URL.parse(value);
  if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new ClientError(`${what}: "${value}" is not an http(s) URL`);
  }
  if (url.username !== '' || url.password !== '') throw new ClientError(`${what}: the URL must not carry a user or password`);
  if (url.protocol === 'http:' && !insecure && !isLoopback(url.hostname)) {
    throw new ClientError(`${what}: ${url.origin} is plain HTTP; use https, or allow it with --insecure (insecure: true in the helper settings)`);
  }
  return url;
}

/**
 * The token service's base URL from its realm (`<base>/token`) or from a base given as is:
 * POST /credentials lives next to /token.
 */
export function tokenServiceBase(url: URL): URL {
  const base = new URL(url.href);
  base.search = '';
  base.hash = '';
  base.pathname = base.pathname.replace(/\/+$/, '').replace(/\/token$/, '');
  return base;
}

/** `<base>/<path>` keeping any path prefix of the base (a service behind a proxy at /registry-auth). */
export function endpoint(base: URL, path: string): URL {
  const url = new URL(base.href);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${path}`;
  return url;
}
