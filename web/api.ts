/** The page's one way to its server: GET ./api/PATH?params, JSON back, errors as ApiFailure. */
import type { ErrorInfo } from '../src/server/http/types.js';

/** An answer with status >= 400: the server's error (class, code, message) and the status. */
export class ApiFailure extends Error {
  constructor(
    readonly info: ErrorInfo['error'],
    readonly status: number,
  ) {
    super(info.message);
  }
}

export async function api<T>(
  path: string,
  params: Record<string, string | number>,
  signal?: AbortSignal,
): Promise<T> {
  const q = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
  const res = await fetch(`./api/${path}?${q}`, signal ? { signal } : {});
  const body = (await res.json()) as T | ErrorInfo;
  if (!res.ok) throw new ApiFailure((body as ErrorInfo).error, res.status);
  return body as T;
}
