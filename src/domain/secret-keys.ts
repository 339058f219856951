/**
 * Object keys whose values are secrets wherever they appear: the log redacts them, the operator UI hides
 * them. One list, so the two cannot disagree. Matched case-insensitively by `isSecretKey`.
 */
export const SECRET_KEYS = [
  'credentials',
  'password',
  'secret',
  'token',
  'callback_token',
  'api_key',
  'apikey',
  'private_key',
  'secret_key',
  'access_token',
  'refresh_token',
  'client_secret',
  'authorization',
] as const;

const SECRET_KEY_SET: ReadonlySet<string> = new Set(SECRET_KEYS);

export const isSecretKey = (key: string): boolean => SECRET_KEY_SET.has(key.toLowerCase());
