import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Runtime } from '../runtime.js';
import type { SafeHtml } from './html.js';
import type { SessionManager, UiSession } from './session.js';

/** What the UI's route groups share; built once by uiPlugin. */
export interface UiContext {
  runtime: Runtime;
  sessions: SessionManager;
  /** Asset URLs carry a content hash so they can be cached for good. */
  assets: { css: string; js: string };
  /** The session the guard of the protected routes found for a request. */
  sessionOf(req: FastifyRequest): UiSession | null;
  setSession(req: FastifyRequest, s: UiSession): void;
}

export function sendPage(reply: FastifyReply, status: number, body: SafeHtml): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(body.value);
}

/** A /ui/ path to return to after signing in; anything else (another host, `//evil`, `\`) is dropped. */
export function safeNext(value: unknown): string | null {
  return typeof value === 'string' && /^\/ui\/[\x21-\x7e]*$/.test(value) && !value.includes('\\') && !value.startsWith('/ui/log')
    ? value
    : null;
}
