import type { FastifyInstance } from 'fastify';
import { parse as parseYaml } from 'yaml';
import { ValidationFailed } from '../domain/errors.js';

export const YAML_MEDIA_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml'];

/**
 * Lets the routes of one plugin scope take YAML bodies (manifests are written in YAML). The parsed
 * document is checked exactly like JSON; a YAML syntax error is a 422 naming the line.
 */
export function acceptYamlBodies(app: FastifyInstance): void {
  app.addContentTypeParser(YAML_MEDIA_TYPES, { parseAs: 'string' }, (_req, body, done) => {
    try {
      // Aliases are capped (yaml's default 100) so a "billion laughs" document cannot expand without bound.
      done(null, parseYaml(String(body), { maxAliasCount: 100 }) as unknown);
    } catch (e) {
      done(
        new ValidationFailed([
          {
            loc: ['body'],
            msg: `YAML decode error: ${(e as Error).message.split('\n')[0]}; send a valid YAML or JSON document`,
            type: 'yaml_invalid',
          },
        ]),
        undefined,
      );
    }
  });
}
