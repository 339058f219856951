/** Deepest nesting any JSON body may have (issue 11 finding 6): far above real manifests, parameters or metadata. */
export const MAX_JSON_DEPTH = 32;

/**
 * How deep `text` nests, scanning the raw text once without recursion (so a hostile body cannot overflow
 * the stack here), stopping as soon as it passes `max`. Returns the depth reached (max + 1 when over).
 */
export function jsonDepth(text: string, max = MAX_JSON_DEPTH): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > max) return deepest;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}
