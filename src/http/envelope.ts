import type { FastifyRequest } from 'fastify';

/** The success envelope (DESIGN §4): handlers return `ok(req, data)`; they never build `meta` by hand. */
export interface Envelope<T, M extends object = Record<never, never>> {
  data: T;
  meta: { request_id: string } & M;
}

export interface ListPage<T> {
  data: T[];
  meta: { request_id: string; count: number; limit: number; next_cursor: string | null };
}

export function ok<T, M extends object = Record<never, never>>(req: FastifyRequest, data: T, extraMeta?: M): Envelope<T, M> {
  // request_id first for readers, and last so extraMeta can never replace it.
  return { data, meta: Object.assign({ request_id: req.id }, extraMeta, { request_id: req.id }) };
}

/** One page of a list; `count` is the number of items on this page, `next_cursor` null on the last. */
export function page<T>(req: FastifyRequest, items: T[], p: { limit: number; next_cursor: string | null }): ListPage<T> {
  return { data: items, meta: { request_id: req.id, count: items.length, limit: p.limit, next_cursor: p.next_cursor } };
}
